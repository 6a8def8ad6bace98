"""The audit report: ``report.json`` (schema ``repro.audit/1``), ``report.md`` and DVC files."""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path
from typing import Any

from repro import io

SCHEMA = "repro.audit/1"
RUN_METRIC_KEYS = ("fid", "fid_ci_low", "fid_ci_high", "fid_eval_std", "is_mean", "is_std", "kid_mean", "kid_std",
                   "fid_min", "fid_min_step")


def run_row(spec, record: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any]:
    """One flat row per run (see the schema in README / repro.gate)."""
    row = {
        "id": spec.id, "variant": spec.variant, "mode": spec.mode, "seed": spec.seed, "replicate": spec.replicate,
        "perturb": spec.perturb, "status": record.get("status"), "steps_completed": record.get("steps_completed"),
        "diverged_step": record.get("diverged_step"), "final_param_hash": record.get("final_param_hash"),
        "median_step_time_s": record.get("median_step_time_s"), "wall_time_s": record.get("wall_time_s"),
        "threads": (record.get("execution") or {}).get("threads"), "device": record.get("device"),
    }
    for key in RUN_METRIC_KEYS:
        row[key] = (metrics or {}).get(key)
    return row


def dvc_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """The nested numbers ``dvc metrics show/diff`` tracks (kept small and stable)."""
    out: dict[str, Any] = {}
    for variant, v in report["variance"].items():
        c = report["cost"].get(variant, {})
        pairs = [p for p in report["pairs"] if p["variant"] == variant and p["kind"] == "deterministic"]
        out[variant] = {
            "fid_mean": v.get("fid_mean"), "noise_std": v.get("noise_std"), "eval_std": v.get("eval_std"),
            "nondet_std": v.get("nondet_std"), "seed_std": v.get("seed_std"),
            "det_cost_ratio": c.get("ratio"),
            "det_cost_interleaved": (c.get("interleaved") or {}).get("ratio"),
            "det_pairs_identical": int(all(p["identical"] for p in pairs)) if pairs else None,
        }
    comp = report.get("comparison") or {}
    if "fid_diff" in comp:
        out["comparison"] = {"fid_diff": comp["fid_diff"], "band": comp["band"]}
    return out


def divergence_csv(report: dict[str, Any]) -> str:
    """Wide CSV: step, then one relative-L2 column per pair (for ``dvc plots``)."""
    cols = {f"{p['variant']}:{p['kind']}": dict(map(tuple, p["rel_l2"])) for p in report["pairs"]}
    steps = sorted({s for c in cols.values() for s in c})
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", *cols])
    for s in steps:
        w.writerow([s, *(repr(c.get(s, "")) if c.get(s) is not None else "" for c in cols.values())])
    return buf.getvalue()


