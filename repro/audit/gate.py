"""The CI regression gate: an audit report checked against a committed baseline.

A *baseline* (:mod:`repro.audit.baseline`) records what one trusted audit report measured.
``check`` compares a new report with it:

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

import math
from dataclasses import dataclass, field
from typing import Any

from repro import fingerprint as fingerprint_lib
from repro.audit import schema
from repro.audit.baseline import (
    GateInputError,
    deterministic_runs,
    is_finite,
    is_number,
    load_baseline,
    load_report,
    make_baseline,
    pair_text,
    report_variants,
    validate_baseline,
    validate_report,
    write_baseline,
)
from repro.audit.schema import BASELINE_SCHEMA, REPORT_SCHEMA
from repro.errors import InputError
from repro.stats import drift_band

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


# --------------------------------------------------------------------------- check


def _fmt(value: Any) -> str:
    if is_number(value):
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
    if not (is_finite(k) and k > 0):
        raise InputError(f"invalid k={k!r}: must be a finite number > 0 (default {DEFAULT_K})")
    if not (is_finite(min_rel_tol) and min_rel_tol >= 0):
        raise InputError(f"invalid min_rel_tol={min_rel_tol!r}: must be a finite number >= 0 (default {DEFAULT_MIN_REL_TOL})")
    if not (is_finite(max_det_cost) and max_det_cost > 0):
        raise InputError(f"invalid max_det_cost={max_det_cost!r}: must be a finite number > 0 (default {DEFAULT_MAX_DET_COST})")


def _determinism_rows(report: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = [p for p in report["pairs"] if p["kind"] == "deterministic"]
    if not pairs:
        return [_row("determinism", "(all variants)", None, "identical", "fail",
                     "the report has no deterministic pair: bitwise determinism was not checked")]
    rows = []
    for name in dict.fromkeys([*baseline["variants"], *report_variants(report)]):
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
                             f"{p['variant']}: deterministic pair not bitwise identical: {pair_text(p)}"))
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
        if not is_finite(value):
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
        was = f"; baseline {_fmt(base)}" if is_number(base) else ""
        inter = entry.get("interleaved")
        if isinstance(inter, dict) and is_finite(inter.get("ci_low")) and is_finite(inter.get("ratio")):
            rows.append(_interleaved_row(name, inter, max_det_cost, was))
            continue
        note = "" if inter is None else " (the interleaved measurement has no ratio: " + str(
            inter.get("diverged", "none measured")) + ")"
        allowed = f"<= {_fmt(max_det_cost)}"
        ratio = entry["ratio"]
        if is_finite(ratio) and ratio <= max_det_cost:
            rows.append(_row("det_cost", name, ratio, allowed, "pass", f"{name}: det/nondet median step time "
                             f"ratio of the runs {_fmt(ratio)} {allowed}{was}{note}"))
        elif not is_finite(ratio):
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
