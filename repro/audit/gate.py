"""The CI gate: an audit report checked against a committed baseline.

A *baseline* (:mod:`repro.audit.baseline`) records what one trusted audit report measured.
``check`` compares a new report with it; every check the baseline holds must find its evidence in
the report, or it fails naming what is missing:

=========== ============ ==================================================================
check       subject      passes when
=========== ============ ==================================================================
settings    field        each setting that defines the measurement (steps, seeds, evaluation
                         seeds, samples, dataset, resolution, protocol, extractor and its
                         weights' hash, recipe, threads; :func:`repro.audit.baseline.measurement`)
                         equals the baseline's; a mismatch or an unrecorded one fails, by name
determinism pair a vs b  the deterministic pair is bitwise identical; every variant of the
            variant      baseline and of the report has a deterministic pair in the report;
            variant hunt with ``repro audit --hunt N``: every thread count's fresh processes
                         ended on one final hash
runs        variant      every run of the variant completed (none diverged or failed)
fid         variant      where the variant's bits differ from the baseline's (other environment,
                         other seeds, or a change that alters the bits), its new mean FID lies in
                         the band of :func:`repro.stats.drift_check`: an exact permutation test of
                         the baseline's per-seed FIDs against the new ones, at alpha / m for the m
                         gated variants (Bonferroni), whatever the shape of the per-seed FIDs.
                         Where every deterministic run has the baseline's bits, the models are the
                         baseline's: the hash check decides (skip)
det_cost    variant      the interleaved det/nondet step time ratio's interval does not lie above
                         ``max_det_cost`` (``ci_low <= max_det_cost``); without the interleaved
                         measurement the per-run median ratio ``ratio <= max_det_cost``
strict_hash run id       the final parameter hash equals the baseline's; only where
                         ``repro.fingerprint.matches_for_strict`` says the two environments
                         match, else one ``skip`` row names the differing fields. A report
                         without the fingerprint fields fails (missing evidence)
=========== ============ ==================================================================

The band's calibration (``benchmarks/gate_calibration.py``, docs/gate.md): with nothing changed it
fails at most alpha (5%) over all gated variants for normal, skewed and collapse-shaped per-seed
FIDs; its power at a +25% shift depends on the seed spread and the number of seeds.

Why this module is long: one table of checks, each a short function over the typed report, reads
best in one place.

Exit codes: ``EXIT_PASS`` 0, ``EXIT_DRIFT`` 1, ``EXIT_INPUT`` 2 (unusable input:
:class:`GateInputError`, one line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro import fingerprint as fingerprint_lib
from repro.audit import schema
from repro.audit.baseline import (
    GateInputError,
    baseline_record,
    checked_ratio,
    deterministic_runs,
    is_finite,
    is_number,
    load_baseline,
    load_report,
    make_baseline,
    measurement,
    pair_text,
    report_variants,
    write_baseline,
)
from repro.audit.schema import BASELINE_SCHEMA, REPORT_SCHEMA, Baseline, Interleaved, Report
from repro.errors import InputError
from repro.stats import GATE_ALPHA, drift_check

EXIT_PASS = 0
EXIT_DRIFT = 1
EXIT_INPUT = 2

DEFAULT_ALPHA = GATE_ALPHA  # false-alarm rate of the FID check over all gated variants together
# Bound on (deterministic median step time) / (nondeterministic median step time). On CPU the two
# modes run the same kernels (ratio ~1); on GPUs deterministic kernels usually cost tens of percent,
# though up to 746% has been measured (Zhuang et al., MLSys 2022). 2.0 flags a change that doubles
# the price of determinism; raise it with --max-det-cost for a model known to pay more. The gate
# fails only when the whole interval of the interleaved measurement lies above the bound: a
# busy machine widens the interval, it does not move it.
DEFAULT_MAX_DET_COST = 2.0

VERDICTS = ("pass", "fail", "skip")


@dataclass(frozen=True)
class GateRow:
    """One check of one subject: ``observed`` is a JSON scalar (float, bool, str or None),
    ``allowed`` a human-readable band, ``verdict`` one of ``pass``, ``fail``, ``skip``."""

    check: str
    subject: str
    observed: Any
    allowed: str
    verdict: str
    message: str


@dataclass
class GateResult:
    """The rows of one gate run."""

    rows: list[GateRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no row failed (skipped rows do not fail the gate)."""
        return not any(row.verdict == "fail" for row in self.rows)

    @property
    def exit_code(self) -> int:
        """``EXIT_PASS`` (0) when passed, else ``EXIT_DRIFT`` (1)."""
        return EXIT_PASS if self.passed else EXIT_DRIFT

    def failures(self) -> list[GateRow]:
        return [row for row in self.rows if row.verdict == "fail"]

    def counts(self) -> dict[str, int]:
        return {verdict: sum(row.verdict == verdict for row in self.rows) for verdict in VERDICTS}

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "exit_code": self.exit_code, "counts": self.counts(),
                "rows": [schema.to_dict(row) for row in self.rows]}


