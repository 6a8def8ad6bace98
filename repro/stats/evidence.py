"""Independent evidence from an audit's runs: bit-identical runs collapse, seeds are the unit.

A run row (see :mod:`repro.audit.schema`) carries ``variant``, ``mode``, ``seed``, ``replicate``,
``perturb``, ``status``, ``final_param_hash``, ``fid`` and optionally ``fid_eval_values`` (FID
under each evaluation seed). Runs of one seed with the same final parameter hash are the same
model: one observation, however many times it was trained. A seed's observation is its
deterministic replicate 0 (the default) or the mean over its distinct nondeterministic replicates,
and a run's FID is the mean over its evaluation seeds where several were used.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from repro.errors import InputError

PER_SEED = ("deterministic", "nondeterministic-mean")


@dataclass(frozen=True)
class DistinctRun:
    """One distinct model: the ids of the runs that produced it bit for bit, and its FIDs."""

    ids: tuple[str, ...]
    modes: tuple[str, ...]
    final_param_hash: str | None
    eval_values: tuple[float, ...]  # FID per evaluation seed (one value if only one was used)

    @property
    def fid(self) -> float:
        return statistics.fmean(self.eval_values)

    @property
    def label(self) -> str:
        """``"2 runs, identical"`` or ``"1 run"``."""
        return f"{len(self.ids)} runs, identical" if len(self.ids) > 1 else "1 run"


@dataclass(frozen=True)
class SeedEvidence:
    """The observation one independent seed contributes, and the distinct runs behind it."""

    seed: int
    value: float
    source: str  # how ``value`` was formed, in words
    runs: tuple[DistinctRun, ...]
    used: tuple[DistinctRun, ...] = ()  # the distinct runs whose FIDs formed ``value``


def run_fid_values(row: Mapping[str, Any]) -> tuple[float, ...]:
    values = row.get("fid_eval_values")
    if values:
        return tuple(float(v) for v in values)
    return (float(row["fid"]),)


def distinct_runs(rows: Iterable[Mapping[str, Any]]) -> list[DistinctRun]:
    """Group rows of one seed by final parameter hash (rows without a hash stay apart), in order."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows):
        key = row.get("final_param_hash") or ("no-hash", i)
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        out.append(DistinctRun(tuple(r["id"] for r in members), tuple(dict.fromkeys(r["mode"] for r in members)),
                               first.get("final_param_hash"), run_fid_values(first)))
    return out


def usable(row: Mapping[str, Any]) -> bool:
    return row.get("status") == "completed" and row.get("fid") is not None and row.get("perturb") is None


def seed_evidence(runs: Iterable[Mapping[str, Any]], variant: str, *,
                  per_seed: str = "deterministic") -> list[SeedEvidence]:
    """One :class:`SeedEvidence` per seed of ``variant`` that has a usable run, ascending by seed.

    ``per_seed``: ``"deterministic"`` (replicate 0 of the deterministic mode; a seed without one
    contributes nothing) or ``"nondeterministic-mean"`` (mean over the seed's distinct
    nondeterministic replicates). Perturbed runs (e.g. one thread) are not evidence about the
    variant: they measure the perturbation.
    """
    if per_seed not in PER_SEED:
        raise InputError(f"invalid per_seed={per_seed!r}; valid choices: {', '.join(PER_SEED)}")
    by_seed: dict[int, list[Mapping[str, Any]]] = {}
    for row in runs:
        if row["variant"] == variant and usable(row):
            by_seed.setdefault(int(row["seed"]), []).append(row)
    out = []
    for seed in sorted(by_seed):
        rows = by_seed[seed]
        distinct = distinct_runs(rows)
        if per_seed == "deterministic":
            det0 = next((r for r in rows if r["mode"] == "deterministic" and r.get("replicate", 0) == 0), None)
            if det0 is None:
                continue
            run = next(d for d in distinct if det0["id"] in d.ids)
            source = "deterministic replicate 0" + (
                f" (mean of {len(run.eval_values)} evaluation seeds)" if len(run.eval_values) > 1 else "")
            out.append(SeedEvidence(seed, run.fid, source, tuple(distinct), (run,)))
        else:
            nondet = [d for d in distinct if "nondeterministic" in d.modes]
            if not nondet:
                continue
            out.append(SeedEvidence(seed, statistics.fmean(d.fid for d in nondet),
                                    f"mean of {len(nondet)} distinct nondeterministic replicate(s)", tuple(distinct),
                                    tuple(nondet)))
    return out


def nested_design(evidence: Iterable[SeedEvidence]) -> list[list[tuple[float, ...]]]:
    """seeds -> distinct runs -> evaluation values, for :func:`repro.stats.nested.decompose`."""
    return [[d.eval_values for d in e.runs] for e in evidence]


__all__ = ["PER_SEED", "DistinctRun", "SeedEvidence", "run_fid_values", "distinct_runs", "usable", "seed_evidence",
           "nested_design"]
