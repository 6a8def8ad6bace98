"""The typed contract between the audit's stages: the run row, the audit plan, the report, the baseline.

One module, versioned: the audit writes these shapes, and the gate, MLflow tracking, report
rendering and the DVC run list (through :class:`repro.audit.plan.AuditPlan`) read them. Each
record is a frozen dataclass whose fields say the types; :func:`validate` checks a JSON dict
against one (missing keys, wrong types) and names the path of the first problem. Records may
carry more keys than they type (a report keeps its archdiff tables and figures' data); what is
typed is what other stages read.

Versions: ``repro.audit/2`` (seeds as the unit of evidence, nested noise, ``comparison`` as in
:class:`Comparison`) replaced ``repro.audit/1``; ``repro.baseline/2`` replaced ``repro.baseline/1``.
An older file gets an error that says to re-run the audit or refresh the baseline.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from repro.audit.plan import AuditPlan
from repro.errors import SchemaError

REPORT_SCHEMA = "repro.audit/2"
BASELINE_SCHEMA = "repro.baseline/2"
PLAN_SCHEMA = "repro.plan/1"
OLDER = {"repro.audit/1": "an audit report of an older repro: re-run the audit",
         "repro.baseline/1": "a baseline of an older repro: refresh it with `repro gate --update`"}
RUN_STATUSES = ("completed", "diverged", "failed")
VERDICTS = ("real difference", "within noise", "inconclusive")


@dataclass(frozen=True)
class RunRow:
    """One training run of an audit, with its evaluation (``report.json``'s ``runs[]``)."""

    id: str
    variant: str
    mode: str
    seed: int
    replicate: int
    perturb: str | None
    status: str
    steps_completed: int | None
    diverged_step: int | None
    final_param_hash: str | None
    median_step_time_s: float | None
    wall_time_s: float | None
    threads: int | None
    device: str | None
    fid: float | None  # final checkpoint, evaluation seed 0
    fid_eval_values: list[float] | None  # final checkpoint, one FID per evaluation seed
    fid_eval_std: float | None
    fid_ci_low: float | None  # basic bootstrap interval over generated and real samples
    fid_ci_high: float | None
    fid_boot_std: float | None
    fid_min: float | None  # minimum over checkpoints (compare_gan's number)
    fid_min_step: int | None
    is_mean: float | None
    kid_mean: float | None


@dataclass(frozen=True)
class PairRow:
    """Two runs compared bit for bit (``pairs[]``; more keys come from :mod:`repro.audit.divergence`)."""

    variant: str
    kind: str
    a: str
    b: str
    identical: bool
    first_divergent_step: int | None


@dataclass(frozen=True)
class Noise:
    """A variant's FID noise (``variance[variant]``; see :func:`repro.audit.variance.decompose`)."""

    fid_mean: float | None
    noise_std: float | None
    eval_std: float | None
    nondet_std: float | None
    seed_std: float | None
    n_seeds: int


@dataclass(frozen=True)
class Comparison:
    """The variant-vs-baseline verdict (``comparison``; :class:`repro.stats.Comparison` plus its evidence)."""

    variant: str
    baseline_variant: str
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_seeds_variant: int
    n_seeds_baseline: int
    seeds_needed: int | None
    min_effect: float | None
    verdict: str
    reason: str
    method: str
    per_seed: str


@dataclass(frozen=True)
class Interleaved:
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    pairs: int


@dataclass(frozen=True)
class Cost:
    ratio: float | None
    interleaved: Interleaved | None


@dataclass(frozen=True)
class Report:
    """``report.json`` (schema :data:`REPORT_SCHEMA`)."""

    schema: str
    created: str
    command: str
    commit: str | None
    fingerprint: dict[str, Any]
    fingerprint_summary: dict[str, Any]
    plan: dict[str, Any]
    settings: dict[str, Any]
    runs: list[RunRow]
    pairs: list[PairRow]
    variance: dict[str, Noise]
    comparison: Comparison
    cost: dict[str, Cost]


@dataclass(frozen=True)
class BaselineVariant:
    fid_mean: float
    noise_std: float
    eval_std: float | None
    nondet_std: float | None
    seed_std: float | None
    n_seeds: int
    eval_values_per_run: int
    seeds: list[int]


@dataclass(frozen=True)
class Baseline:
    """``audits/baselines/*.json`` (schema :data:`BASELINE_SCHEMA`)."""

    schema: str
    created: str
    commit: str | None
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    variants: dict[str, BaselineVariant]
    cost: dict[str, float | None]
    final_param_hashes: dict[str, str]
    source_report: str


def _type_ok(value: Any, tp: Any, path: str, errors: list[str]) -> None:
    origin = typing.get_origin(tp)
    if tp is Any:
        return
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:  # X | None: the inner error names the exact path
            _type_ok(value, real[0], path, errors)
            return
        for option in options:
            if option is type(None):
                continue
            trial: list[str] = []
            _type_ok(value, option, path, trial)
            if not trial:
                return
        errors.append(f"{path} is {value!r:.80}, expected {_name(tp)}")
        return
    if dataclasses.is_dataclass(tp):
        _fields_ok(value, tp, path, errors)
        return
    if origin is list:
        if not isinstance(value, list):
            errors.append(f"{path} is a {type(value).__name__}, expected a list")
            return
        (item,) = typing.get_args(tp)
        for i, v in enumerate(value):
            _type_ok(v, item, f"{path}[{i}]", errors)
        return
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{path} is a {type(value).__name__}, expected an object")
            return
        _, item = typing.get_args(tp)
        for k, v in value.items():
            _type_ok(v, item, f"{path}[{k!r}]", errors)
        return
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        errors.append(f"{path} is {value!r:.80}, expected {_name(tp)}")


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fields_ok(value: Any, cls: type, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path or 'the file'} is a {type(value).__name__}, expected an object")
        return
    hints = typing.get_type_hints(cls)
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in value]
    if missing:
        errors.append(f"{path + ' is ' if path else ''}missing key(s) {', '.join(missing)}")
        return
    for f in dataclasses.fields(cls):
        _type_ok(value[f.name], hints[f.name], f"{path}.{f.name}" if path else f.name, errors)


