"""The audit report: ``report.json`` (schema :data:`repro.audit.schema.REPORT_SCHEMA`), ``report.md`` and DVC files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro import io
from repro.audit import schema
from repro.audit.variance import identical_labels

RUN_METRIC_KEYS = ("fid", "fid_eval_values", "fid_eval_std", "fid_ci_low", "fid_ci_high", "fid_boot_std",
                   "fid_boot_bias", "is_mean", "is_std", "kid_mean", "kid_std", "fid_min", "fid_min_step", "n_fake")


def run_row(spec, record: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, Any]:
    """One flat row per run (:class:`repro.audit.schema.RunRow`)."""
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
            "fid_mean": v.get("fid_mean"), "n_seeds": v.get("n_seeds"), "noise_std": v.get("noise_std"),
            "eval_std": v.get("eval_std"), "nondet_std": v.get("nondet_std"), "seed_std": v.get("seed_std"),
            "selection_drop": (v.get("selection") or {}).get("mean_drop"),
            "det_cost_ratio": c.get("ratio"),
            "det_cost_interleaved": (c.get("interleaved") or {}).get("ratio"),
            "det_pairs_identical": int(all(p["identical"] for p in pairs)) if pairs else None,
        }
    comp = report.get("comparison") or {}
    out["comparison"] = {k: comp.get(k) for k in ("diff", "ci_low", "ci_high", "p_value", "seeds_needed")}
    return out


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


def _loaded(report: dict[str, Any]) -> list[str]:
    """Runs whose step times spread too widely to trust their timing (IQR above half the median)."""
    out = []
    for v, c in report["cost"].items():
        for mode in ("det", "nondet"):
            med, iqr = c.get(f"{mode}_median_step_s"), c.get(f"{mode}_iqr_s")
            if med and iqr and (iqr[1] - iqr[0]) > 0.5 * med:
                out.append(f"{v} {mode} (IQR {_f(iqr[0])}-{_f(iqr[1])} s around a median of {_f(med)} s)")
    return out


def _process_caveat(report: dict[str, Any]) -> str:
    """A sentence when a deterministic pair ran on a CPU at more than one intra-op thread: a pair
    trained in one process cannot show a race decided once per process, which CI's CPU has shown
    (docs/modes.md, "A deterministic run that was not repeatable"); ``benchmarks/process_repeat.py``
    counts that across fresh processes."""
    ids = {i for p in report["pairs"] if p["kind"] == "deterministic" for i in (p["a"], p["b"])}
    multi = [r for r in report["runs"] if r["id"] in ids and str(r.get("device") or "").startswith("cpu")
             and (r.get("threads") or 0) > 1]
    if not multi:
        return ""
    return (f" These CPU runs used {multi[0]['threads']} intra-op threads, and a pair trained in one process "
            "cannot show a result that varies from process to process (seen on a 2-thread CPU): "
            "`benchmarks/process_repeat.py` counts hashes over fresh processes.")


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The answer first: reproducibility, nondeterminism, cost, the verdict, the environment."""
    pairs = report["pairs"]
    det = [p for p in pairs if p["kind"] == "deterministic"]
    nondet = [p for p in pairs if p["kind"] == "nondeterministic"]
    c = report["comparison"]
    fp = report.get("fingerprint_summary", {})
    lines = []
    if det:
        ok = all(p["identical"] for p in det)
        lines.append(f"- **Deterministic runs reproducible here: {'yes' if ok else 'NO'}** "
                     f"({sum(p['identical'] for p in det)}/{len(det)} same-seed pairs bit-identical)."
                     + (_process_caveat(report) if ok else ""))
    if nondet:
        moved = [p for p in nondet if not p["identical"]]
        if not moved:
            lines.append("- **Nondeterministic mode changed nothing here**: every nondeterministic replicate is "
                         "bit-identical to its twin (on this device the two modes run the same kernels).")
        else:
            parts = [f"{p['variant']}: diverged at step {p['first_divergent_step']}, FID "
                     f"{_f(p['fid_a'])} vs {_f(p['fid_b'])}" for p in moved]
            lines.append("- **Nondeterminism changes results**: " + "; ".join(parts) + ".")
    for v, cost in report["cost"].items():
        inter = cost.get("interleaved") or {}
        if inter.get("ratio") is not None:
            lines.append(f"- Cost of determinism, {v}: det/nondet step time {_f(inter['ratio'])} "
                         f"(95% interval {_f(inter['ci_low'])}-{_f(inter['ci_high'])}, interleaved).")
        elif cost.get("ratio") is not None:
            lines.append(f"- Cost of determinism, {v}: det/nondet median step time {_f(cost['ratio'])} (runs trained "
                         "one after another; no interleaved measurement).")
    lines.append(f"- **{c['variant']} vs {c['baseline_variant']}: {c['verdict']}**: {_comparison_text(c)}")
    lines.append("- Environment: " + ", ".join(f"{k} {v}" for k, v in fp.items()) + ".")
    odd = [f"{r['id']} ({r['threads']})" for r in report["runs"] if r.get("threads_differ")]
    if odd:
        lines.append("- **Thread counts differ** between runs that are compared: " + ", ".join(odd)
                     + "; CPU results depend on the intra-op thread count, so these are not bit-comparable.")
    loaded = _loaded(report)
    if loaded:
        lines.append("- Timing from a loaded machine (step-time spread too wide to trust): " + "; ".join(loaded) + ".")
    return lines