# --------------------------------------------------------------------------- check


def _fmt(value: Any) -> str:
    if is_number(value):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _row(check: str, subject: str, observed: Any, allowed: str, verdict: str, message: str) -> GateRow:
    assert verdict in VERDICTS
    if not (observed is None or isinstance(observed, (bool, int, float, str))):
        observed = str(observed)
    return GateRow(check, subject, observed, allowed, verdict, message)


def _check_options(alpha: float, max_det_cost: float) -> None:
    if not (is_finite(alpha) and 0 < alpha < 1):
        raise InputError(f"invalid alpha={alpha!r}: must lie in (0, 1) (default {DEFAULT_ALPHA})")
    if not (is_finite(max_det_cost) and max_det_cost > 0):
        raise InputError(f"invalid max_det_cost={max_det_cost!r}: must be a finite number > 0 "
                         f"(default {DEFAULT_MAX_DET_COST})")


def _settings_rows(report: Report, baseline: Baseline) -> list[GateRow]:
    new = measurement(report)
    rows = []
    for key, expected in baseline.measurement.items():
        if expected is None:
            continue  # the baseline does not hold it
        got = new.get(key)
        if got is None:
            rows.append(_row("settings", key, None, _fmt(expected), "fail",
                             f"the report does not record {key} (baseline {expected}): the measurement cannot be "
                             "shown to be the baseline's (missing evidence)"))
        elif got != expected:
            rows.append(_row("settings", key, got, _fmt(expected), "fail",
                             f"{key} is {got} in the report, {expected} in the baseline: the FIDs measure something "
                             "else; re-run the audit with the baseline's settings, or refresh the baseline"))
    if not rows:
        held = sum(v is not None for v in baseline.measurement.values())
        rows.append(_row("settings", "(measurement)", f"{held} equal", "equal", "pass",
                         f"all {held} settings that define the measurement equal the baseline's"))
    return rows


def _determinism_rows(report: Report, baseline: Baseline) -> list[GateRow]:
    pairs = [p for p in report.pairs if p.kind == "deterministic"]
    if not pairs:
        return [_row("determinism", "(all variants)", None, "identical", "fail",
                     "the report has no deterministic pair: bitwise determinism was not checked")]
    rows = []
    for name in dict.fromkeys([*baseline.variants, *report_variants(report)]):
        if not any(p.variant == name for p in pairs):
            rows.append(_row("determinism", name, None, "identical pair", "fail",
                             f"{name}: no deterministic pair in the report: its bitwise determinism was not "
                             "checked (missing evidence)"))
    for p in pairs:
        subject = f"{p.a} vs {p.b}"
        if p.identical is True:
            rows.append(_row("determinism", subject, "identical", "identical", "pass",
                             f"{p.variant}: deterministic pair bitwise identical"))
        else:
            observed = f"diverged@{p.first_divergent_step}" if p.first_divergent_step is not None else "different"
            rows.append(_row("determinism", subject, observed, "identical", "fail",
                             f"{p.variant}: deterministic pair not bitwise identical: {pair_text(p)}"))
    return rows


