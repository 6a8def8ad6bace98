"""Run a study: every (variant, setting, seed) trained and scored through the executor, resumably.

Resumption needs no bookkeeping beyond the directories: a run whose ``run.json`` says completed
or diverged is not trained again, a completed run with ``metrics.json`` is not scored again, and
an interrupted run resumes from its last checkpoint (``train(..., resume=True)``). Table 2's
sampler state is Optuna's journal (:mod:`repro.study.bo`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from repro import lock, rundir
from repro.errors import InputError
from repro.executor import EvalTask, TrainTask, describe
from repro.gan import presets
from repro.study import bo, results, space
from repro.study.results import Trial
from repro.study.spec import StudySpec, write_or_check

log = logging.getLogger(__name__)


def config(spec: StudySpec, trial: Trial, seed: int):
    """The TrainConfig of one run: preset, then the trial's setting, then the study's options; its
    generator steps follow from the study's budget and the run's n_dis (:meth:`StudySpec.generator_steps`)."""
    cfg = presets.config_for(trial.variant, **trial.fields, **dict(spec.overrides), dataset=spec.dataset, seed=seed)
    return cfg.replace(steps=spec.generator_steps(cfg.n_dis))


def table1_trials(spec: StudySpec) -> list[Trial]:
    settings = space.table1(spec.settings)
    return [Trial(f"{v}__{s.name}", v, s.name, dict(s.fields)) for v in spec.variants for s in settings]


def ndis_values(spec: StudySpec, variant: str) -> tuple[int | None, ...]:
    """The n_dis values a Table 2 study searches for ``variant`` (None: the variant's own, one search)."""
    return tuple(spec.ndis) or (None,)


def table2_trial(variant: str, number: int, params: dict[str, Any], round_index: int,
                 n_dis: int | None = None) -> Trial:
    """Trial ``number`` of the Bayesian optimisation of ``variant`` at ``n_dis`` (None: the variant's own)."""
    if n_dis is None:
        return Trial(f"{variant}__bo{number:03d}", variant, f"bo{number:03d}", {**params, "hparams": ""}, round_index)
    name = f"ndis{n_dis}_bo{number:03d}"
    return Trial(f"{variant}__{name}", variant, name, {**params, "n_dis": n_dis, "hparams": ""}, round_index)


def check(spec: StudySpec) -> None:
    """Bad input before anything is written: unknown variants, an empty space, invalid configs."""
    space.variants(list(spec.variants))  # names what exists for an unknown variant
    if spec.space == "table1":
        trials = table1_trials(spec)
        if not trials:
            raise InputError("the study's space is empty: no (variant, setting) pair to train")
        for t in trials:
            config(spec, t, spec.seeds[0])  # validates every field
    else:
        for v in spec.variants:
            for n_dis in ndis_values(spec, v):
                config(spec, table2_trial(v, 0, {}, 0, n_dis), spec.seeds[0])


def train_and_score(spec: StudySpec, out: Path, trials: Sequence[Trial], executor) -> None:
    """Train every run of ``trials`` that has not finished, then score every completed unscored run."""
    todo = []
    for t in trials:
        for seed in spec.seeds:
            d = t.run_dir(out, seed)
            status = results.run_row(out, t, seed)["status"]
            if status in ("completed", "diverged"):
                continue
            todo.append(TrainTask(run_id=f"{t.trial_id}/seed{seed}", config=config(spec, t, seed), run_dir=d,
                                  resume=True, force=False,
                                  meta={"variant": t.variant, "study_trial": t.trial_id, "setting": t.setting}))
    if todo:
        log.info(f"training {len(todo)} run(s)")
        executor.train(todo, on_done=lambda t, record: log.info(f"{t.run_id}: {describe(record)}"))
    evals = []
    for t in trials:
        for seed in spec.seeds:
            d = t.run_dir(out, seed)
            row = results.run_row(out, t, seed)
            if row["status"] == "completed" and not (d / rundir.METRICS).exists():
                evals.append(EvalTask(run_id=f"{t.trial_id}/seed{seed}", run_dir=d, out=d / rundir.METRICS,
                                      settings={"eval_seeds": spec.eval_seeds, "n_boot": spec.n_boot}))
    if evals:
        log.info(f"scoring {len(evals)} run(s)")
        executor.evaluate(evals, on_done=lambda t, m: log.info(f"{t.run_id}: FID {m['fid']:.4g}"))


def run_study(spec: StudySpec, out: str | Path, executor, *,
              on_round: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the study ``spec`` in ``out``; returns ``results.json``'s content."""
    out = Path(out)
    check(spec)
    out.mkdir(parents=True, exist_ok=True)
    with lock.writing(out, "study directory"):
        write_or_check(spec, out)
        if spec.space == "table1":
            trials = table1_trials(spec)
            train_and_score(spec, out, trials, executor)
        else:
            trials = _bayesian(spec, out, executor, on_round)
        return results.write(out, spec.to_dict(), trials)


def _objective(out: Path, spec: StudySpec, trial: Trial, worst: float | None) -> float | None:
    rows = [results.run_row(out, trial, s) for s in spec.seeds]
    return results.trial_rows([trial], rows, worst)[0]["fid"]


def _bayesian(spec: StudySpec, out: Path, executor, on_round) -> list[Trial]:
    streams = [(v, n) for v in spec.variants for n in ndis_values(spec, v)]
    studies = {s: bo.open_study(out, *s) for s in streams}
    penalty = {v: presets.config_for(v).penalty for v in spec.variants}

    def all_trials() -> list[Trial]:
        got = []
        for (v, n_dis), st in studies.items():
            for t in sorted(st.get_trials(deepcopy=False), key=lambda t: t.number):
                got.append(table2_trial(v, t.number, dict(t.params), int(t.user_attrs.get("round", 0)), n_dis))
        return got

    def finish(batch: list[tuple[tuple, int, Trial]]) -> None:
        train_and_score(spec, out, [t for _, _, t in batch], executor)
        everything = all_trials()
        worst = results.worst_fid(results.run_row(out, t, s) for t in everything for s in spec.seeds)
        for stream, number, t in batch:
            bo.tell(studies[stream], number, _objective(out, spec, t, worst))

    for (v, _), st in studies.items():
        bo.start_waiting(st, penalty[v])  # a journal of the constant-liar code may hold enqueued trials
    size = spec.round_size
    for round_index in range(-(-spec.trials // size)):
        batch = []
        for stream, st in studies.items():
            v, n_dis = stream
            bo.ask_round(st, penalty[v], round_index, min((round_index + 1) * size, spec.trials),
                         seed=spec.sampler_seed, round_size=size)
            batch += [(stream, number, table2_trial(v, number, params, r, n_dis))
                      for number, params, r in bo.unfinished(st)]
        if not batch:
            continue  # told before an interruption: nothing to redo
        log.info(f"round {round_index + 1}/{spec.rounds}: {len(batch)} trial(s)")
        finish(batch)
        if on_round:
            on_round(round_index)
    return all_trials()


__all__ = ["config", "table1_trials", "ndis_values", "table2_trial", "check", "train_and_score", "run_study"]
