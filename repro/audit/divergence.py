"""Where two runs of the same seed part ways: first traced step, first tensors, distance curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from repro import rundir

MAX_TENSORS_LISTED = 20


def _traced_hashes(run_dir: Path) -> dict[int, str]:
    return {r["step"]: r["param_hash"] for r in rundir.read_trace(run_dir) if "param_hash" in r}


def _model_tensors(ckpt: dict) -> dict[str, torch.Tensor]:
    out = {}
    for net in ("generator", "discriminator"):
        for name, t in ckpt[net].items():
            if t.is_floating_point():
                out[f"{net}.{name}"] = t.double()
    return out


def relative_l2(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """||theta_a - theta_b||_2 / ||theta_a||_2 over every floating tensor of G and D."""
    diff = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)
    norm = sum(float((a[k] ** 2).sum()) for k in a)
    return math.sqrt(diff) / math.sqrt(norm) if norm > 0 else math.sqrt(diff)


def compare(run_a: str | Path, run_b: str | Path) -> dict[str, Any]:
    """Compare two run directories bit for bit.

    Returns ``identical`` (at least one traced step compared, every traced hash and the final
    hash equal: zero compared steps is no evidence, never "identical"), ``evidence`` (what the
    verdict rests on),
    ``first_divergent_step`` (first traced step whose full-state hash differs; ``None``
    when none does), ``checkpoint_step`` and ``first_divergent_tensors`` (the tensors whose
    hashes differ at the first checkpoint at or after that step, sorted by name) and
    ``rel_l2`` (``[[step, ||a - b|| / ||a||], ...]`` at every common checkpoint).
    """
    run_a, run_b = Path(run_a), Path(run_b)
    ha, hb = _traced_hashes(run_a), _traced_hashes(run_b)
    common = sorted(set(ha) & set(hb))
    first = next((s for s in common if ha[s] != hb[s]), None)
    rec_a, rec_b = rundir.read_run(run_a), rundir.read_run(run_b)
    final_equal = rec_a.get("final_param_hash") is not None and rec_a.get("final_param_hash") == rec_b.get(
        "final_param_hash")
    ckpts = sorted(set(rundir.checkpoint_steps(run_a)) & set(rundir.checkpoint_steps(run_b)))
    tensors: list[str] = []
    n_tensors = 0
    at_step = None
    for step in ckpts:
        if first is not None and step < first:
            continue
        da, db = rundir.read_hashes(run_a, step), rundir.read_hashes(run_b, step)
        differing = [k for k in da if da[k] != db.get(k)]
        if differing:
            at_step, n_tensors = step, len(differing)
            tensors = differing[:MAX_TENSORS_LISTED]
            if first is None:  # traced hashes too sparse to see it: the checkpoint bounds it
                first = step
            break
    curve = []
    for step in ckpts:
        a = _model_tensors(rundir.load_checkpoint(run_a, step))
        b = _model_tensors(rundir.load_checkpoint(run_b, step))
        curve.append([step, relative_l2(a, b)])
    if not common:
        evidence = "no traced step in common: nothing was compared"
    else:
        evidence = f"{len(common)} traced step(s) compared" + ("" if final_equal else "; final hashes differ or missing")
    return {
        "identical": bool(common) and first is None and final_equal,
        "evidence": evidence,
        "first_divergent_step": first,
        "checkpoint_step": at_step,
        "first_divergent_tensors": tensors,
        "n_divergent_tensors": n_tensors,
        "traced_steps_compared": len(common),
        "rel_l2": curve,
    }
