"""What a study will cost before it runs: runs, steps in both counts, device-hours and wall time.

Two counts of a run's length, both reported: repro counts generator steps (``--steps``), each
``n_dis`` discriminator updates then one generator update; compare_gan and Kurach et al. 2019
count discriminator updates (Section 2.6: "We use a fixed the number of discriminator update steps
of 100K for LSUN-BEDROOM dataset and CELEBA-HQ-128 dataset, and 200K for CIFAR10 dataset"), which a
study sets with ``d_steps`` (``--d-steps``). 200k discriminator updates are 200k generator steps at
n_dis 1 and 40k at n_dis 5.

The totals come from the executor's cost model (:mod:`repro.executor.plan_cost`: hours = generator
steps x step time per run; wall time for N workers, longest run first). The step time is given,
not measured here (a study for a GPU is priced on any machine): ``step_time_1``, seconds per
generator step at n_dis = 1 on the target device (e.g. ``median_step_time_s`` of a run there), and
per run t(n_dis) = t(1) x (n_dis + 1) / 2 unless ``step_time_5`` (measured at n_dis 5) is given.
Why (n + 1) / 2: a generator step is n D updates and one G update, and each of those runs G
forward and D forward and backward once, so they cost about the same. Evaluation is not included.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from repro.executor.plan_cost import cost_model, run_costs
from repro.study import runner
from repro.study.spec import StudySpec

COUNTS = ("generator steps: repro's --steps; each is n_dis discriminator updates then one generator update. "
          "discriminator updates: compare_gan's and the paper's count (--d-steps; 200k on CIFAR-10).")


@dataclass(frozen=True)
class Plan:
    runs: int
    trials: int
    seeds: int
    steps_per_run: int  # --steps (generator steps); 0 when d_steps sets the length
    runs_by_ndis: dict[int, int]
    device_hours: float | None  # hours of one device (GPU-hours for runs on a GPU)
    wall_hours: dict[int, float] = field(default_factory=dict)  # workers -> hours (executor's model)
    step_time_1: float | None = None
    step_time_5: float | None = None
    model: str = ""
    d_steps_per_run: int = 0  # --d-steps (discriminator updates); 0 when steps sets the length
    # n_dis -> {runs, generator_steps_per_run, d_updates_per_run, step_time_s, device_hours}
    by_ndis: dict[int, dict] = field(default_factory=dict)
    generator_steps: int = 0  # over all runs
    d_updates: int = 0  # over all runs
    counts: str = COUNTS

    def to_dict(self) -> dict:
        return asdict(self)


def step_time(n_dis: int, t1: float, t5: float | None = None) -> float:
    """Seconds per generator step at ``n_dis`` (see the module doc)."""
    if t5 is not None and n_dis == 5:
        return t5
    return t1 * (n_dis + 1) / 2.0


def _configs(spec: StudySpec):
    """(run id, config) of every run (Table 2: the trials' settings are not known yet, and do not
    change the step time: the variant's config at each searched n_dis stands for each)."""
    if spec.space == "table1":
        trials = runner.table1_trials(spec)
    else:
        trials = [runner.table2_trial(v, n, {}, 0, n_dis) for v in spec.variants for n_dis in runner.ndis_values(spec, v)
                  for n in range(spec.trials)]
    return [(f"{t.trial_id}/seed{s}", runner.config(spec, t, s)) for t in trials for s in spec.seeds], len(trials)


def plan(spec: StudySpec, *, step_time_1: float | None = None, step_time_5: float | None = None,
         workers: tuple[int, ...] = (1, 8, 64)) -> Plan:
    """Runs of ``spec`` and, given the step time at n_dis 1 (seconds), their hours."""
    runs, n_trials = _configs(spec)
    by_ndis = dict(sorted(Counter(cfg.n_dis for _, cfg in runs).items()))
    hours, wall, rows = None, {}, {}
    costs = []
    for n in by_ndis:
        group = [(rid, cfg) for rid, cfg in runs if cfg.n_dis == n]
        steps = sorted({cfg.steps for _, cfg in group})
        rows[n] = {"runs": len(group), "generator_steps_per_run": steps[0] if len(steps) == 1 else steps,
                   "d_updates_per_run": steps[0] * n if len(steps) == 1 else [s * n for s in steps],
                   "step_time_s": None, "device_hours": None}
        if step_time_1 is not None:
            t = step_time(n, step_time_1, step_time_5)
            group_costs = run_costs(group, step_time_s=t, measure=False)
            rows[n].update(step_time_s=t, device_hours=sum(c.hours for c in group_costs))
            costs += group_costs
    if step_time_1 is not None:
        model = cost_model(costs, workers)
        hours = model["run_hours"]  # device-hours: GPU-hours when the runs go to a GPU
        wall = model["wall_hours"]
    text = ("repro.executor.plan_cost: runs x generator steps x t(n_dis); t(n) = t(1) (n + 1) / 2"
            + (", t(5) measured" if step_time_5 else "") + "; evaluation not included")
    return Plan(len(runs), n_trials, len(spec.seeds), spec.steps, by_ndis, hours, wall, step_time_1, step_time_5,
                text, spec.d_steps, rows, sum(cfg.steps for _, cfg in runs), sum(cfg.steps * cfg.n_dis for _, cfg in runs))


__all__ = ["COUNTS", "Plan", "plan", "step_time"]
