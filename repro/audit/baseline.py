"""Baselines: what a trusted audit report pins for the CI gate (:mod:`repro.audit.gate`), and
reading reports and baselines as the gate needs them (unusable input is :class:`GateInputError`,
exit 2).

A *baseline* (schema ``repro.baseline/2``, a JSON file under ``audits/baselines/``) records, from
one trusted audit report: the environment fingerprint, the commit, each variant's mean FID over
its seeds and its measured noise, the cost of determinism per variant, and the final parameter
hash of every deterministic run.
"""

from __future__ import annotations

import datetime
import math
import os
from typing import Any

from repro.audit import schema
from repro.audit.schema import BASELINE_SCHEMA
from repro.errors import SchemaError
from repro.io import read_json, write_json


class GateInputError(SchemaError):
    """A report or baseline the gate cannot use: missing, corrupt, wrong schema or missing keys."""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def _require(cond: bool, source: str, problem: str) -> None:
    if not cond:
        raise GateInputError(f"{source}: {problem}")


def validate_report(report: Any, source: str = "report") -> dict[str, Any]:
    """Check a report against :class:`repro.audit.schema.Report`; raise :class:`GateInputError` naming
    ``source`` and the problem. Returns ``report``."""
    try:
        return schema.validate_report(report, source)
    except schema.SchemaError as exc:
        raise GateInputError(str(exc)) from None


def validate_baseline(baseline: Any, source: str = "baseline") -> dict[str, Any]:
    """Check a baseline against :class:`repro.audit.schema.Baseline`; raise :class:`GateInputError`
    naming ``source`` and the problem. Returns ``baseline``."""
    try:
        return schema.validate_baseline(baseline, source)
    except schema.SchemaError as exc:
        raise GateInputError(str(exc)) from None


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate an audit report (``DIR/report.json``, schema :data:`REPORT_SCHEMA`)."""
    return validate_report(_read(path, "audit report"), source=f"audit report {os.fspath(path)}")


def load_baseline(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a baseline file (schema :data:`BASELINE_SCHEMA`)."""
    return validate_baseline(_read(path, "baseline"), source=f"baseline {os.fspath(path)}")


def _read(path: str | os.PathLike, what: str) -> Any:
    if os.path.isdir(path):
        raise GateInputError(f"{what} {os.fspath(path)} is a directory, expected a JSON file")
    try:
        return read_json(path, what=what)
    except GateInputError:
        raise
    except ValueError as exc:  # repro.io: missing or corrupt file, message names the file
        raise GateInputError(str(exc)) from None
    except OSError as exc:  # unreadable (permissions, ...)
        raise GateInputError(f"cannot read {what} {os.fspath(path)}: {exc}") from None


# --------------------------------------------------------------------------- baseline


def deterministic_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs in deterministic mode without a perturbation: the ones whose hashes a baseline pins."""
    return [run for run in report["runs"] if run["mode"] == "deterministic" and run["perturb"] is None]


def pair_text(pair: dict[str, Any]) -> str:
    step = pair.get("first_divergent_step")
    where = f"first divergent step {step}" if step is not None else "differs"
    tensors = pair.get("first_divergent_tensors") or []
    if tensors:
        shown = ", ".join(str(t) for t in tensors[:3]) + (" ..." if len(tensors) > 3 else "")
        where += f" ({shown})"
    return where


def make_baseline(report: dict[str, Any], source: str) -> dict[str, Any]:
    """Build a baseline dict from an audit report read from ``source`` (a path, kept as
    ``source_report``).

    Refuses (:class:`GateInputError`, a ``ValueError``) a report in which a variant has no
    deterministic pair, with a deterministic pair that is not bitwise identical, with a run that
    diverged or failed, or with a deterministic run lacking a final parameter hash: a baseline must
    record a reproducible state. ``cost`` records the ratio the gate checks: the interleaved
    measurement's where the report has it, else the per-run median ratio.
    """
    where = f"refusing to make a baseline from {source}"
    validate_report(report, source=where)
    det_pairs = [p for p in report["pairs"] if p["kind"] == "deterministic"]
    _require(bool(det_pairs), where, "it has no deterministic pair, so determinism was never checked")
    unchecked = [v for v in report_variants(report) if not any(p["variant"] == v for p in det_pairs)]
    _require(not unchecked, where, "no deterministic pair for variant(s) " + ", ".join(unchecked)
             + ": their determinism was never checked")
    broken = [p for p in det_pairs if p["identical"] is not True]
    _require(not broken, where, "deterministic pair(s) not bitwise identical: " + "; ".join(
        f"{p['variant']}: {p['a']} vs {p['b']} {pair_text(p)}" for p in broken))
    bad = [r for r in report["runs"] if r["status"] != "completed"]
    _require(not bad, where, "run(s) did not complete: " + ", ".join(f"{r['id']} {r['status']}" for r in bad))
    hashes: dict[str, str] = {}
    for run in deterministic_runs(report):
        digest = run["final_param_hash"]
        _require(isinstance(digest, str) and bool(digest), where, f"deterministic run {run['id']!r} has no final_param_hash")
        _require(run["id"] not in hashes, where, f"run id {run['id']!r} appears twice")
        hashes[run["id"]] = digest
    variants = {}
    for name, entry in report["variance"].items():
        for key in ("fid_mean", "noise_std"):
            _require(is_finite(entry[key]) and entry[key] >= 0, where,
                     f"variance[{name!r}].{key} is {entry[key]!r}, expected a finite number >= 0")
        variants[name] = {"fid_mean": entry["fid_mean"], "noise_std": entry["noise_std"],
                          "eval_std": entry["eval_std"], "nondet_std": entry["nondet_std"],
                          "seed_std": entry["seed_std"], "n_seeds": entry["n_seeds"],
                          "eval_values_per_run": entry.get("eval_values_per_run", 1),
                          "seeds": list(entry.get("seeds", []))}
    baseline = {
        "schema": BASELINE_SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": report.get("commit"),
        "fingerprint": report["fingerprint"],
        "settings": report["settings"],
        "variants": variants,
        "cost": {name: checked_ratio(entry) for name, entry in report["cost"].items()},
        "final_param_hashes": hashes,
        "source_report": os.fspath(source),
    }
    return validate_baseline(baseline, source=where)


def write_baseline(path: str | os.PathLike, baseline: dict[str, Any]) -> None:
    """Validate and write ``baseline`` atomically (temp file + ``os.replace``): a crash never leaves
    half a baseline, and the previous file stays intact."""
    validate_baseline(baseline, source=f"baseline to write to {os.fspath(path)}")
    write_json(path, baseline)


def checked_ratio(entry: dict[str, Any]) -> Any:
    """The ratio the gate checks: the interleaved measurement's when present, else the per-run one."""
    inter = entry.get("interleaved")
    return inter["ratio"] if isinstance(inter, dict) and inter.get("ratio") is not None else entry["ratio"]


def report_variants(report: dict[str, Any]) -> list[str]:
    """Every variant the report speaks of (runs, variance, cost), in first-seen order."""
    names = [r["variant"] for r in report["runs"]] + list(report["variance"]) + list(report["cost"])
    return list(dict.fromkeys(names))