def _comparison_text(c: dict[str, Any]) -> str:
    if c.get("diff") is None:
        return c["reason"] + "."
    text = f"mean FID difference {_f(c['diff'])}"
    if c.get("ci_low") is not None:
        text += f", 95% interval [{_f(c['ci_low'])}, {_f(c['ci_high'])}], p = {_f(c['p_value'])}"
    text += f", over {c['n_seeds_variant']} vs {c['n_seeds_baseline']} independent seeds; {c['reason']}"
    if c.get("seeds_needed") is not None:
        text += (f". Seeds per variant for 80% power: {c['seeds_needed']} at the observed difference"
                 + (f", {c['seeds_needed_min_effect']} at the smallest difference that matters ({_f(c['min_effect'])})"
                    if c.get("seeds_needed_min_effect") is not None else ""))
    return text + "."


def render_markdown(report: dict[str, Any], figures: list[str] = ()) -> str:
    """A human report from ``report.json`` (every number in it comes from that file).

    ``figures``: names of the PNG files present in the report's ``figures/`` folder.
    """
    s = report["settings"]
    c = report["comparison"]

    labels = identical_labels(report["runs"])
    out = [f"# repro audit: {s['variant']} vs {s['baseline_variant']}", "",
           f"Created {report['created']} by `{report['command']}` (plan {report['plan'].get('id', '-')}).", "",
           "## Summary", "", *summary_lines(report), "",
           f"Dataset `{s['dataset']}` at {s.get('resolution', '-')} px, width {s.get('width', '-')}, batch "
           f"{s.get('batch_size', '-')}, {s['steps']} generator steps per run; {s['replicates']} replicates per mode "
           f"of seed {s['seed']}" + (f", extra seeds {s['extra_seeds']}" if s["extra_seeds"] else "")
           + (f", perturbations {s['perturb']}" if s["perturb"] else "") + f"; {s['eval_seeds']} evaluation "
           "seeds per run.", ""]

    out += ["## Verdict", "", f"**{c['verdict']}**. {_comparison_text(c)}", "",
            f"Evidence: one FID per independent training seed ({c.get('per_seed_source', c['per_seed'])}); "
            f"seeds {c.get('seeds_variant')} vs {c.get('seeds_baseline')}; bit-identical runs count once. "
            f"Method: {c['method']}. Verdict rule: `real difference` when the interval excludes 0; "
            "`within noise` when it includes 0 and the design had 80% power to see the smallest difference that "
            "matters; `inconclusive` otherwise or with fewer than 3 seeds a side.", ""]

    n_fake = {r.get("n_fake") for r in report["runs"] if r.get("n_fake")}
    out += ["## Runs", "", "FID is of the final checkpoint under evaluation seed 0 (each with "
            + (f"{', '.join(map(str, sorted(n_fake)))} generated samples" if n_fake else "the protocol's samples")
            + "); compare_gan reports the minimum over checkpoints instead, a selection that flatters noisy runs: "
            "both are shown. KID is unscaled (not x1000), in squared feature units.", "", _table(
        ["run", "status", "steps", "FID", "95% CI", "min FID over checkpoints (step)", "eval std", "IS", "KID",
         "median step (s)", "threads", "evidence"],
        [[r["id"], r["status"] + (f" at {r['diverged_step']}" if r.get("diverged_step") else ""),
          r["steps_completed"], r["fid"],
          f"{_f(r['fid_ci_low'])}-{_f(r['fid_ci_high'])}" if r["fid_ci_low"] is not None else "-",
          f"{_f(r['fid_min'])} ({r['fid_min_step']})" if r.get("fid_min") is not None else "-",
          r["fid_eval_std"], r["is_mean"], r["kid_mean"], r["median_step_time_s"], r["threads"],
          labels.get(r["id"], "perturbation" if r.get("perturb") else "1 run")]
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

    out += ["## FID noise: a nested decomposition", "",
            "Standard deviations of FID (95% interval; % of the mean FID), from a nested random-effects model "
            "over seeds > distinct runs within a seed (nondeterminism) > evaluation seeds within a run, with "
            "bit-identical runs counted once. Bootstrap: the standard deviation of FID over resampled generated and "
            "real samples (one run's finite-sample noise, shown beside the model, not part of it). Per-seed "
            "observation: the noise of one seed's FID as the comparison uses it.", "",
            _table(["variant", "mean FID", "seeds", "runs (distinct)", "seed", "nondeterminism", "evaluation",
                    "per-seed observation", "bootstrap"],
                   [[v, d.get("fid_mean"), d.get("n_seeds"), f"{d.get('n_runs')} ({d.get('n_distinct_runs', '-')})",
                     *(_component(d, level) for level in ("seed", "replicate", "evaluation")),
                     f"{_f(d.get('noise_std'))} ({_f(d.get('noise_pct'), 2)}%)",
                     f"{_f(d.get('boot_std'))} ({_f(d.get('boot_pct'), 2)}%)"]
                    for v, d in report["variance"].items()]), ""]
    notes = [f"- {v}, {level}: {comp['note']}" for v, d in report["variance"].items()
             for level, comp in (d.get("components") or {}).items() if comp.get("note")]
    notes += [f"- {v}: thread perturbation changed FID by {_f(d['threads_fid_delta'])}: {d['threads_note']}."
              for v, d in report["variance"].items() if d.get("threads_fid_delta") is not None]
    out += [*notes, ""] if notes else []

    out += ["## Selection effect of the best checkpoint", "",
            "How much compare_gan's minimum over checkpoints lowers FID against the final checkpoint, per seed "
            "(deterministic replicate 0, evaluation seed 0).", "",
            _table(["variant", "seeds", "mean drop", "95% interval", "per seed"],
                   [[v, sel.get("n_seeds"), sel.get("mean_drop"),
                     f"{_f(sel['ci_low'])}-{_f(sel['ci_high'])}" if sel.get("ci_low") is not None else "-",
                     ", ".join(_f(x) for x in sel.get("drops", []))]
                    for v, d in report["variance"].items() for sel in [d.get("selection") or {}]]), ""]

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

    out += ["## Architecture differences", "",
            "Built at the paper's widths (width 1) and the run's resolution, not at the trained width "
            f"{s.get('width', '-')}: structure is what is compared; parameter counts are those of the paper's models.",
            ""]
    for title, diff in report["archdiff"].items():
        out += _archdiff_section(title, diff)
    out += ["## Figures", ""]
    shown = [f for f in figures if f != "divergence.png"]
    out += [f"![{Path(f).stem}](figures/{f})" + (
        f" (final checkpoint, step {s['steps']}, of {f[len('samples_'):-len('.png')]}/deterministic-s{s['seed']}-r0)"
        if f.startswith("samples_") else "") for f in shown] or ["(no other figure files)"]
    return "\n".join(out) + "\n"


def _component(d: dict[str, Any], level: str) -> str:
    comp = (d.get("components") or {}).get(level) or {}
    if comp.get("std") is None:
        return "-"
    ci = f", {_f(comp['ci_low'])}-{_f(comp['ci_high'])}" if comp.get("ci_low") is not None else ""
    return f"{_f(comp['std'])} ({_f(comp.get('pct'), 2)}%{ci})"


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
    """report.json, report.md and metrics.json (DVC metrics), each atomically (the plot CSVs:
    :func:`repro.audit.plotdata.write_plot_data`)."""
    io.write_json(out_dir / "report.json", report)
    io.write_text(out_dir / "report.md", render_markdown(report, figure_files(out_dir)))
    io.write_json(out_dir / "metrics.json", dvc_metrics(report))


def load(path: str | Path) -> dict[str, Any]:
    """Read ``report.json`` and check it against :class:`repro.audit.schema.Report`."""
    return schema.validate_report(io.read_json(path, "audit report"), f"audit report {path}")
