"""What a list of runs costs before any of it trains: device-hours and wall time for N workers.

A run's cost is ``steps x step time``, ``steps`` being generator steps: each is ``n_dis``
discriminator updates then one generator update, so a run makes ``steps x n_dis`` discriminator
updates (compare_gan and Kurach et al. 2019 count those: 200k for CIFAR-10). The step time of each run comes, in this order, from
``step_time_s`` given (``configured``), from the run's own trace when a run with the same config
already exists (``measured: run``), or from timing a few steps of the config here (``measured
now``, once per distinct config up to its seed; nothing is written). The hours are GPU-hours for
runs on CUDA and CPU core-hours (hours x threads) otherwise. Wall time for N workers schedules the
runs longest first, each on the worker free soonest (a bound a real scheduler meets or beats by
at most the longest run).
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from repro import rundir
from repro.config import TrainConfig, diff
from repro.determinism import run_mode
from repro.errors import InputError
from repro.train.loop import Trainer, timed_step

DEFAULT_WORKERS = (1, 2, 4, 8, 16, 64)
MEASURE_WARMUP, MEASURE_STEPS = 1, 3  # a few steps: the plan is an estimate, and timing must not cost a run


@dataclass(frozen=True)
class RunCost:
    run_id: str
    steps: int
    step_time_s: float
    source: str  # configured | measured: run | measured now
    device: str  # cpu | cuda
    threads: int
    n_dis: int = 1  # discriminator updates per generator step

    @property
    def d_updates(self) -> int:
        return self.steps * self.n_dis

    @property
    def hours(self) -> float:
        return self.steps * self.step_time_s / 3600.0


def _device(cfg: TrainConfig) -> str:
    if cfg.device.startswith("cuda"):
        return "cuda"
    if cfg.device == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _from_run(cfg: TrainConfig, run_dir: Path | None) -> float | None:
    if run_dir is None or not (Path(run_dir) / rundir.CONFIG).exists():
        return None
    try:
        if diff(rundir.read_config(run_dir), cfg):
            return None
        t = rundir.read_run(run_dir).get("median_step_time_s")
    except ValueError:
        return None
    return float(t) if isinstance(t, (int, float)) and t > 0 else None


def measure_step_time(cfg: TrainConfig, *, warmup: int = MEASURE_WARMUP, steps: int = MEASURE_STEPS) -> float:
    """Median seconds of ``steps`` training steps of ``cfg`` after ``warmup`` (in this process, in
    the run's mode and thread count; no run directory is written)."""
    with run_mode(cfg):
        trainer = Trainer(cfg)
        times = [timed_step(trainer)[1] for _ in range(warmup + steps)]
    return statistics.median(times[warmup:])


def run_costs(runs: Iterable[tuple[str, TrainConfig]], *, step_time_s: float | None = None,
              run_dirs: dict[str, Path] | None = None, measure: bool = True) -> list[RunCost]:
    """One :class:`RunCost` per ``(run_id, config)``: the study's grid or an audit's plan alike."""
    measured: dict[TrainConfig, float] = {}
    out = []
    for run_id, cfg in runs:
        device = _device(cfg)
        threads = cfg.threads or __import__("torch").get_num_threads()
        if step_time_s is not None:
            t, source = float(step_time_s), "configured"
        elif (t := _from_run(cfg, (run_dirs or {}).get(run_id))) is not None:
            source = "measured: run"
        elif measure:
            key = cfg.replace(seed=0)  # the seed changes the numbers, not the time
            if key not in measured:
                measured[key] = measure_step_time(key)
            t, source = measured[key], "measured now"
        else:
            raise InputError(f"no step time for {run_id}: no run with its config exists; pass a step time")
        out.append(RunCost(run_id, cfg.steps, t, source, device, threads, cfg.n_dis))
    return out


def makespan_hours(hours: list[float], workers: int) -> float:
    """Wall hours for ``workers`` running the jobs longest first, each on the first free worker."""
    free = [0.0] * max(1, min(workers, len(hours) or 1))
    for h in sorted(hours, reverse=True):
        heapq.heapreplace(free, free[0] + h)
    return max(free) if hours else 0.0


def cost_model(costs: list[RunCost], workers: Iterable[int] = DEFAULT_WORKERS) -> dict[str, Any]:
    """Totals and wall times: ``{"runs", "steps", "d_updates", "gpu_hours", "cpu_core_hours", "run_hours",
    "sources", "wall_hours": {N: hours}}``."""
    hours = [c.hours for c in costs]
    return {
        "runs": len(costs),
        "steps": sum(c.steps for c in costs),  # generator steps
        "d_updates": sum(c.d_updates for c in costs),  # discriminator updates (compare_gan's count)
        "run_hours": sum(hours),
        "gpu_hours": sum(c.hours for c in costs if c.device == "cuda"),
        "cpu_core_hours": sum(c.hours * c.threads for c in costs if c.device == "cpu"),
        "sources": sorted({c.source for c in costs}),
        "wall_hours": {int(n): makespan_hours(hours, int(n)) for n in sorted(set(workers))},
    }


def _dur(hours: float) -> str:
    s = hours * 3600
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{hours:.1f} h"


def format_plan(costs: list[RunCost], model: dict[str, Any]) -> str:
    """The plan (one line per run) and the cost model, as printed by ``repro audit --plan-only``."""
    lines = [f"{'run':<44} {'device':>6} {'threads':>7} {'steps':>6} {'D upd':>7} {'step s':>8}  source"]
    for c in costs:
        lines.append(f"{c.run_id:<44} {c.device:>6} {c.threads:>7} {c.steps:>6} {c.d_updates:>7} "
                     f"{c.step_time_s:>8.4f}  {c.source}")
    lines += ["", f"runs: {model['runs']}, steps: {model['steps']} generator steps ({model['d_updates']} "
                  "discriminator updates, the count compare_gan uses), run time if one after another: "
                  f"{_dur(model['run_hours'])}",
              f"GPU-hours: {model['gpu_hours']:.3f}, CPU core-hours: {model['cpu_core_hours']:.3f} "
              f"(step times: {', '.join(model['sources'])})",
              "training steps only (evaluation, checkpoints and start-up not counted); wall time, longest run "
              "first on the first free worker: "
              + ", ".join(f"{n} worker{'s' if n > 1 else ''} {_dur(h)}" for n, h in model["wall_hours"].items())]
    return "\n".join(lines)