def validate(data: Any, cls: type, source: str) -> dict[str, Any]:
    """Check ``data`` against record ``cls``; raise :class:`SchemaError` naming ``source`` and the
    first problems. Returns ``data`` unchanged."""
    errors: list[str] = []
    _fields_ok(data, cls, "", errors)
    if errors:
        shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
        raise SchemaError(f"{source}: {shown}")
    return data


def _check_version(data: Any, expected: str, source: str) -> None:
    if not isinstance(data, dict):
        raise SchemaError(f"{source}: holds a JSON {type(data).__name__}, expected an object")
    if "schema" not in data:
        raise SchemaError(f"{source}: has no 'schema' key; expected schema {expected!r}")
    got = data["schema"]
    if got != expected:
        known = {REPORT_SCHEMA: "an audit report", BASELINE_SCHEMA: "a baseline"}.get(got) or OLDER.get(got)
        raise SchemaError(f"{source}: schema {got!r} is not supported" + (f" (it is {known})" if known else "")
                          + f"; expected {expected!r}")


def validate_report(data: Any, source: str = "report") -> dict[str, Any]:
    """A ``repro.audit/2`` report: version, typed parts, and the rules between them."""
    _check_version(data, REPORT_SCHEMA, source)
    validate(data, Report, source)
    for run in data["runs"]:
        if run["status"] not in RUN_STATUSES:
            raise SchemaError(f"{source}: run {run['id']!r} has status {run['status']!r}; valid statuses: "
                              f"{', '.join(RUN_STATUSES)}")
    if data["comparison"]["verdict"] not in VERDICTS:
        raise SchemaError(f"{source}: comparison.verdict {data['comparison']['verdict']!r} is not one of "
                          f"{', '.join(VERDICTS)}")

    try:
        plan = AuditPlan.from_dict(data["plan"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SchemaError(f"{source}: plan is not a valid audit plan ({exc})") from None
    ids = [r["id"] for r in data["runs"]]
    expected = [s.id for s in plan.runs()]
    if sorted(ids) != sorted(expected):
        extra, missing = sorted(set(ids) - set(expected)), sorted(set(expected) - set(ids))
        raise SchemaError(f"{source}: runs do not match the plan: missing {missing or 'none'}, "
                          f"not in the plan {extra or 'none'}")
    return data


def validate_baseline(data: Any, source: str = "baseline") -> dict[str, Any]:
    """A ``repro.baseline/2`` file."""
    _check_version(data, BASELINE_SCHEMA, source)
    validate(data, Baseline, source)
    for name, v in data["variants"].items():
        if not v["noise_std"] >= 0 or v["noise_std"] != v["noise_std"] or v["n_seeds"] < 1:
            raise SchemaError(f"{source}: variants[{name!r}] needs noise_std >= 0 and n_seeds >= 1")
    return data


__all__ = ["REPORT_SCHEMA", "BASELINE_SCHEMA", "PLAN_SCHEMA", "RUN_STATUSES", "VERDICTS", "SchemaError", "RunRow",
           "PairRow", "Noise", "Comparison", "Interleaved", "Cost", "Report", "BaselineVariant", "Baseline",
           "validate", "validate_report", "validate_baseline"]
