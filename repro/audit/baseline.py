"""Baselines: what a trusted audit report pins for the CI gate (:mod:`repro.audit.gate`), and
reading reports and baselines as the gate needs them (unusable input is :class:`GateInputError`,
exit 2).

A *baseline* (schema ``repro.baseline/3``, a JSON file under ``audits/baselines/``) records, from
one trusted audit report: the environment fingerprint, the commit, the settings that define the
measurement (:func:`measurement`), each variant's per-seed FIDs (at least
:data:`repro.stats.MIN_BASELINE_SEEDS`) with their collapse flags and noise, the cost of
determinism per variant, and the final parameter hash of every deterministic run. ``--update``
refuses a report that lacks any of that evidence: a baseline must hold what the gate checks.
"""

from __future__ import annotations

import datetime
import math
import os
from typing import Any

from repro.audit import schema
from repro.audit.schema import BASELINE_SCHEMA, Baseline, BaselineVariant, PairRow, Report, RunRow
from repro.errors import SchemaError
from repro.io import read_json, write_json
from repro.stats import MIN_BASELINE_SEEDS


class GateInputError(SchemaError):
    """A report or baseline the gate cannot use: missing, corrupt, wrong schema or missing keys."""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def _require(cond: bool, source: str, problem: str) -> None:
    if not cond:
        raise GateInputError(f"{source}: {problem}")


def report_record(data: Any, source: str = "report") -> Report:
    """A report dict as its typed record; any problem is a :class:`GateInputError` naming ``source``."""
    try:
        return schema.report_from_dict(data, source)
    except SchemaError as exc:
        raise GateInputError(str(exc)) from None


def baseline_record(data: Any, source: str = "baseline") -> Baseline:
    """A baseline dict as its typed record; any problem is a :class:`GateInputError` naming ``source``."""
    try:
        return schema.baseline_from_dict(data, source)
    except SchemaError as exc:
        raise GateInputError(str(exc)) from None


def load_report(path: str | os.PathLike) -> Report:
    """Read and check an audit report (``DIR/report.json``, schema :data:`repro.audit.schema.REPORT_SCHEMA`)."""
    return report_record(_read(path, "audit report"), source=f"audit report {os.fspath(path)}")


def load_baseline(path: str | os.PathLike) -> Baseline:
    """Read and check a baseline file (schema :data:`BASELINE_SCHEMA`)."""
    return baseline_record(_read(path, "baseline"), source=f"baseline {os.fspath(path)}")


def _read(path: str | os.PathLike, what: str) -> Any:
    if os.path.isdir(path):
        raise GateInputError(f"{what} {os.fspath(path)} is a directory, expected a JSON file")
    try:
        return read_json(path, what=what)
    except ValueError as exc:  # repro.io: missing, corrupt or too deeply nested file, message names the file
        raise GateInputError(str(exc)) from None
    except OSError as exc:  # unreadable (permissions, ...)
        raise GateInputError(f"cannot read {what} {os.fspath(path)}: {exc}") from None


# --------------------------------------------------------------------------- what the gate reads


def deterministic_runs(report: Report) -> list[RunRow]:
    """Runs in deterministic mode without a perturbation: the ones whose hashes a baseline pins."""
    return [run for run in report.runs if run.mode == "deterministic" and run.perturb is None]


def pair_text(pair: PairRow) -> str:
    where = f"first divergent step {pair.first_divergent_step}" if pair.first_divergent_step is not None else "differs"
    tensors = pair.first_divergent_tensors
    if tensors:
        where += " (" + ", ".join(tensors[:3]) + (" ..." if len(tensors) > 3 else "") + ")"
    return where


def report_variants(report: Report) -> list[str]:
    """Every variant the report speaks of (plan, runs, variance, cost), in first-seen order."""
    names = list(report.plan.variants) + [r.variant for r in report.runs] + list(report.variance) + list(report.cost)
    return list(dict.fromkeys(names))


def _one(values: list[Any]) -> Any:
    """The one value the runs share, a sorted list when they differ, None when none recorded it."""
    seen = sorted({v for v in values if v is not None}, key=str)
    return None if not seen else (seen[0] if len(seen) == 1 else seen)


def measurement(report: Report) -> dict[str, Any]:
    """The settings that define the measurement: what must be equal for two reports' FIDs to be
    comparable. From the settings (steps, seeds, evaluation seeds, samples asked, dataset,
    resolution) and from the evaluated runs (samples scored, protocol, extractor and its weights'
    hash, real-data recipe, intra-op threads of the unperturbed runs)."""
    s = report.settings
    scored = [r for r in report.runs if r.perturb is None and r.usable]
    return {
        "steps": s.steps, "seeds": sorted(s.seeds), "eval_seeds": s.eval_seeds, "num_samples": s.num_samples,
        "dataset": s.dataset, "resolution": s.resolution,
        "n_fake": _one([r.n_fake for r in scored]), "protocol": _one([r.protocol for r in scored]),
        "extractor": _one([r.extractor for r in scored]) or s.extractor,
        "extractor_sha256": _one([r.extractor_sha256 for r in scored]), "recipe": _one([r.recipe for r in scored]),
        "threads": _one([r.threads for r in report.runs if r.perturb is None]),
    }


