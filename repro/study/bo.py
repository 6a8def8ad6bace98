"""Table 2: Bayesian optimisation of FID with Optuna's Gaussian-process sampler, in rounds.

The study (Kurach et al. 2019, Section 2.6) "run[s] 12 rounds (i.e. we communicate with the oracle
12 times) of sequential optimization, each with a batch of 10 hyperparameter sets", and "as we
explore the number of discriminator updates per generator update (1 or 5), this leads to an
additional 240 hyperparameter settings": one search of 120 settings per n_dis value. Here each
(variant, n_dis) gets an Optuna study of its own (:func:`study_name`), stored in the study
directory's ``optuna.journal`` (Optuna's journal storage: an append-only log of every ask and
tell), so the sampler's whole state, the trials and their FIDs, survives an interruption.

A round of ``k`` parallel trials is asked of the stored study one after another, before any of
them is trained: when trial i of a round is asked, the round's trials 0..i-1 are ``RUNNING``, and
GPSampler (Optuna >= 4.x) takes running trials as pending points of a q-batch acquisition (qLogEI:
log expected improvement integrated over the pending points' outcomes under the GP posterior). A
hand-written constant liar (telling an in-memory copy the mean FID for each proposal, Ginsbourger
et al. 2010) was used before: it proposes different batches (it refits the GP, length scales and
noise included, on invented values, and counts the lies as finished trials), so it was replaced
by the sampler's own rule, which needs no copy of the study and records each proposal in the
journal as it is made. Each ask gets a sampler seeded with (``sampler_seed``, round, index in the
round), so a round proposes the same settings whether or not the study was interrupted before or
during it. The first round is random (``n_startup_trials`` = the round size), as a GP needs data.

On resume, the current round's missing asks are made first (with the same pending trials as an
uninterrupted run), then its unfinished trials are trained (their runs resume from their
checkpoints, or are read back when finished). A trial an older journal holds as ``WAITING``
(enqueued by the constant-liar code, never asked) is started first.
"""

from __future__ import annotations

import logging
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


def study_name(variant: str, n_dis: int | None = None) -> str:
    """The Optuna study of ``variant`` searching at ``n_dis`` (None: the variant's own n_dis)."""
    return variant if n_dis is None else f"{variant}__ndis{n_dis}"


def open_study(out: Path, variant: str, n_dis: int | None = None):
    """The stored Optuna study of ``variant`` at ``n_dis`` (created on first use)."""
    optuna = _optuna()
    return optuna.create_study(study_name=study_name(variant, n_dis), storage=storage(out), direction="minimize",
                               load_if_exists=True)


def _sampler(seed: int, round_index: int, index: int, round_size: int):
    """The sampler of one ask: random until a first round is told (a GP needs data), then the GP."""
    optuna = _optuna()
    return optuna.samplers.GPSampler(seed=seed * 100_003 + round_index * 1_009 + index, n_startup_trials=round_size,
                                     warn_independent_sampling=False)


def finished(study) -> list:
    optuna = _optuna()
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return [t for t in study.get_trials(deepcopy=False) if t.state in done]


def start_waiting(study, penalty: str) -> None:
    """Start the trials an older journal left enqueued but never asked."""
    optuna = _optuna()
    while any(t.state == optuna.trial.TrialState.WAITING for t in study.get_trials(deepcopy=False)):
        trial = study.ask()
        space.suggest_table2(trial, penalty)


def ask_round(study, penalty: str, round_index: int, upto: int, *, seed: int, round_size: int) -> None:
    """Ask trials of round ``round_index`` until the study holds ``upto`` trials (a round's trials
    are asked before any is told: the earlier ones are pending points for the later ones)."""
    while (n := len(study.get_trials(deepcopy=False))) < upto:
        study.sampler = _sampler(seed, round_index, n - round_index * round_size, round_size)
        trial = study.ask()
        space.suggest_table2(trial, penalty)
        trial.set_user_attr("round", round_index)


def unfinished(study) -> list[tuple[int, dict[str, Any], int]]:
    """(number, params, round) of the trials asked but not told."""
    optuna = _optuna()
    return [(t.number, dict(t.params), int(t.user_attrs.get("round", 0)))
            for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
            if t.state == optuna.trial.TrialState.RUNNING]


def tell(study, number: int, value: float | None) -> None:
    """Record a trial's objective; None (no run of it produced a FID) marks it failed."""
    optuna = _optuna()
    if value is None:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(number, value)


__all__ = ["JOURNAL", "storage", "study_name", "open_study", "finished", "start_waiting", "ask_round", "unfinished",
           "tell"]
