"""The cost of determinism: per-run step times, and an interleaved measurement the gate checks.

Per-run step times (``det_median_step_s`` ...) come from runs trained one after another, so a
change of machine load between runs moves their ratio (the same audit gave 1.11 and 1.73 on a
loaded 2-core CPU). :func:`interleaved` measures the ratio the gate checks instead: one model,
one process, deterministic and nondeterministic steps alternating, so both modes see the same
load; its interval comes from a bootstrap over step pairs.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Callable

import numpy as np

from repro import rundir
from repro.audit.schema import Cost, Interleaved, RunRow
from repro.determinism import run_mode
from repro.errors import InputError
from repro.train.loop import Diverged, Trainer, timed_step

WARMUP_STEPS = 1  # the first step of a session pays for allocation and kernel selection
MODES = ("deterministic", "nondeterministic")
DEFAULT_PAIRS = 24  # timed (det, nondet) pairs: a few dozen steps on the audit's primary config
DEFAULT_WARMUP_PAIRS = 2  # untimed pairs first: allocation, cuDNN autotuning in the nondet mode
N_BOOT = 2000
CONFIDENCE = 0.95


def step_times(run_dir: str | Path) -> list[float]:
    rows = [r for r in rundir.read_trace(run_dir) if "step_time_s" in r]
    return [r["step_time_s"] for r in rows[WARMUP_STEPS:]]


def cost(runs: list[RunRow], run_dirs: dict[str, Path], variant: str, seed: int,
         interleaved: Interleaved | None = None) -> Cost:
    """Median step time per mode, spread, ratio and total wall time per mode, beside the
    ``interleaved`` measurement.

    Pooled over the variant's unperturbed replicates of the main ``seed`` only, so that both
    modes count the same runs (extra-seed runs are deterministic and would tilt the wall times).
    """
    per_mode = {}
    for mode in MODES:
        rows = [r for r in runs if r.variant == variant and r.mode == mode and r.perturb is None
                and r.seed == seed and r.status in ("completed", "diverged")]
        times = [t for r in rows for t in step_times(run_dirs[r.id])]
        iqr = [float(q) for q in np.percentile(times, [25, 75])] if times else None
        per_mode[mode] = (statistics.median(times) if times else None, iqr,
                          sum(r.wall_time_s or 0.0 for r in rows), len(times))
    (det, det_iqr, det_wall, det_n), (nondet, nondet_iqr, nondet_wall, nondet_n) = per_mode.values()
    return Cost(ratio=det / nondet if det and nondet else None, det_median_step_s=det, nondet_median_step_s=nondet,
                det_iqr_s=det_iqr, nondet_iqr_s=nondet_iqr, det_wall_s=det_wall, nondet_wall_s=nondet_wall,
                det_steps_timed=det_n, nondet_steps_timed=nondet_n, interleaved=interleaved)


def ratio_interval(det: list[float], nondet: list[float], *, n_boot: int = N_BOOT,
                   confidence: float = CONFIDENCE, seed: int = 0) -> dict[str, Any]:
    """Ratio of medians ``median(det) / median(nondet)`` of paired step times (seconds), with a
    percentile bootstrap interval that resamples whole pairs (a pair shares the machine's load).

    Returns ``{ratio, ci_low, ci_high, pairs, confidence, det_median_step_s, nondet_median_step_s}``.
    """
    if len(det) != len(nondet):
        raise InputError(f"paired step times needed: {len(det)} deterministic vs {len(nondet)} nondeterministic")
    if len(det) < 2:
        raise InputError(f"at least 2 step pairs are needed for an interval, got {len(det)}")
    d, n = np.asarray(det, dtype=np.float64), np.asarray(nondet, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    boot = np.median(d[idx], axis=1) / np.median(n[idx], axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return {"ratio": float(np.median(d) / np.median(n)), "ci_low": float(low), "ci_high": float(high),
            "pairs": len(d), "confidence": confidence, "det_median_step_s": float(np.median(d)),
            "nondet_median_step_s": float(np.median(n))}


def measure_pairs(step: Callable[[str], float], *, pairs: int = DEFAULT_PAIRS,
                  warmup: int = DEFAULT_WARMUP_PAIRS) -> tuple[list[float], list[float]]:
    """Alternate ``step(mode) -> seconds`` between the two modes; return the timed (det, nondet) lists.

    The order inside a pair alternates (det-nondet, then nondet-det, ...), so a load that rises
    or falls steadily during the measurement adds the same to both modes. ``warmup`` untimed
    pairs run first.
    """
    if pairs < 2 or warmup < 0:
        raise InputError(f"invalid pairs={pairs} / warmup={warmup}: need pairs >= 2 and warmup >= 0")
    for _ in range(warmup):
        for mode in MODES:
            step(mode)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for i in range(pairs):
        for mode in (MODES if i % 2 == 0 else MODES[::-1]):
            times[mode].append(step(mode))
    return times["deterministic"], times["nondeterministic"]


def interleaved(cfg, *, pairs: int = DEFAULT_PAIRS, warmup: int = DEFAULT_WARMUP_PAIRS) -> dict[str, Any]:
    """Measure det/nondet step time on one model of ``cfg`` (a TrainConfig) in this process.

    Each step runs inside :func:`repro.determinism.run_mode` of its mode (the model, data
    and optimiser carry over, as in one training run whose mode is toggled every step). Returns
    :func:`ratio_interval`'s dict plus ``warmup``, ``order`` and ``device``; a step that diverges
    ends the measurement: ``ratio``, ``ci_low`` and ``ci_high`` are ``None`` and ``diverged`` says why.
    """
    with run_mode(cfg, "deterministic"):
        trainer = Trainer(cfg)

    def step(mode: str) -> float:  # the run's threads and fill_uninitialized_memory, in either mode
        with run_mode(cfg, mode):
            return timed_step(trainer)[1]

    info = {"warmup": warmup, "order": "alternating det-nondet / nondet-det pairs, one model, one process",
            "device": str(trainer.device)}
    try:
        det, nondet = measure_pairs(step, pairs=pairs, warmup=warmup)
    except Diverged as exc:
        return {"ratio": None, "ci_low": None, "ci_high": None, "pairs": 0, **info,
                "diverged": f"{exc}"}
    return {**ratio_interval(det, nondet), **info}