def losses_csv(traces: dict[str, list[dict]]) -> str:
    """Wide CSV: step, then d_loss and g_loss per run (for ``dvc plots``)."""
    labels = list(traces)
    by_step: dict[int, dict[str, float]] = {}
    for label, rows in traces.items():
        for r in rows:
            if "d_loss" in r:
                by_step.setdefault(r["step"], {})[f"{label}:d_loss"] = r["d_loss"]
                by_step[r["step"]][f"{label}:g_loss"] = r["g_loss"]
    header = ["step", *(f"{lab}:{k}" for lab in labels for k in ("d_loss", "g_loss"))]
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for s in sorted(by_step):
        w.writerow([s, *(by_step[s].get(h, "") for h in header[1:])])
    return buf.getvalue()


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], figures: list[str] = ()) -> str:
    """A human report from ``report.json`` (every number in it comes from that file).

    ``figures``: names of the PNG files present in the report's ``figures/`` folder.
    """
    s = report["settings"]
    fp = report.get("fingerprint_summary", {})
    out = [f"# repro audit: {s['variant']} vs {s['baseline_variant']}", "",
           f"Created {report['created']} by `{report['command']}`.", "",
           f"Dataset `{s['dataset']}`, {s['steps']} generator steps per run, {s['replicates']} replicates per mode, "
           f"seed {s['seed']}" + (f", extra seeds {s['extra_seeds']}" if s["extra_seeds"] else "")
           + (f", perturbations {s['perturb']}" if s["perturb"] else "") + ".", "",
           "Environment: " + ", ".join(f"{k} {v}" for k, v in fp.items()), ""]

    out += ["## Verdict", "", report["comparison"].get("verdict", "-"), ""]

    out += ["## Runs", "", "FID is of the final checkpoint; compare_gan reports the minimum over checkpoints "
            "instead, a selection that flatters noisy runs: both are shown.", "", _table(
        ["run", "status", "steps", "FID", "95% CI", "min FID over checkpoints (step)", "eval std", "IS", "KID",
         "median step (s)", "threads"],
        [[r["id"], r["status"] + (f" at {r['diverged_step']}" if r.get("diverged_step") else ""),
          r["steps_completed"], r["fid"],
          f"{_f(r['fid_ci_low'])}-{_f(r['fid_ci_high'])}" if r["fid_ci_low"] is not None else "-",
          f"{_f(r['fid_min'])} ({r['fid_min_step']})" if r.get("fid_min") is not None else "-",
          r["fid_eval_std"], r["is_mean"], r["kid_mean"], r["median_step_time_s"], r["threads"]]
         for r in report["runs"]]), ""]

    out += ["## Divergence of paired runs", "",
            "Same seed and config; `identical` means every traced full-state hash (parameters, buffers, "
            "optimiser state) and the final parameter hash are equal bit for bit.", "", _table(
                ["variant", "pair", "identical", "first divergent step", "first differing tensors (checkpoint)",
                 "final rel. L2"],
                [[p["variant"], f"{p['kind']}: {p['a']} vs {p['b']}", "yes" if p["identical"] else "no",
                  p["first_divergent_step"],
                  (", ".join(p["first_divergent_tensors"][:4]) + (" ..." if p["n_divergent_tensors"] > 4 else "")
                   + f" ({p['n_divergent_tensors']} at step {p['checkpoint_step']})") if p["checkpoint_step"] else "-",
                  p["rel_l2"][-1][1] if p["rel_l2"] else None] for p in report["pairs"]]), "",
            "First divergent step: the first step whose traced hash differs (hashes are traced every "
            f"{_trace_every(report['settings'])} steps, so it bounds the first differing update from above).",
            "", *(["![divergence](figures/divergence.png)", ""] if "divergence.png" in figures else [])]

    out += ["## FID variance decomposition", "",
            "Standard deviations of FID, and as a percentage of the mean FID. Evaluation: FID over "
            "evaluation seeds (RMS over runs); bootstrap: 95% interval over generated samples / 3.92; "
            "nondeterminism: nondeterministic replicates, same seed; seed: deterministic runs, different seeds.", "",
            _table(["variant", "mean FID", "runs", "evaluation", "bootstrap", "nondeterminism", "seed", "total",
                    "threads=1 FID change"],
                   [[v, d.get("fid_mean"), d.get("n_runs"),
                     f"{_f(d.get('eval_std'))} ({_f(d.get('eval_pct'), 2)}%)",
                     f"{_f(d.get('bootstrap_std'))} ({_f(d.get('bootstrap_pct'), 2)}%)",
                     f"{_f(d.get('nondet_std'))} ({_f(d.get('nondet_pct'), 2)}%)",
                     f"{_f(d.get('seed_std'))} ({_f(d.get('seed_pct'), 2)}%)",
                     f"{_f(d.get('noise_std'))} ({_f(d.get('noise_pct'), 2)}%)", d.get("threads_fid_delta")]
                    for v, d in report["variance"].items()]), ""]
    c = report["comparison"]
    if "fid_diff" in c:
        out += [f"FID difference {c['variant']} - {c['baseline_variant']}: {_f(c['fid_diff'])}; noise band "
                f"+/-{_f(c['band'])} ({c['band_rule']}); test: {c['test']}"
                + (f", p = {_f(c['p_value'])}" if c["p_value"] is not None else "") + ".", ""]

    out += ["## Cost of determinism", "",
            "Interleaved: one model in one process, deterministic and nondeterministic steps alternating, "
            "ratio of median step times with a bootstrap interval over step pairs (what `repro gate` checks). "
            "Per run: the runs' own step times, trained one after another (moved by changes of machine load).",
            "", _table(
        ["variant", "interleaved det/nondet (95% interval, pairs)", "det median step (s)", "det IQR",
         "nondet median step (s)", "nondet IQR", "per-run det/nondet", "det wall (s)", "nondet wall (s)"],
        [[v, _interleaved(d.get("interleaved")), d["det_median_step_s"], _iqr(d["det_iqr_s"]),
          d["nondet_median_step_s"], _iqr(d["nondet_iqr_s"]), d["ratio"], d["det_wall_s"], d["nondet_wall_s"]]
         for v, d in report["cost"].items()]), ""]

    out += ["## Architecture differences", ""]
    for title, diff in report["archdiff"].items():
        out += _archdiff_section(title, diff)
    out += ["## Figures", ""]
    shown = [f for f in figures if f != "divergence.png"]
    out += [f"![{Path(f).stem}](figures/{f})" for f in shown] or ["(no other figure files)"]
    return "\n".join(out) + "\n"


