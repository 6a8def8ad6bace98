"""The CI regression gate: an audit report checked against a committed baseline.

A *baseline* (schema ``repro.baseline/2``, a JSON file under ``audits/baselines/``) records, from
one trusted audit report: the environment fingerprint, the commit, each variant's mean FID over
its seeds and its measured noise (``noise_std`` and its nested components), the cost of determinism per variant, and
the final parameter hash of every deterministic run. ``check`` compares a new report with it:

========== ============ ===================================================================
check      subject      passes when
========== ============ ===================================================================
determinism pair a vs b the deterministic pair is bitwise identical (``identical`` is true);
           variant      and every variant of the baseline and of the report has at least one
                        deterministic pair in the report (missing evidence fails)
runs       variant      every run of the variant completed (none diverged or failed)
fid        variant      the mean FID over seeds lies in :func:`repro.stats.drift_band`: baseline
                        +/- max(k x std of a difference of means, min_rel_tol x base), widened
                        by the baseline's seed spread when environments or seeds differ
det_cost   variant      the interleaved det/nondet step time ratio's interval does not lie above
                        ``max_det_cost`` (``ci_low <= max_det_cost``); a report without the
                        interleaved measurement (``cost[v]["interleaved"]``) is checked on the
                        per-run median ratio ``ratio <= max_det_cost`` as before
strict_hash run id      the final parameter hash equals the baseline's; only where
                        ``repro.fingerprint.matches_for_strict`` says the two environments
                        match, else one ``skip`` row names the differing fields
========== ============ ===================================================================

The FID band and the audit's verdict live in one module (:mod:`repro.stats.comparison`). In the
baseline's environment with its seeds, a new mean can differ only by evaluation and
nondeterminism noise; on another CPU model, another device or other versions (the fields
:func:`repro.fingerprint.matches_for_strict` names), or with other seeds, every run has other
bits, so the band adds the baseline's seed spread per seed and says so ("fingerprint differs in
cpu.model; band widened to ..."). The relative floor defaults to 5% (The FID Lottery, 2026 reports
an FID coefficient of variation of 1-2%: a band never narrower than a few CVs).

Exit codes: ``EXIT_PASS`` 0, ``EXIT_DRIFT`` 1, ``EXIT_INPUT`` 2 (unusable input:
:class:`GateInputError`, a ``ValueError``).
"""

from __future__ import annotations

import datetime
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

from repro import fingerprint as fingerprint_lib
from repro import schema
from repro.io import read_json, write_json
from repro.schema import BASELINE_SCHEMA, REPORT_SCHEMA

EXIT_PASS = 0
EXIT_DRIFT = 1
EXIT_INPUT = 2

# Defaults of the band and bounds (the CLI's --help prints these same constants).
DEFAULT_K = 3.0  # half-width of the FID band in baseline noise standard deviations (~99.7% if Gaussian)
DEFAULT_MIN_REL_TOL = 0.05  # floor of the half-width as a fraction of the baseline FID mean
# Bound on (deterministic median step time) / (nondeterministic median step time). On CPU the two
# modes run the same kernels (ratio ~1); on GPUs deterministic kernels usually cost tens of percent,
# though up to 746% has been measured (Zhuang et al., MLSys 2022). 2.0 flags a change that doubles
# the price of determinism; raise it with --max-det-cost for a model known to pay more. The gate
# fails only when the whole interval of the interleaved measurement lies above the bound: a
# busy machine widens the interval, it does not move it.
DEFAULT_MAX_DET_COST = 2.0

VERDICTS = ("pass", "fail", "skip")
RUN_STATUSES = schema.RUN_STATUSES


class GateInputError(ValueError):
    """A report or baseline the gate cannot use: missing, corrupt, wrong schema or missing keys."""


@dataclass
class GateResult:
    """The rows of one gate run.

    Each row is ``{"check", "subject", "observed", "allowed", "verdict", "message"}``: ``observed`` is
    a JSON scalar (float, bool, str or None), ``allowed`` a human-readable band (str), ``verdict`` one
    of ``pass``, ``fail``, ``skip``.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no row failed (skipped rows do not fail the gate)."""
        return not any(row["verdict"] == "fail" for row in self.rows)

    @property
    def exit_code(self) -> int:
        """``EXIT_PASS`` (0) when passed, else ``EXIT_DRIFT`` (1)."""
        return EXIT_PASS if self.passed else EXIT_DRIFT

    def failures(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["verdict"] == "fail"]

    def counts(self) -> dict[str, int]:
        return {verdict: sum(row["verdict"] == verdict for row in self.rows) for verdict in VERDICTS}

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "exit_code": self.exit_code, "counts": self.counts(), "rows": self.rows}


