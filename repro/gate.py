"""The CI regression gate: an audit report checked against a committed baseline.

A *baseline* (schema ``repro.baseline/1``, a JSON file under ``audits/baselines/``) records, from
one trusted audit report: the environment fingerprint, the commit, each variant's mean FID and
its measured noise (``noise_std`` and its components), the cost of determinism per variant, and
the final parameter hash of every deterministic run. ``check`` compares a new report with it:

========== ============ ===================================================================
check      subject      passes when
========== ============ ===================================================================
determinism pair a vs b the deterministic pair is bitwise identical (``identical`` is true);
           variant      and every variant of the baseline and of the report has at least one
                        deterministic pair in the report (missing evidence fails)
runs       variant      every run of the variant completed (none diverged or failed)
fid        variant      ``|fid_mean - base| <= max(k * base_noise_std, min_rel_tol * base)``
det_cost   variant      the interleaved det/nondet step time ratio's interval does not lie above
                        ``max_det_cost`` (``ci_low <= max_det_cost``); a report without the
                        interleaved measurement (``cost[v]["interleaved"]``) is checked on the
                        per-run median ratio ``ratio <= max_det_cost`` as before
strict_hash run id      the final parameter hash equals the baseline's; only where
                        ``repro.fingerprint.matches_for_strict`` says the two environments
                        match, else one ``skip`` row names the differing fields
========== ============ ===================================================================

The FID band follows the noise decomposition of the audit (evaluation, implementation
nondeterminism and seed noise; The FID Lottery, 2026 reports an FID coefficient of variation of
1-2%, which is why the relative floor defaults to 5%: a band never narrower than a few CVs).

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
from repro.io import read_json, write_json

REPORT_SCHEMA = "repro.audit/1"
BASELINE_SCHEMA = "repro.baseline/1"

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
RUN_STATUSES = ("completed", "diverged", "failed")

_REPORT_KEYS = ("schema", "fingerprint", "settings", "runs", "pairs", "variance", "cost")
_BASELINE_KEYS = ("schema", "created", "commit", "fingerprint", "settings", "variants", "cost",
                  "final_param_hashes", "source_report")
_RUN_KEYS = ("id", "variant", "mode", "perturb", "status", "final_param_hash")
_PAIR_KEYS = ("variant", "kind", "a", "b", "identical")
_NOISE_KEYS = ("fid_mean", "noise_std", "eval_std", "nondet_std", "seed_std")
_INTERLEAVED_KEYS = ("ratio", "ci_low", "ci_high", "pairs")


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


def _check_schema(data: Any, source: str, expected: str, keys: Iterable[str]) -> None:
    _require(isinstance(data, dict), source, f"holds a JSON {type(data).__name__}, expected an object")
    _require("schema" in data, source, f"has no 'schema' key; expected schema {expected!r}")
    if data["schema"] != expected:
        other = {REPORT_SCHEMA: "an audit report", BASELINE_SCHEMA: "a baseline"}.get(data["schema"])
        hint = f" (it is {other})" if other else ""
        raise GateInputError(f"{source}: schema {data['schema']!r} is not supported{hint}; expected {expected!r}")
    missing = [key for key in keys if key not in data]
    _require(not missing, source, f"missing required key(s) {', '.join(missing)}")


def _check_entries(entries: Any, source: str, where: str, keys: Iterable[str]) -> None:
    for index, entry in enumerate(entries):
        _require(isinstance(entry, dict), source, f"{where}[{index}] is a {type(entry).__name__}, expected an object")
        missing = [key for key in keys if key not in entry]
        _require(not missing, source, f"{where}[{index}] is missing key(s) {', '.join(missing)}")


def validate_report(report: Any, source: str = "report") -> dict[str, Any]:
    """Check the parts of a ``repro.audit/1`` report the gate reads; raise :class:`GateInputError`
    naming ``source`` and the problem. Returns ``report``."""
    _check_schema(report, source, REPORT_SCHEMA, _REPORT_KEYS)
    for key, kind, name in (("fingerprint", dict, "object"), ("settings", dict, "object"), ("runs", list, "array"),
                            ("pairs", list, "array"), ("variance", dict, "object"), ("cost", dict, "object")):
        _require(isinstance(report[key], kind), source, f"'{key}' must be a JSON {name}")
    _check_entries(report["runs"], source, "runs", _RUN_KEYS)
    _check_entries(report["pairs"], source, "pairs", _PAIR_KEYS)
    for name, entry in report["variance"].items():
        _require(isinstance(entry, dict), source, f"variance[{name!r}] must be an object")
        missing = [key for key in _NOISE_KEYS if key not in entry]
        _require(not missing, source, f"variance[{name!r}] is missing key(s) {', '.join(missing)}")
    for name, entry in report["cost"].items():
        _require(isinstance(entry, dict) and "ratio" in entry, source, f"cost[{name!r}] must be an object with a 'ratio'")
        inter = entry.get("interleaved")
        if inter is not None:
            _require(isinstance(inter, dict) and all(k in inter for k in _INTERLEAVED_KEYS), source,
                     f"cost[{name!r}].interleaved must be an object with keys {', '.join(_INTERLEAVED_KEYS)}")
    for run in report["runs"]:
        _require(run["status"] in RUN_STATUSES, source,
                 f"run {run['id']!r} has status {run['status']!r}; valid statuses: {', '.join(RUN_STATUSES)}")
    return report


def validate_baseline(baseline: Any, source: str = "baseline") -> dict[str, Any]:
    """Check a ``repro.baseline/1`` dict; raise :class:`GateInputError` naming ``source`` and the
    problem. Returns ``baseline``."""
    _check_schema(baseline, source, BASELINE_SCHEMA, _BASELINE_KEYS)
    for key in ("fingerprint", "settings", "variants", "cost", "final_param_hashes"):
        _require(isinstance(baseline[key], dict), source, f"'{key}' must be a JSON object")
    for name, entry in baseline["variants"].items():
        _require(isinstance(entry, dict), source, f"variants[{name!r}] must be an object")
        missing = [key for key in _NOISE_KEYS if key not in entry]
        _require(not missing, source, f"variants[{name!r}] is missing key(s) {', '.join(missing)}")
        for key in ("fid_mean", "noise_std"):
            value = entry[key]
            _require(_is_finite(value) and value >= 0, source,
                     f"variants[{name!r}].{key} must be a finite number >= 0, got {value!r}")
    for name, ratio in baseline["cost"].items():
        _require(ratio is None or _is_number(ratio), source, f"cost[{name!r}] must be a number, got {ratio!r}")
    for run_id, digest in baseline["final_param_hashes"].items():
        _require(isinstance(digest, str) and digest, source,
                 f"final_param_hashes[{run_id!r}] must be a non-empty string, got {digest!r}")
    return baseline


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate an audit report (``DIR/report.json``, schema ``repro.audit/1``)."""
    return validate_report(_read(path, "audit report"), source=f"audit report {os.fspath(path)}")


