"""Table 2: Bayesian optimisation of FID with Optuna's Gaussian-process sampler, in rounds.

The study (Kurach et al. 2019, Table 2) searched 120 settings in 12 rounds of
parallel trials. Here each variant gets an Optuna study named after it, stored in the study
directory's ``optuna.journal`` (Optuna's journal storage: an append-only log of every ask and
tell), so the sampler's whole state, the trials and their FIDs, survives an interruption.

A round of ``k`` parallel trials is proposed with the *constant liar* heuristic (Ginsbourger et
al. 2010): an in-memory copy of the study receives the finished trials, then asks ``k`` times,
telling each proposal the mean FID of the finished trials so that the next one moves elsewhere.
The proposals are then enqueued in the stored study and started. The copy's sampler is seeded
with (``sampler_seed``, round), so a round proposes the same settings whether or not the study
was interrupted before it. The first round is random (``n_startup_trials`` = the round size), as
a GP needs data.

On resume, trials the journal holds as started but not told (``RUNNING``, or ``WAITING`` when
the process died between enqueue and ask) are finished first: their runs resume from their
checkpoints or are read back when finished.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from typing import Any

from repro.errors import InputError
from repro.study import space

JOURNAL = "optuna.journal"


def _optuna():
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError("--space table2 needs Optuna: pip install 'repro[study]'") from exc
    optuna.logging.set_verbosity(logging.WARNING)
    return optuna


def storage(out: Path):
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(out / JOURNAL)))


def open_study(out: Path, variant: str):
    """The stored Optuna study of ``variant`` (created on first use)."""
    optuna = _optuna()
    return optuna.create_study(study_name=variant, storage=storage(out), direction="minimize",
                               load_if_exists=True)


def _sampler(seed: int, round_index: int, n_startup: int):
    optuna = _optuna()
    return optuna.samplers.GPSampler(seed=seed * 100_003 + round_index, n_startup_trials=n_startup,
                                     warn_independent_sampling=False)


def finished(study) -> list:
    optuna = _optuna()
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False) if t.state in done]


def unfinished(study, penalty: str) -> list[tuple[int, dict[str, Any], int]]:
    """(number, params, round) of trials started but not told; WAITING ones are started now."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    while any(t.state == states.WAITING for t in study.get_trials(deepcopy=False)):
        trial = study.ask()
        space.suggest_table2(trial, penalty)
    return [(t.number, dict(t.params), int(t.user_attrs.get("round", 0)))
            for t in study.get_trials(deepcopy=False) if t.state == states.RUNNING]


def propose(study, penalty: str, k: int, *, seed: int, round_index: int, n_startup: int) -> list[dict[str, Any]]:
    """``k`` settings for the next round (constant liar over an in-memory copy, see the module doc)."""
    optuna = _optuna()
    done = [t for t in finished(study) if t.state == optuna.trial.TrialState.COMPLETE]
    copy = optuna.create_study(direction="minimize", sampler=_sampler(seed, round_index, n_startup))
    copy.add_trials(done)
    lie = statistics.fmean(t.value for t in done) if done else 0.0
    proposals = []
    for _ in range(k):
        trial = copy.ask()
        space.suggest_table2(trial, penalty)
        copy.tell(trial, lie)
        proposals.append(dict(trial.params))
    return proposals


def start(study, params: dict[str, Any], penalty: str, round_index: int) -> int:
    """Enqueue and start a trial with ``params``; returns its number."""
    study.enqueue_trial(params, user_attrs={"round": round_index})
    trial = study.ask()
    space.suggest_table2(trial, penalty)
    return trial.number


def tell(study, number: int, value: float | None) -> None:
    """Record a trial's objective; None (no run of it produced a FID) marks it failed."""
    optuna = _optuna()
    if value is None:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(number, value)


__all__ = ["JOURNAL", "storage", "open_study", "finished", "unfinished", "propose", "start", "tell"]