# --------------------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value)


def _require(cond: bool, source: str, problem: str) -> None:
    if not cond:
        raise GateInputError(f"{source}: {problem}")


def validate_report(report: Any, source: str = "report") -> dict[str, Any]:
    """Check a report against :class:`repro.schema.Report`; raise :class:`GateInputError` naming
    ``source`` and the problem. Returns ``report``."""
    try:
        return schema.validate_report(report, source)
    except schema.SchemaError as exc:
        raise GateInputError(str(exc)) from None


def validate_baseline(baseline: Any, source: str = "baseline") -> dict[str, Any]:
    """Check a baseline against :class:`repro.schema.Baseline`; raise :class:`GateInputError`
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


def _pair_text(pair: dict[str, Any]) -> str:
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
    unchecked = [v for v in _report_variants(report) if not any(p["variant"] == v for p in det_pairs)]
    _require(not unchecked, where, "no deterministic pair for variant(s) " + ", ".join(unchecked)
             + ": their determinism was never checked")
    broken = [p for p in det_pairs if p["identical"] is not True]
    _require(not broken, where, "deterministic pair(s) not bitwise identical: " + "; ".join(
        f"{p['variant']}: {p['a']} vs {p['b']} {_pair_text(p)}" for p in broken))
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
            _require(_is_finite(entry[key]) and entry[key] >= 0, where,
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
        "cost": {name: _checked_ratio(entry) for name, entry in report["cost"].items()},
        "final_param_hashes": hashes,
        "source_report": os.fspath(source),
    }
    return validate_baseline(baseline, source=where)


def write_baseline(path: str | os.PathLike, baseline: dict[str, Any]) -> None:
    """Validate and write ``baseline`` atomically (temp file + ``os.replace``): a crash never leaves
    half a baseline, and the previous file stays intact."""
    validate_baseline(baseline, source=f"baseline to write to {os.fspath(path)}")
    write_json(path, baseline)


# --------------------------------------------------------------------------- check


def _fmt(value: Any) -> str:
    if _is_number(value):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _row(check: str, subject: str, observed: Any, allowed: str, verdict: str, message: str) -> dict[str, Any]:
    assert verdict in VERDICTS
    return {"check": check, "subject": subject, "observed": observed, "allowed": allowed, "verdict": verdict,
            "message": message}


def fid_band(base: dict[str, Any], *, k: float, min_rel_tol: float, n_seeds_new: int | None = None,
             widen: str | None = None):
    """The allowed interval for a variant's mean FID (:func:`repro.stats.drift_band`) from its
    baseline entry; ``widen`` (a reason) adds the baseline's seed spread as the platform term."""
    from repro.stats import drift_band

    e = max(1, int(base.get("eval_values_per_run") or 1))
    eval_std = base["eval_std"] / math.sqrt(e) if base.get("eval_std") is not None else None
    platform = None
    if widen:
        platform = base.get("seed_std")
        if platform is None:  # one seed in the baseline: its whole per-seed noise is the best stand-in
            platform = base["noise_std"]
    return drift_band(base["fid_mean"], eval_std=eval_std, nondet_std=base.get("nondet_std"),
                      n_seeds=int(base["n_seeds"]), n_seeds_new=n_seeds_new, k=k, min_rel_tol=min_rel_tol,
                      platform_std=platform, platform_source=widen)


def _check_options(k: float, min_rel_tol: float, max_det_cost: float) -> None:
    if not (_is_finite(k) and k > 0):
        raise ValueError(f"invalid k={k!r}: must be a finite number > 0 (default {DEFAULT_K})")
    if not (_is_finite(min_rel_tol) and min_rel_tol >= 0):
        raise ValueError(f"invalid min_rel_tol={min_rel_tol!r}: must be a finite number >= 0 (default {DEFAULT_MIN_REL_TOL})")
    if not (_is_finite(max_det_cost) and max_det_cost > 0):
        raise ValueError(f"invalid max_det_cost={max_det_cost!r}: must be a finite number > 0 (default {DEFAULT_MAX_DET_COST})")


