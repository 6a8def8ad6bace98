"""The cost of determinism: step times and wall time, deterministic vs nondeterministic."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from repro.train import rundir

WARMUP_STEPS = 1  # the first step of a session pays for allocation and kernel selection


def step_times(run_dir: str | Path) -> list[float]:
    rows = [r for r in rundir.read_trace(run_dir) if "step_time_s" in r]
    return [r["step_time_s"] for r in rows[WARMUP_STEPS:]]


def cost(runs: list[dict[str, Any]], run_dirs: dict[str, Path], variant: str, seed: int) -> dict[str, Any]:
    """Median step time per mode, spread, ratio and total wall time per mode.

    Pooled over the variant's unperturbed replicates of the main ``seed`` only, so that both
    modes count the same runs (extra-seed runs are deterministic and would tilt the wall times).
    """
    out: dict[str, Any] = {}
    for mode, key in (("deterministic", "det"), ("nondeterministic", "nondet")):
        rows = [r for r in runs if r["variant"] == variant and r["mode"] == mode and r["perturb"] is None
                and r["seed"] == seed and r["status"] in ("completed", "diverged")]
        times = [t for r in rows for t in step_times(run_dirs[r["id"]])]
        if times:
            q1, q3 = np.percentile(times, [25, 75])
            out[f"{key}_median_step_s"] = statistics.median(times)
            out[f"{key}_iqr_s"] = [float(q1), float(q3)]
        else:
            out[f"{key}_median_step_s"] = None
            out[f"{key}_iqr_s"] = None
        out[f"{key}_wall_s"] = sum(r.get("wall_time_s") or 0.0 for r in rows)
        out[f"{key}_steps_timed"] = len(times)
    if out["det_median_step_s"] and out["nondet_median_step_s"]:
        out["ratio"] = out["det_median_step_s"] / out["nondet_median_step_s"]
    else:
        out["ratio"] = None
    return out