def _hunt_rows(report: Report) -> list[GateRow]:
    """A hunt (``repro audit --hunt N``) that found more than one final hash for a thread count is a
    failed determinism check: the same run does not reproduce from process to process."""
    rows = []
    for name, h in report.hunt.items():
        for r in h.results:
            subject = f"{name} hunt, {r.threads} thread(s)"
            observed = f"{r.distinct} hash(es) / {r.processes} processes"
            if r.distinct > 1:
                rows.append(_row("determinism", subject, observed, "1 hash", "fail",
                                 f"{name}: {r.diverging} of {r.processes} fresh processes at {r.threads} thread(s) "
                                 f"ended on another final hash (95% interval of the rate {r.interval_95[0]:.3f}-"
                                 f"{r.interval_95[1]:.3f})"))
            else:
                rows.append(_row("determinism", subject, observed, "1 hash", "pass",
                                 f"{name}: {r.processes} fresh processes at {r.threads} thread(s) on one final hash "
                                 f"(95% upper bound on the per-process rate {r.upper_95:.3f})"))
    return rows


def _status_rows(report: Report) -> list[GateRow]:
    rows = []
    for name in dict.fromkeys(r.variant for r in report.runs):
        runs = report.runs_of(name)
        bad = [r for r in runs if r.status != "completed"]
        observed = f"{len(runs) - len(bad)}/{len(runs)} completed"
        if bad:
            detail = ", ".join(f"{r.id} {r.status}" + (f" at step {r.diverged_step}" if r.diverged_step is not None
                                                       else "") for r in bad)
            rows.append(_row("runs", name, observed, "all completed", "fail", f"{name}: run(s) did not complete: {detail}"))
        else:
            rows.append(_row("runs", name, observed, "all completed", "pass", f"{name}: all {len(runs)} runs completed"))
    return rows


def _bits(report: Report, baseline: Baseline, name: str) -> str | None:
    """None when every deterministic run of ``name`` has the baseline's bits (same ids, same final
    hashes), else why not."""
    runs = [r for r in deterministic_runs(report) if r.variant == name]
    pinned = {i: h for i, h in baseline.final_param_hashes.items() if i.startswith(f"{name}/")}
    if not runs or not pinned:
        return "no deterministic run to compare bit for bit"
    same, fields = fingerprint_lib.matches_for_strict(report.fingerprint, baseline.fingerprint)
    differ = [r.id for r in runs if pinned.get(r.id) != r.final_param_hash]
    missing = sorted(set(pinned) - {r.id for r in runs})
    if not differ and not missing:
        return None
    reasons = []
    if not same:
        reasons.append("environment differs in " + ", ".join(fields[:4]) + (" ..." if len(fields) > 4 else ""))
    base_seeds = baseline.variants[name].seeds if name in baseline.variants else []
    new_seeds = report.variance[name].seeds if name in report.variance else []
    if sorted(base_seeds) != sorted(new_seeds):
        reasons.append(f"seeds differ ({sorted(new_seeds)} vs baseline {sorted(base_seeds)})")
    if same and differ:
        reasons.append(f"final hashes differ from the baseline's in the same environment ({len(differ)} run(s))")
    if missing:
        reasons.append(f"{len(missing)} pinned run(s) absent")
    return "; ".join(reasons) or "final hashes differ"


