"""What a study varies: the variants (presets), and the hyperparameter space (Table 1 or Table 2).

Table 1 (grid, :mod:`repro.hparams`): 24 named settings of lr, lambda (``penalty_weight``),
beta1, beta2 and n_dis. Table 2 (Kurach et al. 2019; docs/design.md, "Hyperparameters"): the ranges
sequential Bayesian optimisation searched, lr in [1e-5, 1e-2] (log), lambda in [1e-4, 10] (log)
for the L2 penalty and [0.1, 100] (log) for the others, beta1 and beta2 in [0, 1]. n_dis is not a
range of the search but a choice between searches: "As we explore the number of discriminator
updates per generator update (1 or 5), this leads to an additional 240 hyperparameter settings"
(Section 2.6), i.e. one search of 120 settings per n_dis value (``StudySpec.ndis``,
:mod:`repro.study.bo`). A variant without a penalty does not search lambda (it has no effect there).

A trial's ``fields`` are :class:`repro.config.TrainConfig` overrides applied after the preset.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from repro import hparams
from repro.errors import InputError
from repro.gan import presets
from repro.registry import suggest

SPACES = ("table1", "table2")
FACTORS = ("loss", "d_norm", "penalty", "architecture")  # the study's factors, as TrainConfig fields

# Table 2: (low, high, log scale)
LR_RANGE = (1e-5, 1e-2, True)
LAMBDA_RANGE_L2 = (1e-4, 1e1, True)
LAMBDA_RANGE = (1e-1, 1e2, True)
BETA_RANGE = (0.0, 1.0, False)
# Adam needs beta < 1 (torch raises "Invalid beta parameter at index ..." at 1.0), and the paper's
# closed range [0, 1] includes it: the upper end is 1 - 1e-4.
BETA_MAX = 1.0 - 1e-4


@dataclass(frozen=True)
class Setting:
    """A named hyperparameter setting: TrainConfig overrides, e.g. a Table 1 row."""

    name: str
    fields: Mapping[str, Any]


def table1(pattern: str | Iterable[str] = "*") -> list[Setting]:
    """The Table 1 settings whose names match ``pattern`` (a glob, or a list of names/globs), in
    :data:`repro.hparams.TABLE1` order. No match is a ``ValueError`` naming the 24 settings."""
    names = select(pattern, hparams.names(), "Table 1 setting", listing="repro.hparams.names()")
    return [Setting(n, hparams.fields(n)) for n in names]


def lambda_range(penalty: str) -> tuple[float, float, bool] | None:
    """Table 2's lambda range for ``penalty``; None for ``none`` (no lambda to search)."""
    if penalty == "none":
        return None
    return LAMBDA_RANGE_L2 if penalty == "l2" else LAMBDA_RANGE


def suggest_table2(trial, penalty: str) -> dict[str, Any]:
    """TrainConfig overrides drawn by an Optuna ``trial`` from Table 2's ranges for ``penalty``."""
    lo, hi, log = LR_RANGE
    out: dict[str, Any] = {"lr": trial.suggest_float("lr", lo, hi, log=log)}
    lam = lambda_range(penalty)
    if lam is not None:
        out["penalty_weight"] = trial.suggest_float("penalty_weight", lam[0], lam[1], log=lam[2])
    out["beta1"] = trial.suggest_float("beta1", BETA_RANGE[0], BETA_MAX)
    out["beta2"] = trial.suggest_float("beta2", BETA_RANGE[0], BETA_MAX)
    return out


def select(pattern: str | Iterable[str], names: Iterable[str], kind: str, *, listing: str = "") -> list[str]:
    """Names matching ``pattern``: a glob (``resnet_ns_*_none``), a comma-separated list, or a list
    of names/globs; order follows ``names``, each once. A pattern with no match is a ``ValueError``
    that names the pattern, close names, and what exists (all of it when short, else a count)."""
    names = list(names)
    patterns = [p.strip() for p in (pattern.split(",") if isinstance(pattern, str) else pattern)]
    patterns = [p for p in patterns if p]
    if not patterns:
        raise InputError(f"empty {kind} list: give at least one name or glob")
    chosen: set[str] = set()
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            close = suggest(pat.replace("*", "").replace("?", ""), names)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            shown = ", ".join(names) if len(names) <= 30 else f"{len(names)} names ({listing} lists them)"
            raise InputError(f"no {kind} matches {pat!r}{hint}; {kind}s that exist: {shown}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def variants(pattern: str | Iterable[str]) -> list[str]:
    """Presets matching ``pattern`` (see :func:`select`); unknown globs name what exists."""
    return select(pattern, presets.names(), "variant", listing="`repro variants`")


def factor_levels(variant: str) -> dict[str, Any]:
    """The study's factors of ``variant`` (loss, d_norm, penalty, architecture) and its ResNet flags."""
    cfg = presets.config_for(variant)
    out = {f: getattr(cfg, f) for f in FACTORS}
    out["flags"] = ",".join(cfg.flags) or "-"
    return out


__all__ = ["SPACES", "FACTORS", "Setting", "table1", "lambda_range", "suggest_table2", "select", "variants",
           "factor_levels", "LR_RANGE", "LAMBDA_RANGE", "LAMBDA_RANGE_L2", "BETA_RANGE", "BETA_MAX"]
