"""What a study will cost before it runs: runs, generator steps, device-hours and wall time.

The totals come from the executor's cost model (:mod:`repro.executor.plan_cost`: hours = steps x
step time per run; wall time for N workers, longest run first). The step time is given, not
measured here (a study for a GPU is priced on any machine): ``step_time_1``, seconds per generator
step at n_dis = 1 on the target device (e.g. ``median_step_time_s`` of a run there), and per run
t(n_dis) = t(1) x (n_dis + 1) / 2 unless ``step_time_5`` (measured at n_dis 5) is given. Why
(n + 1) / 2: a generator step is n D updates and one G update, and each of those runs G forward
and D forward and backward once, so they cost about the same. Evaluation is not included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from repro.executor.plan_cost import cost_model, run_costs
from repro.study import runner
from repro.study.spec import StudySpec


@dataclass(frozen=True)
class Plan:
    runs: int
    trials: int
    seeds: int
    steps_per_run: int
    runs_by_ndis: dict[int, int]
    device_hours: float | None  # hours of one device (GPU-hours for runs on a GPU)
    wall_hours: dict[int, float] = field(default_factory=dict)  # workers -> hours (executor's model)
    step_time_1: float | None = None
    step_time_5: float | None = None
    model: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def step_time(n_dis: int, t1: float, t5: float | None = None) -> float:
    """Seconds per generator step at ``n_dis`` (see the module doc)."""
    if t5 is not None and n_dis == 5:
        return t5
    return t1 * (n_dis + 1) / 2.0


def _configs(spec: StudySpec):
    """(run id, config) of every run (Table 2: the trials' settings are not known yet, and do not
    change the step time: the variant's config stands for each)."""
    if spec.space == "table1":
        trials = runner.table1_trials(spec)
    else:
        trials = [runner.table2_trial(v, n, {}, 0) for v in spec.variants for n in range(spec.trials)]
    return [(f"{t.trial_id}/seed{s}", runner.config(spec, t, s)) for t in trials for s in spec.seeds], len(trials)


def plan(spec: StudySpec, *, step_time_1: float | None = None, step_time_5: float | None = None,
         workers: tuple[int, ...] = (1, 8, 64)) -> Plan:
    """Runs of ``spec`` and, given the step time at n_dis 1 (seconds), their hours."""
    runs, n_trials = _configs(spec)
    by_ndis = dict(sorted(Counter(cfg.n_dis for _, cfg in runs).items()))
    hours, wall = None, {}
    if step_time_1 is not None:
        costs = []
        for n in by_ndis:
            group = [(rid, cfg) for rid, cfg in runs if cfg.n_dis == n]
            costs += run_costs(group, step_time_s=step_time(n, step_time_1, step_time_5), measure=False)
        model = cost_model(costs, workers)
        hours = model["run_hours"]  # device-hours: GPU-hours when the runs go to a GPU
        wall = model["wall_hours"]
    text = ("repro.executor.plan_cost: runs x steps x t(n_dis); t(n) = t(1) (n + 1) / 2"
            + (", t(5) measured" if step_time_5 else "") + "; evaluation not included")
    return Plan(len(runs), n_trials, len(spec.seeds), spec.steps, by_ndis, hours, wall, step_time_1, step_time_5,
                text)


__all__ = ["Plan", "plan", "step_time"]