def _fid_rows(report: Report, baseline: Baseline, alpha: float) -> list[GateRow]:
    rows = []
    m = len(baseline.variants)
    for name, base in baseline.variants.items():
        entry = report.variance.get(name)
        if entry is None or not entry.seed_values:
            rows.append(_row("fid", name, None, "-", "fail", f"{name}: the report has no per-seed FIDs for this "
                             "variant of the baseline (missing evidence)"))
            continue
        why = _bits(report, baseline, name)
        if why is None:
            rows.append(_row("fid", name, entry.fid_mean, "same bits", "skip",
                             f"{name}: every deterministic run has the baseline's bits: the same models, so the hash "
                             "check decides and no FID band is needed"))
            continue
        try:
            check = drift_check(base.seed_values, entry.seed_values, n_variants=m, alpha=alpha,
                                base_collapsed=base.seed_collapsed, new_collapsed=entry.seed_collapsed or None)
        except InputError as exc:
            raise GateInputError(f"{name}: {exc}") from None
        allowed = f"[{_fmt(check.low)}, {_fmt(check.high)}]"
        rows.append(_row("fid", name, check.new_mean, allowed, "pass" if check.passed else "fail",
                         f"{name}: {check.message}; bits differ ({why})" + ("" if check.passed else
                                                                             f"; band: {check.rule}")))
    for name, entry in report.variance.items():
        if name not in baseline.variants:
            rows.append(_row("fid", name, entry.fid_mean, "-", "skip",
                             f"{name}: variant not in the baseline; refresh it with `repro gate --update` to gate it"))
    return rows


def _cost_rows(report: Report, baseline: Baseline, max_det_cost: float) -> list[GateRow]:
    rows = []
    allowed = f"<= {_fmt(max_det_cost)}"
    for name in dict.fromkeys([*report.cost, *baseline.variants]):
        entry = report.cost.get(name)
        if entry is None:
            rows.append(_row("det_cost", name, None, allowed, "fail",
                             f"{name}: no cost of determinism in the report (missing evidence)"))
            continue
        base = baseline.cost.get(name)
        was = f"; baseline {_fmt(base)}" if is_number(base) else ""
        inter = entry.interleaved
        if inter is not None and is_finite(inter.ci_low) and is_finite(inter.ratio):
            rows.append(_interleaved_row(name, inter, max_det_cost, was))
            continue
        note = "" if inter is None else f" (the interleaved measurement has no ratio: {inter.diverged or 'none measured'})"
        ratio = entry.ratio
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


def _interleaved_row(name: str, inter: Interleaved, max_det_cost: float, was: str) -> GateRow:
    interval = (f"{_fmt(inter.ratio)} ({inter.confidence:.0%} interval [{_fmt(inter.ci_low)}, {_fmt(inter.ci_high)}], "
                f"{inter.pairs} interleaved step pairs)")
    allowed = f"interval low <= {_fmt(max_det_cost)}"
    if inter.ci_low <= max_det_cost:
        return _row("det_cost", name, inter.ratio, allowed, "pass",
                    f"{name}: det/nondet step time ratio {interval}; not above bound {_fmt(max_det_cost)}{was}")
    return _row("det_cost", name, inter.ratio, allowed, "fail",
                f"{name}: det/nondet step time ratio {interval} lies above bound {_fmt(max_det_cost)}{was}")