def _report_variants(report: dict[str, Any]) -> list[str]:
    """Every variant the report speaks of (runs, variance, cost), in first-seen order."""
    names = [r["variant"] for r in report["runs"]] + list(report["variance"]) + list(report["cost"])
    return list(dict.fromkeys(names))


def _determinism_rows(report: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = [p for p in report["pairs"] if p["kind"] == "deterministic"]
    if not pairs:
        return [_row("determinism", "(all variants)", None, "identical", "fail",
                     "the report has no deterministic pair: bitwise determinism was not checked")]
    rows = []
    for name in dict.fromkeys([*baseline["variants"], *_report_variants(report)]):
        if not any(p["variant"] == name for p in pairs):
            rows.append(_row("determinism", name, None, "identical pair", "fail",
                             f"{name}: no deterministic pair in the report: its bitwise determinism was not "
                             "checked (missing evidence)"))
    for p in pairs:
        subject = f"{p['a']} vs {p['b']}"
        if p["identical"] is True:
            rows.append(_row("determinism", subject, "identical", "identical", "pass",
                             f"{p['variant']}: deterministic pair bitwise identical"))
        else:
            step = p.get("first_divergent_step")
            observed = f"diverged@{step}" if step is not None else "different"
            rows.append(_row("determinism", subject, observed, "identical", "fail",
                             f"{p['variant']}: deterministic pair not bitwise identical: {_pair_text(p)}"))
    return rows


def _status_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for run in report["runs"]:
        by_variant.setdefault(run["variant"], []).append(run)
    for name, runs in by_variant.items():
        bad = [r for r in runs if r["status"] != "completed"]
        observed = f"{len(runs) - len(bad)}/{len(runs)} completed"
        if bad:
            detail = ", ".join(
                f"{r['id']} {r['status']}" + (f" at step {r['diverged_step']}" if r.get("diverged_step") is not None else "")
                for r in bad)
            rows.append(_row("runs", name, observed, "all completed", "fail", f"{name}: run(s) did not complete: {detail}"))
        else:
            rows.append(_row("runs", name, observed, "all completed", "pass", f"{name}: all {len(runs)} runs completed"))
    return rows


def _widen_reason(report: dict[str, Any], baseline: dict[str, Any], name: str, env_reason: str | None) -> str | None:
    """Why the new runs of ``name`` cannot reproduce the baseline's bits (None when they can);
    ``env_reason`` is the environment's part, the same for every variant."""
    reasons = [env_reason] if env_reason else []
    new_seeds = (report["variance"].get(name) or {}).get("seeds")
    old_seeds = baseline["variants"][name].get("seeds")
    if new_seeds is not None and old_seeds and sorted(new_seeds) != sorted(old_seeds):
        reasons.append(f"seeds differ ({sorted(new_seeds)} vs baseline {sorted(old_seeds)})")
    return "; ".join(reasons) or None


def _fid_rows(report: dict[str, Any], baseline: dict[str, Any], k: float, min_rel_tol: float) -> list[dict[str, Any]]:
    rows = []
    same, fields = fingerprint_lib.matches_for_strict(report["fingerprint"], baseline["fingerprint"])
    env_reason = None if same else ("fingerprint differs in " + ", ".join(fields[:4])
                                    + (" ..." if len(fields) > 4 else ""))
    for name, base in baseline["variants"].items():
        entry = report["variance"].get(name)
        widen = _widen_reason(report, baseline, name, env_reason)
        n_new = (entry or {}).get("n_seeds") or None
        band = fid_band(base, k=k, min_rel_tol=min_rel_tol, n_seeds_new=n_new, widen=widen)
        allowed = f"[{_fmt(band.low)}, {_fmt(band.high)}]"
        why = (f"; {widen}: band widened to {allowed} by the baseline's seed spread {_fmt(band.platform_std)} "
               "per seed" if widen else "")
        if entry is None:
            rows.append(_row("fid", name, None, allowed, "fail",
                             f"{name}: variant in the baseline is missing from the report (fid_mean band {allowed})"))
            continue
        value = entry["fid_mean"]
        if not _is_finite(value):
            rows.append(_row("fid", name, value, allowed, "fail",
                             f"{name}: fid_mean is {value!r} (no finite FID: no completed runs?); band {allowed}"))
            continue
        z = (value - base["fid_mean"]) / band.noise_std if band.noise_std > 0 else math.inf
        shift = f"shift {value - base['fid_mean']:+.4g} from baseline {_fmt(base['fid_mean'])}" + (
            f" = {z:+.2f} std of a difference of means" if math.isfinite(z) else "")
        if band.low <= value <= band.high:
            rows.append(_row("fid", name, value, allowed, "pass",
                             f"{name}: fid_mean {_fmt(value)} within {allowed} ({shift}){why}"))
        else:
            rows.append(_row("fid", name, value, allowed, "fail",
                             f"{name}: fid_mean {_fmt(value)} outside band {allowed} ({shift}; band = {band.rule}){why}"))
    for name in report["variance"]:
        if name not in baseline["variants"]:
            rows.append(_row("fid", name, report["variance"][name]["fid_mean"], "-", "skip",
                             f"{name}: variant not in the baseline; refresh it with `repro gate --update` to gate it"))
    return rows


def _checked_ratio(entry: dict[str, Any]) -> Any:
    """The ratio the gate checks: the interleaved measurement's when present, else the per-run one."""
    inter = entry.get("interleaved")
    return inter["ratio"] if isinstance(inter, dict) and inter.get("ratio") is not None else entry["ratio"]


def _cost_rows(report: dict[str, Any], baseline: dict[str, Any], max_det_cost: float) -> list[dict[str, Any]]:
    rows = []
    names = list(report["cost"]) + [n for n in baseline["variants"] if n not in report["cost"]]
    for name in names:
        entry = report["cost"].get(name)
        if entry is None:
            rows.append(_row("det_cost", name, None, f"<= {_fmt(max_det_cost)}", "fail",
                             f"{name}: no cost of determinism in the report"))
            continue
        base = baseline["cost"].get(name)
        was = f"; baseline {_fmt(base)}" if _is_number(base) else ""
        inter = entry.get("interleaved")
        if isinstance(inter, dict) and _is_finite(inter.get("ci_low")) and _is_finite(inter.get("ratio")):
            rows.append(_interleaved_row(name, inter, max_det_cost, was))
            continue
        note = "" if inter is None else " (the interleaved measurement has no ratio: " + str(
            inter.get("diverged", "none measured")) + ")"
        allowed = f"<= {_fmt(max_det_cost)}"
        ratio = entry["ratio"]
        if _is_finite(ratio) and ratio <= max_det_cost:
            rows.append(_row("det_cost", name, ratio, allowed, "pass", f"{name}: det/nondet median step time "
                             f"ratio of the runs {_fmt(ratio)} {allowed}{was}{note}"))
        elif not _is_finite(ratio):
            rows.append(_row("det_cost", name, ratio, allowed, "fail",
                             f"{name}: det/nondet step time ratio is {ratio!r}, not a finite number{was}{note}"))
        else:
            rows.append(_row("det_cost", name, ratio, allowed, "fail",
                             f"{name}: det/nondet median step time ratio of the runs {_fmt(ratio)} exceeds bound "
                             f"{allowed}{was}{note}"))
    return rows


def _interleaved_row(name: str, inter: dict[str, Any], max_det_cost: float, was: str) -> dict[str, Any]:
    ratio, low, high = inter["ratio"], inter["ci_low"], inter.get("ci_high")
    level = inter.get("confidence", 0.95)
    interval = (f"{_fmt(ratio)} ({level:.0%} interval [{_fmt(low)}, {_fmt(high)}], "
                f"{inter['pairs']} interleaved step pairs)")
    allowed = f"interval low <= {_fmt(max_det_cost)}"
    if low <= max_det_cost:
        return _row("det_cost", name, ratio, allowed, "pass",
                    f"{name}: det/nondet step time ratio {interval}; not above bound {_fmt(max_det_cost)}{was}")
    return _row("det_cost", name, ratio, allowed, "fail",
                f"{name}: det/nondet step time ratio {interval} lies above bound {_fmt(max_det_cost)}{was}")


def _strict_rows(report: dict[str, Any], baseline: dict[str, Any], strict: bool) -> list[dict[str, Any]]:
    if not strict:
        return [_row("strict_hash", "(all runs)", None, "-", "skip", "strict mode disabled (--no-strict)")]
    same, fields = fingerprint_lib.matches_for_strict(report["fingerprint"], baseline["fingerprint"])
    if not same:
        shown = ", ".join(fields[:8]) + (f" and {len(fields) - 8} more" if len(fields) > 8 else "")
        return [_row("strict_hash", "(all runs)", f"{len(fields)} field(s) differ", "same environment", "skip",
                     f"strict mode skipped: the report's environment differs from the baseline's in {shown}")]
    runs = {run["id"]: run for run in deterministic_runs(report)}
    rows = []
    for run_id, expected in baseline["final_param_hashes"].items():
        allowed = expected[:12]
        run = runs.get(run_id)
        if run is None:
            rows.append(_row("strict_hash", run_id, None, allowed, "fail",
                             f"{run_id}: deterministic run in the baseline is missing from the report"))
            continue
        got = run["final_param_hash"]
        if got == expected:
            rows.append(_row("strict_hash", run_id, got[:12], allowed, "pass",
                             f"{run_id}: final_param_hash equals the baseline's"))
        else:
            rows.append(_row("strict_hash", run_id, got[:12] if isinstance(got, str) else got, allowed, "fail",
                             f"{run['variant']}: final_param_hash of {run_id} is {got} in the same environment, "
                             f"baseline {expected}"))
    return rows


def check(report: dict[str, Any], baseline: dict[str, Any], *, k: float = DEFAULT_K,
          min_rel_tol: float = DEFAULT_MIN_REL_TOL, max_det_cost: float = DEFAULT_MAX_DET_COST,
          strict: bool = True) -> GateResult:
    """Gate ``report`` (:data:`REPORT_SCHEMA`) against ``baseline`` (:data:`BASELINE_SCHEMA`).

    Args:
        k: FID band half-width in standard deviations of a difference of mean FIDs.
        min_rel_tol: floor of the half-width as a fraction of the baseline FID mean.
        max_det_cost: bound on the deterministic / nondeterministic step-time ratio; with the
            interleaved measurement, the gate fails only when its interval's low end exceeds it.
        strict: compare final parameter hashes with the baseline's where the environments match.

    Returns a :class:`GateResult` whose rows come in the order determinism, runs, fid, det_cost,
    strict_hash. Raises :class:`GateInputError` for a malformed report or baseline and
    ``ValueError`` for an out-of-range option.
    """
    _check_options(k, min_rel_tol, max_det_cost)
    validate_report(report)
    validate_baseline(baseline)
    rows = (_determinism_rows(report, baseline) + _status_rows(report) + _fid_rows(report, baseline, k, min_rel_tol)
            + _cost_rows(report, baseline, max_det_cost) + _strict_rows(report, baseline, strict))
    return GateResult(rows)


def format_table(result: GateResult) -> str:
    """The rows as an aligned text table, the messages of non-passing rows, and a PASS/FAIL line."""
    header = ("check", "subject", "observed", "allowed", "verdict")
    cells = [header] + [(r["check"], r["subject"], _fmt(r["observed"]), r["allowed"], r["verdict"].upper())
                        for r in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    notes = [f"{r['verdict'].upper()}: {r['message']}" for r in result.rows if r["verdict"] != "pass"]
    if notes:
        lines += [""] + notes
    c = result.counts()
    summary = f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped"
    lines += ["", ("PASS: " if result.passed else "FAIL: score drift or broken determinism: ") + summary]
    return "\n".join(lines)


__all__ = ["REPORT_SCHEMA", "BASELINE_SCHEMA", "EXIT_PASS", "EXIT_DRIFT", "EXIT_INPUT", "DEFAULT_K",
           "DEFAULT_MIN_REL_TOL", "DEFAULT_MAX_DET_COST", "GateInputError", "GateResult", "validate_report",
           "validate_baseline", "load_report", "load_baseline", "deterministic_runs", "make_baseline",
           "write_baseline", "fid_band", "check", "format_table"]