# --------------------------------------------------------------------------- baseline


def make_baseline(report: Report | dict[str, Any], source: str) -> dict[str, Any]:
    """Build a baseline dict from an audit report read from ``source`` (a path, kept as
    ``source_report``).

    Refuses (:class:`GateInputError`) a report without the evidence a baseline must hold: a
    variant without its deterministic pair, a deterministic pair that is not bitwise identical, a
    run that diverged or failed, a deterministic run without a final parameter hash, no
    environment fingerprint, a variant without its noise (fewer than 5 seeds, or no per-seed FIDs)
    or without its cost of determinism. Pairs naming runs that do not exist are refused when the
    report is read. ``cost`` records the ratio the gate checks: the interleaved measurement's
    where the report has it, else the per-run median ratio.
    """
    where = f"refusing to make a baseline from {source}"
    if isinstance(report, dict):
        report = report_record(report, source=where)
    _require(bool(report.fingerprint), where, "it has no environment fingerprint, so the gate could never tell "
             "whether the bits should match")
    det_pairs = [p for p in report.pairs if p.kind == "deterministic"]
    _require(bool(det_pairs), where, "it has no deterministic pair, so determinism was never checked")
    names = report_variants(report)
    unchecked = [v for v in names if not any(p.variant == v for p in det_pairs)]
    _require(not unchecked, where, "no deterministic pair for variant(s) " + ", ".join(unchecked)
             + ": their determinism was never checked")
    broken = [p for p in det_pairs if p.identical is not True]
    _require(not broken, where, "deterministic pair(s) not bitwise identical: " + "; ".join(
        f"{p.variant}: {p.a} vs {p.b} {pair_text(p)}" for p in broken))
    bad = [r for r in report.runs if r.status != "completed"]
    _require(not bad, where, "run(s) did not complete: " + ", ".join(f"{r.id} {r.status}" for r in bad))
    hashes: dict[str, str] = {}
    for run in deterministic_runs(report):
        _require(bool(run.final_param_hash), where, f"deterministic run {run.id!r} has no final_param_hash")
        hashes[run.id] = run.final_param_hash
    variants = {}
    for name in names:
        entry = report.variance.get(name)
        _require(entry is not None, where, f"variance has no entry for {name!r}: its FID was never summarised")
        _require(entry.n_seeds >= MIN_BASELINE_SEEDS and len(entry.seed_values) == entry.n_seeds, where,
                 f"variance[{name!r}] has {entry.n_seeds} seed(s) with {len(entry.seed_values)} per-seed FID(s); "
                 f"the gate's FID band needs at least {MIN_BASELINE_SEEDS} (audit with more --seeds)")
        for key in ("fid_mean", "noise_std"):
            value = getattr(entry, key)
            _require(is_finite(value) and value >= 0, where,
                     f"variance[{name!r}].{key} is {value!r}, expected a finite number >= 0")
        _require(name in report.cost, where, f"cost has no entry for {name!r}: its cost of determinism was never "
                 "measured")
        ratio = checked_ratio(report.cost[name])
        _require(is_finite(ratio), where, f"cost[{name!r}] has no finite det/nondet ratio ({ratio!r})")
        collapsed = entry.seed_collapsed if len(entry.seed_collapsed) == entry.n_seeds else [None] * entry.n_seeds
        variants[name] = BaselineVariant(
            fid_mean=entry.fid_mean, noise_std=entry.noise_std, eval_std=entry.eval_std, nondet_std=entry.nondet_std,
            seed_std=entry.seed_std, n_seeds=entry.n_seeds, eval_values_per_run=entry.eval_values_per_run,
            seeds=list(entry.seeds), seed_values=list(entry.seed_values), seed_collapsed=list(collapsed))
    baseline = Baseline(
        schema=BASELINE_SCHEMA,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=report.commit, fingerprint=report.fingerprint, settings=schema.to_dict(report.settings),
        measurement=measurement(report), variants=variants,
        cost={name: checked_ratio(report.cost[name]) for name in names}, final_param_hashes=hashes,
        source_report=os.fspath(source))
    out = schema.to_dict(baseline)
    baseline_record(out, source=where)
    return out


def write_baseline(path: str | os.PathLike, baseline: dict[str, Any]) -> None:
    """Check and write ``baseline`` atomically (temp file + ``os.replace``): a crash never leaves
    half a baseline, and the previous file stays intact."""
    baseline_record(baseline, source=f"baseline to write to {os.fspath(path)}")
    write_json(path, baseline)


def checked_ratio(cost: schema.Cost) -> float | None:
    """The ratio the gate checks: the interleaved measurement's when present, else the per-run one."""
    inter = cost.interleaved
    return inter.ratio if inter is not None and inter.ratio is not None else cost.ratio


__all__ = ["GateInputError", "is_number", "is_finite", "report_record", "baseline_record", "load_report",
           "load_baseline", "deterministic_runs", "pair_text", "report_variants", "measurement", "make_baseline",
           "write_baseline", "checked_ratio"]