def _strict_rows(report: Report, baseline: Baseline, strict: bool) -> list[GateRow]:
    if not strict:
        return [_row("strict_hash", "(all runs)", None, "-", "skip", "strict mode disabled (--no-strict)")]
    held = [key for key, _, _ in fingerprint_lib.diff({}, baseline.fingerprint) if fingerprint_lib.is_strict_key(key)]
    missing = [key for key, got, _ in fingerprint_lib.diff(report.fingerprint, baseline.fingerprint)
               if fingerprint_lib.is_strict_key(key) and got is fingerprint_lib.MISSING]
    if held and missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        return [_row("strict_hash", "(all runs)", f"{len(missing)} field(s) missing", "a fingerprint", "fail",
                     f"the report's environment fingerprint lacks {shown}: the gate cannot tell whether its bits "
                     "should equal the baseline's (missing evidence)")]
    same, fields = fingerprint_lib.matches_for_strict(report.fingerprint, baseline.fingerprint)
    if not same:
        shown = ", ".join(fields[:8]) + (f" and {len(fields) - 8} more" if len(fields) > 8 else "")
        return [_row("strict_hash", "(all runs)", f"{len(fields)} field(s) differ", "same environment", "skip",
                     f"strict mode skipped: the report's environment differs from the baseline's in {shown}")]
    runs = {run.id: run for run in deterministic_runs(report)}
    rows = []
    for run_id, expected in baseline.final_param_hashes.items():
        run = runs.get(run_id)
        if run is None:
            rows.append(_row("strict_hash", run_id, None, expected[:12], "fail",
                             f"{run_id}: deterministic run in the baseline is missing from the report"))
            continue
        got = run.final_param_hash
        if got == expected:
            rows.append(_row("strict_hash", run_id, got[:12], expected[:12], "pass",
                             f"{run_id}: final_param_hash equals the baseline's"))
        else:
            rows.append(_row("strict_hash", run_id, got[:12] if got else got, expected[:12], "fail",
                             f"{run.variant}: final_param_hash of {run_id} is {got} in the same environment, "
                             f"baseline {expected}"))
    return rows


def check(report: Report | dict[str, Any], baseline: Baseline | dict[str, Any], *, alpha: float = DEFAULT_ALPHA,
          max_det_cost: float = DEFAULT_MAX_DET_COST, strict: bool = True) -> GateResult:
    """Gate ``report`` (:data:`REPORT_SCHEMA`) against ``baseline`` (:data:`BASELINE_SCHEMA`).

    Args:
        alpha: false-alarm rate of the FID check over all gated variants together.
        max_det_cost: bound on the deterministic / nondeterministic step-time ratio; with the
            interleaved measurement, the gate fails only when its interval's low end exceeds it.
        strict: compare final parameter hashes with the baseline's where the environments match.

    Returns a :class:`GateResult` whose rows come in the order settings, determinism, runs, fid,
    det_cost, strict_hash. Raises :class:`GateInputError` for a malformed report or baseline (or
    a baseline too small for the FID band) and :class:`~repro.errors.InputError` for an
    out-of-range option.
    """
    _check_options(alpha, max_det_cost)
    if isinstance(report, dict):
        report = _record(schema.report_from_dict, report, "report")
    if isinstance(baseline, dict):
        baseline = _record(schema.baseline_from_dict, baseline, "baseline")
    rows = (_settings_rows(report, baseline) + _determinism_rows(report, baseline) + _hunt_rows(report)
            + _status_rows(report)
            + _fid_rows(report, baseline, alpha) + _cost_rows(report, baseline, max_det_cost)
            + _strict_rows(report, baseline, strict))
    return GateResult(rows)


def _record(read, data: Any, source: str):
    try:
        return read(data, source)
    except schema.SchemaError as exc:
        raise GateInputError(str(exc)) from None


def format_table(result: GateResult) -> str:
    """The rows as an aligned text table, the messages of non-passing rows, and a PASS/FAIL line."""
    header = ("check", "subject", "observed", "allowed", "verdict")
    cells = [header] + [(r.check, r.subject, _fmt(r.observed), r.allowed, r.verdict.upper()) for r in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    notes = [f"{r.verdict.upper()}: {r.message}" for r in result.rows if r.verdict != "pass"]
    if notes:
        lines += [""] + notes
    c = result.counts()
    summary = f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped"
    lines += ["", ("PASS: " if result.passed else "FAIL: score drift or broken determinism: ") + summary]
    return "\n".join(lines)


__all__ = ["REPORT_SCHEMA", "BASELINE_SCHEMA", "EXIT_PASS", "EXIT_DRIFT", "EXIT_INPUT", "DEFAULT_ALPHA",
           "DEFAULT_MAX_DET_COST", "GateInputError", "GateRow", "GateResult", "baseline_record", "load_report",
           "load_baseline", "deterministic_runs", "make_baseline", "write_baseline", "checked_ratio", "check",
           "format_table"]
