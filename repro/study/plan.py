"""What a study will cost before it runs: runs, generator steps, and device-hours from a measured step time.

Cost model (stated, not fitted): a run of S generator steps with n_dis discriminator updates per
step costs S x t(n_dis), where t(1) is a step time measured at n_dis = 1 on the target device
(e.g. ``median_step_time_s`` of a run, or ``benchmarks/gpu_step.py``), and
t(n) = t(1) x (n + 1) / 2 unless t(5) was measured too: a generator step is one D update and one
G update, each of which runs G forward and D forward and backward once, so both cost about the
same; a step with n D updates is then n + 1 such halves. Evaluation is not included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from repro.study import runner
from repro.study.spec import StudySpec


@dataclass(frozen=True)
class Plan:
    runs: int
    trials: int
    seeds: int
    steps_per_run: int
    runs_by_ndis: dict[int, int]
    device_hours: float | None
    step_time_1: float | None
    step_time_5: float | None
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def step_time(n_dis: int, t1: float, t5: float | None = None) -> float:
    """Seconds per generator step at ``n_dis`` (see the module doc)."""
    if t5 is not None and n_dis == 5:
        return t5
    return t1 * (n_dis + 1) / 2.0


def plan(spec: StudySpec, *, step_time_1: float | None = None, step_time_5: float | None = None) -> Plan:
    """Runs of ``spec`` and, given the step time at n_dis 1 (seconds), its device-hours."""
    if spec.space == "table1":
        trials = runner.table1_trials(spec)
        ndis = Counter(runner.config(spec, t, spec.seeds[0]).n_dis for t in trials)
    else:
        trials = [None] * (spec.trials * len(spec.variants))
        ndis = Counter({runner.config(spec, runner.table2_trial(v, 0, {}, 0), spec.seeds[0]).n_dis: spec.trials
                        for v in spec.variants})
    seeds = len(spec.seeds)
    by_ndis = {n: c * seeds for n, c in sorted(ndis.items())}
    hours = None
    if step_time_1 is not None:
        hours = sum(c * spec.steps * step_time(n, step_time_1, step_time_5) for n, c in by_ndis.items()) / 3600.0
    model = ("runs x steps x t(n_dis); t(n) = t(1) (n + 1) / 2" + (", t(5) measured" if step_time_5 else "")
             + "; evaluation not included")
    return Plan(len(trials) * seeds, len(trials), seeds, spec.steps, by_ndis, hours, step_time_1, step_time_5, model)


__all__ = ["Plan", "plan", "step_time"]