def load_baseline(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a baseline file (schema ``repro.baseline/1``)."""
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
    """Build a ``repro.baseline/1`` dict from an audit report read from ``source`` (a path, kept as
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
        variants[name] = {key: entry[key] for key in _NOISE_KEYS}
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


def fid_band(base_mean: float, base_noise_std: float, *, k: float, min_rel_tol: float) -> tuple[float, float]:
    """The allowed FID interval: ``base_mean +/- max(k * base_noise_std, min_rel_tol * |base_mean|)``."""
    half = max(k * base_noise_std, min_rel_tol * abs(base_mean))
    return base_mean - half, base_mean + half


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


def _fid_rows(report: dict[str, Any], baseline: dict[str, Any], k: float, min_rel_tol: float) -> list[dict[str, Any]]:
    rows = []
    for name, base in baseline["variants"].items():
        lo, hi = fid_band(base["fid_mean"], base["noise_std"], k=k, min_rel_tol=min_rel_tol)
        allowed = f"[{_fmt(lo)}, {_fmt(hi)}]"
        entry = report["variance"].get(name)
        if entry is None:
            rows.append(_row("fid", name, None, allowed, "fail",
                             f"{name}: variant in the baseline is missing from the report (fid_mean band {allowed})"))
            continue
        value = entry["fid_mean"]
        if not _is_finite(value):
            rows.append(_row("fid", name, value, allowed, "fail",
                             f"{name}: fid_mean is {value!r} (no finite FID: no completed runs?); band {allowed}"))
            continue
        z = (value - base["fid_mean"]) / base["noise_std"] if base["noise_std"] > 0 else math.inf
        shift = f"shift {value - base['fid_mean']:+.4g} from baseline {_fmt(base['fid_mean'])}" + (
            f" = {z:+.2f} noise std" if math.isfinite(z) else "")
        if lo <= value <= hi:
            rows.append(_row("fid", name, value, allowed, "pass", f"{name}: fid_mean {_fmt(value)} within {allowed} ({shift})"))
        else:
            rows.append(_row("fid", name, value, allowed, "fail",
                             f"{name}: fid_mean {_fmt(value)} outside band {allowed} ({shift}; band = baseline "
                             f"+/- max({_fmt(k)} x noise_std {_fmt(base['noise_std'])}, {_fmt(min_rel_tol)} x mean))"))
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
    """Gate ``report`` (``repro.audit/1``) against ``baseline`` (``repro.baseline/1``).

    Args:
        k: FID band half-width in baseline noise standard deviations (FID units per std).
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