def _archdiff_section(title: str, diff: dict[str, Any]) -> list[str]:
    """One archdiff result: counts, conformance, the difference table; against the SNGAN code, the
    differences the paper lists and, in their own section, those it did not list."""
    out = [f"### {title}", ""]
    if "error" in diff:
        return out + [f"Not comparable: {diff['error']}.", ""]
    rows = diff.get("rows", [])
    params = "; ".join(f"{side}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                       for side, counts in diff.get("params", {}).items())
    out += [f"{len(rows)} structural difference(s). Parameters: {params}.", ""]
    if "conformance" in diff:
        c = diff["conformance"]
        out += [f"Same structure; with weights transplanted (float64, width {_f(c.get('width'))}) the outputs differ "
                f"by at most {_f(c['generator_max_abs_diff'])} (generator, outputs up to "
                f"{_f(c.get('generator_max_abs'))}) and {_f(c['discriminator_max_abs_diff'])} (discriminator, "
                f"logits up to {_f(c.get('discriminator_max_abs'))}).", ""]
    label = f"{diff.get('a', diff.get('variant'))} -> {diff.get('b', diff.get('reference'))}"
    sections = ([("differences the paper lists (its six flags)", diff["listed"]),
                 ("differences the paper did not list", diff["unlisted"])] if "unlisted" in diff
                else [(None, rows)])
    for heading, section_rows in sections:
        if heading:
            out += [f"#### {heading}", ""]
        if section_rows:
            out += [_table(["difference", label], [[r["kind"], r["what"]] for r in section_rows]), ""]
        elif heading:
            out += ["None.", ""]
    return out


def _trace_every(settings: dict[str, Any]) -> str:
    value = settings.get("trace_every") or settings.get("overrides", {}).get("trace_every")
    return str(value) if value else "trace_every"


def _interleaved(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("ratio") is None:
        return "-" if not entry else f"- ({entry.get('diverged', 'not measured')})"
    return f"{_f(entry['ratio'])} ({_f(entry['ci_low'])}-{_f(entry['ci_high'])}, {entry['pairs']})"


def _iqr(q: list[float] | None) -> str:
    return f"{_f(q[0])}-{_f(q[1])}" if q else "-"


def figure_files(out_dir: str | Path) -> list[str]:
    folder = Path(out_dir) / "figures"
    return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


def write_all(report: dict[str, Any], out_dir: Path, traces: dict[str, list[dict]]) -> None:
    """report.json, report.md, metrics.json (DVC metrics) and plots/*.csv, each atomically."""
    io.write_json(out_dir / "report.json", report)
    io.write_text(out_dir / "report.md", render_markdown(report, figure_files(out_dir)))
    io.write_json(out_dir / "metrics.json", dvc_metrics(report))
    io.write_text(out_dir / "plots" / "divergence.csv", divergence_csv(report))
    io.write_text(out_dir / "plots" / "losses.csv", losses_csv(traces))


def load(path: str | Path) -> dict[str, Any]:
    report = io.read_json(path, "audit report")
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not an audit report with schema {SCHEMA!r}")
    return report
