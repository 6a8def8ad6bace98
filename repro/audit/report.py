"""The audit report: ``report.json`` (:class:`repro.audit.schema.Report`), ``report.md`` and the
DVC metrics file. Every number in ``report.md`` comes from the report record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro import io
from repro.arch import archdiff
from repro.audit import schema
from repro.audit.schema import Comparison, Cost, Interleaved, Noise, Report, RunRow
from repro.audit.variance import identical_labels
from repro.stats.bootstrap import bias_dominated

METRICS_DIR = "metrics"


def dvc_metrics(report: Report) -> dict[str, dict[str, Any]]:
    """The numbers ``dvc metrics show/diff`` tracks, one small flat file per variant and one for
    the comparison (``metrics/<name>.json``): a row each in ``dvc metrics show``."""
    out: dict[str, dict[str, Any]] = {}
    for variant, v in report.variance.items():
        c = report.cost.get(variant)
        pairs = [p for p in report.pairs if p.variant == variant and p.kind == "deterministic"]
        out[variant] = {
            "fid_mean": v.fid_mean, "n_seeds": v.n_seeds, "seed_std": v.seed_std, "noise_std": v.noise_std,
            "det_cost": c.interleaved.ratio if c and c.interleaved else (c.ratio if c else None),
            "det_identical": int(all(p.identical for p in pairs)) if pairs else None,
        }
    comp = report.comparison
    out["comparison"] = {"diff": comp.diff, "ci_low": comp.ci_low, "ci_high": comp.ci_high,
                         "p_value": comp.p_value, "verdict": comp.verdict}
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


def _loaded(report: Report) -> list[str]:
    """Runs whose step times spread too widely to trust their timing (IQR above half the median)."""
    out = []
    for v, c in report.cost.items():
        for mode, med, iqr in (("det", c.det_median_step_s, c.det_iqr_s), ("nondet", c.nondet_median_step_s,
                                                                            c.nondet_iqr_s)):
            if med and iqr and (iqr[1] - iqr[0]) > 0.5 * med:
                out.append(f"{v} {mode} (IQR {_f(iqr[0])}-{_f(iqr[1])} s around a median of {_f(med)} s)")
    return out


def _process_caveat(report: Report) -> str:
    """A sentence when a deterministic pair trained in one process on a CPU at more than one
    intra-op thread: such a pair cannot show a result decided once per process, which a 2-thread
    CPU has shown (docs/modes.md); ``repro hunt`` counts hashes over fresh processes."""
    if report.settings.isolation == "process":
        return " Each run trained in its own fresh process."
    ids = {i for p in report.pairs if p.kind == "deterministic" for i in (p.a, p.b)}
    multi = [r for r in report.runs if r.id in ids and str(r.device or "").startswith("cpu") and (r.threads or 0) > 1]
    if not multi:
        return ""
    return (f" These CPU runs used {multi[0].threads} intra-op threads in one process, and a pair trained in one "
            "process cannot show a result that varies from process to process (seen on a 2-thread CPU): "
            "`repro hunt` counts hashes over fresh processes, and `--isolation process` trains each run in its own.")


def summary_lines(report: Report) -> list[str]:
    """The answer first: reproducibility, nondeterminism, cost, the verdict, the environment."""
    det = [p for p in report.pairs if p.kind == "deterministic"]
    nondet = [p for p in report.pairs if p.kind == "nondeterministic"]
    c = report.comparison
    lines = []
    if det:
        ok = all(p.identical for p in det)
        lines.append(f"- **Deterministic runs reproducible here: {'yes' if ok else 'NO'}** "
                     f"({sum(p.identical for p in det)}/{len(det)} same-seed pairs bit-identical)."
                     + (_process_caveat(report) if ok else ""))
    if nondet:
        moved = [p for p in nondet if not p.identical]
        if not moved:
            lines.append("- **Nondeterministic mode changed nothing here**: every nondeterministic replicate is "
                         "bit-identical to its twin (on this device the two modes run the same kernels).")
        else:
            parts = [f"{p.variant}: diverged at step {p.first_divergent_step}, FID {_f(p.fid_a)} vs {_f(p.fid_b)}"
                     for p in moved]
            lines.append("- **Nondeterminism changes results**: " + "; ".join(parts) + ".")
    named = [(p, p.localization.culprit) for p in report.pairs
             if not p.identical and p.localization is not None and p.localization.culprit is not None]
    if named:
        lines.append("- **Where runs part ways**: " + "; ".join(
            f"{p.kind} pair of {p.variant} at `{c.op}` in `{c.module or '(no module)'}` "
            f"(step {c.a.step}, {c.a.phase})" for p, c in named)
            + " (the first op with equal inputs and different outputs; see below).")
    for v, cost in report.cost.items():
        inter = cost.interleaved
        if inter is not None and inter.ratio is not None:
            lines.append(f"- Cost of determinism, {v}: det/nondet step time {_f(inter.ratio)} "
                         f"(95% interval {_f(inter.ci_low)}-{_f(inter.ci_high)}, interleaved).")
        elif cost.ratio is not None:
            lines.append(f"- Cost of determinism, {v}: det/nondet median step time {_f(cost.ratio)} (runs trained "
                         "one after another; no interleaved measurement).")
    lines.append(f"- **{c.variant} vs {c.baseline_variant}: {c.verdict}**: {comparison_text(c)}")
    lines.append("- Environment: " + ", ".join(f"{k} {v}" for k, v in report.fingerprint_summary.items()) + ".")
    odd = [f"{r.id} ({r.threads})" for r in report.runs if r.threads_differ]
    if odd:
        lines.append("- **Thread counts differ** between runs that are compared: " + ", ".join(odd)
                     + "; CPU results depend on the intra-op thread count, so these are not bit-comparable.")
    loaded = _loaded(report)
    if loaded:
        lines.append("- Timing from a loaded machine (step-time spread too wide to trust): " + "; ".join(loaded) + ".")
    return lines


def comparison_text(c: Comparison) -> str:
    if c.diff is None:
        return c.reason + "."
    text = f"mean FID difference {_f(c.diff)}"
    if c.ci_low is not None:
        text += f", 95% Welch interval [{_f(c.ci_low)}, {_f(c.ci_high)}], p = {_f(c.p_value)}"
    text += f", over {c.n_seeds_variant} vs {c.n_seeds_baseline} independent seeds; {c.reason}"
    if c.seeds_needed_min_effect is not None:
        high = c.seeds_needed_high if c.seeds_needed_high is not None else "more than 100000"
        text += (f". Seeds per variant for 80% power at the smallest difference that matters ({_f(c.min_effect)}): "
                 f"{c.seeds_needed_min_effect} (range {c.seeds_needed_low}-{high} over the 95% interval of the "
                 "pooled seed standard deviation)")
    return text + "."


def rank_text(c: Comparison) -> str:
    """The rank-based comparison and the collapse counts, beside Welch (which one decided: ``basis``)."""
    r = c.rank
    if r.shift is None:
        return ""
    interval = (f"[{_f(r.ci_low)}, {_f(r.ci_high)}] ({r.level:.1%})" if r.ci_low is not None
                else "no 95% interval with these seed counts")
    parts = [f"medians {_f(r.median_variant)} vs {_f(r.median_baseline)}; Hodges-Lehmann shift {_f(r.shift)}, "
             f"interval {interval}; Mann-Whitney p = {_f(r.p_value)}"]
    for name, col in ((c.variant, c.collapse_variant), (c.baseline_variant, c.collapse_baseline)):
        if col.collapsed is not None:
            parts.append(f"{name}: {col.collapsed} of {col.known} seeds collapsed ({col.rule})")
    basis = ("the verdict rests on this rank-based comparison" if c.basis == "rank"
             else "the verdict rests on Welch (the per-seed FIDs pass the shape rule)")
    return "Rank-based: " + "; ".join(parts) + f". {basis[0].upper()}{basis[1:]}."


def _runs_table(report: Report) -> list[str]:
    labels = identical_labels(report.runs)
    n_fake = {r.n_fake for r in report.runs if r.n_fake}
    evals = report.settings.eval_seeds
    return ["## Runs", "",
            f"FID is the value the comparison uses: the final checkpoint's FID averaged over the run's {evals} "
            "evaluation seeds (each with "
            + (f"{', '.join(map(str, sorted(n_fake)))} generated samples" if n_fake else "the protocol's samples")
            + "). The bootstrap interval, the minimum over checkpoints (compare_gan's number, a selection that "
            "flatters noisy runs), IS and KID are of evaluation seed 0. KID is unscaled (not x1000), in squared "
            "feature units. Worker: the host and process that trained the run.", "", _table(
                ["run", "status", "steps", "FID", "eval std", "seed-0 FID (95% CI)", "min FID (step)", "IS", "KID",
                 "median step (s)", "threads", "worker", "evidence"],
                [[r.id, r.status + (f" at {r.diverged_step}" if r.diverged_step else ""), r.steps_completed,
                  r.fid_mean_over_eval_seeds, r.fid_eval_std,
                  f"{_f(r.fid)} ({_f(r.fid_ci_low)}-{_f(r.fid_ci_high)})" if r.fid_ci_low is not None else _f(r.fid),
                  f"{_f(r.fid_min)} ({r.fid_min_step})" if r.fid_min is not None else "-",
                  r.is_mean, r.kid_mean, r.median_step_time_s, r.threads,
                  f"{r.worker_host or '-'}:{r.worker_pid or '-'}",
                  labels.get(r.id, "perturbation" if r.perturb else "1 run")]
                 for r in report.runs]), ""]


def _pairs_table(report: Report, figures: list[str]) -> list[str]:
    return ["## Divergence of paired runs", "",
            "Same seed and config; `identical` means every traced full-state hash (parameters, buffers, "
            "optimiser state) and the final parameter hash are equal bit for bit.", "", _table(
                ["variant", "pair", "identical", "first divergent step", "first differing tensors (checkpoint)",
                 "final rel. L2"],
                [[p.variant, f"{p.kind}: {p.a} vs {p.b}", "yes" if p.identical else "no", p.first_divergent_step,
                  (", ".join(p.first_divergent_tensors[:4]) + (" ..." if p.n_divergent_tensors > 4 else "")
                   + f" ({p.n_divergent_tensors} at step {p.checkpoint_step})") if p.checkpoint_step else "-",
                  p.rel_l2[-1][1] if p.rel_l2 else None] for p in report.pairs]), "",
            f"First divergent step: the first step whose traced hash differs (hashes are traced every "
            f"{report.settings.trace_every} steps, so it bounds the first differing update from above).",
            "", *(["![divergence](figures/divergence.png)", ""] if "divergence.png" in figures else [])]


def _parting_section(report: Report) -> list[str]:
    """Where each pair that is not identical parts ways, down to the op (repro localize), and the
    process hunt (repro hunt), when the audit ran one."""
    out = ["## Where the runs part ways", ""]
    differ = [p for p in report.pairs if not p.identical]
    if not differ:
        out += [f"Every pair is bit-identical ({len(report.pairs)} pairs): there is nothing to localise.", ""]
    for p in differ:
        loc = p.localization
        head = f"- **{p.kind}: {p.a} vs {p.b}**: "
        if loc is None:
            why = ("the report was made before the audit localised pairs (upgraded from "
                   f"{report.upgraded_from.get('schema', 'an older schema')})" if report.upgraded_from
                   else "the audit ran with --no-localize")
            out.append(head + f"not localised: {why}; `repro localize` the two run directories names the op")
            continue
        out.append(head + loc.summary())
        if loc.nondeterministic_ops:
            out += ["", "  Every op whose outputs differed on bitwise-equal inputs in the replayed window:", "",
                    "  " + _table(["op", "module", "pass", "times", "first at"],
                                  [[c.op, c.module or "-", "backward" if c.backward else "forward", c.count,
                                    f"step {c.first_step} {c.first_phase}"]
                                   for c in loc.nondeterministic_ops]).replace("\n", "\n  ")]
    if differ:
        out.append("")
    if any(p.localization is not None for p in differ):
        out += ["Each pair is replayed from the last step at which both runs' full states agree, each side "
                "in a fresh process in its own conditions (mode, threads, device), hashing the inputs and outputs "
                "of every op; an op is named only when its inputs are bitwise equal and its outputs are not.", ""]
    for variant, h in report.hunt.items():
        out += [f"Hunt of `{variant}` ({h.processes} fresh processes per thread count, {h.steps} steps each, "
                "deterministic mode):", "", *[f"- {line}" for line in h.summary().splitlines()], ""]
    if report.hunt and any(h.varied for h in report.hunt.values()):
        out += ["A hunt found more than one final hash: the same run does not reproduce from process to process "
                "(`repro gate` fails this).", ""]
    return out


def _component(d: Noise, level: str) -> str:
    comp = d.components.get(level)
    if comp is None or comp.std is None:
        return "-"
    ci = f", {_f(comp.ci_low)}-{_f(comp.ci_high)}" if comp.ci_low is not None else ""
    return f"{_f(comp.std)} ({_f(comp.pct, 2)}%{ci})"


def _noise_section(report: Report) -> list[str]:
    out = ["## FID noise: a nested decomposition", "",
           "Standard deviations of FID (95% generalized confidence interval, exact chi-square where a level is one "
           "mean square; % of the mean FID), from a nested random-effects model over seeds > distinct runs within "
           "a seed (nondeterminism) > evaluation seeds within a run, with bit-identical runs counted once. "
           "Bootstrap: the standard deviation of one run's FID over resampled generated and real samples, shown "
           "beside the model, not part of it: a resampling estimate from the run's own samples, not an "
           "independent measurement of sampling noise (the evaluation component, from fresh generated samples, "
           "is one), and where FID is comparable to or smaller than its bias it overstates the spread by "
           "1.2-1.7x (docs/metrics.md). Per-seed observation: the noise of one seed's FID as the comparison "
           "uses it.", "",
           _table(["variant", "mean FID", "seeds", "runs (distinct)", "seed", "nondeterminism", "evaluation",
                   "per-seed observation", "bootstrap"],
                  [[v, d.fid_mean, d.n_seeds, f"{d.n_runs} ({d.n_distinct_runs if d.n_distinct_runs else '-'})",
                    *(_component(d, level) for level in ("seed", "replicate", "evaluation")),
                    f"{_f(d.noise_std)} ({_f(d.noise_pct, 2)}%)", f"{_f(d.boot_std)} ({_f(d.boot_pct, 2)}%)"]
                   for v, d in report.variance.items()]), ""]
    notes = [f"- {v}, {level}: {comp.note}" for v, d in report.variance.items()
             for level, comp in d.components.items() if comp.note]
    notes += [f"- {v}: thread perturbation changed FID by {_f(d.threads_fid_delta)}: {d.threads_note}."
              for v, d in report.variance.items() if d.threads_fid_delta is not None]
    notes += [f"- {v}: {d.note}" for v, d in report.variance.items() if d.note]
    flagged = [r.id for r in report.runs if bias_dominated(r.fid, r.fid_boot_bias)]
    if flagged:
        notes.append("- Bootstrap over-covers and overstates the spread (FID below 3x its bootstrap bias): "
                     + ", ".join(flagged) + ".")
    return out + ([*notes, ""] if notes else [])


def _selection_section(report: Report) -> list[str]:
    rows = []
    for v, d in report.variance.items():
        s = d.selection
        if s is None:
            continue
        rows.append([v, s.n_seeds, s.mean_drop, f"{_f(s.ci_low)}-{_f(s.ci_high)}" if s.ci_low is not None else "-",
                     ", ".join(_f(x) for x in s.drops)])
    return ["## Selection effect of the best checkpoint", "",
            "How much compare_gan's minimum over checkpoints lowers FID against the final checkpoint, per seed "
            "(deterministic replicate 0, evaluation seed 0).", "",
            _table(["variant", "seeds", "mean drop", "95% interval", "per seed"], rows), ""]


def _interleaved(entry: Interleaved | None) -> str:
    if entry is None:
        return "-"
    if entry.ratio is None:
        return f"- ({entry.diverged or 'not measured'})"
    return f"{_f(entry.ratio)} ({_f(entry.ci_low)}-{_f(entry.ci_high)}, {entry.pairs})"


def _iqr(q: list[float] | None) -> str:
    return f"{_f(q[0])}-{_f(q[1])}" if q else "-"


def _cost_section(costs: dict[str, Cost]) -> list[str]:
    return ["## Cost of determinism", "",
            "Interleaved: one model in one process, deterministic and nondeterministic steps alternating, "
            "ratio of median step times with a bootstrap interval over step pairs (what `repro gate` checks). "
            "Per run: the runs' own step times, trained one after another (moved by changes of machine load).",
            "", _table(
                ["variant", "interleaved det/nondet (95% interval, pairs)", "det median step (s)", "det IQR",
                 "nondet median step (s)", "nondet IQR", "per-run det/nondet", "det wall (s)", "nondet wall (s)"],
                [[v, _interleaved(d.interleaved), d.det_median_step_s, _iqr(d.det_iqr_s), d.nondet_median_step_s,
                  _iqr(d.nondet_iqr_s), d.ratio, d.det_wall_s, d.nondet_wall_s] for v, d in costs.items()]), ""]


def render_markdown(report: Report, figures: list[str] = ()) -> str:
    """A human report from the report record.

    ``figures``: names of the PNG files present in the report's ``figures/`` folder.
    """
    s, c = report.settings, report.comparison
    out = [f"# repro audit: {s.variant} vs {s.baseline_variant}", "",
           f"Created {report.created} by `{report.command}` (plan {report.plan.id}).", "",
           "## Summary", "", *summary_lines(report), "",
           f"Dataset `{s.dataset}` at {s.resolution}x{s.resolution}x{s.channels}, width {s.width:g}, batch "
           f"{s.batch_size}, {s.steps} generator steps per run; {s.replicates} replicates per mode of seed {s.seed}"
           + (f", extra seeds {s.extra_seeds}" if s.extra_seeds else "")
           + (f", perturbations {s.perturb}" if s.perturb else "")
           + f"; {s.eval_seeds} evaluation seeds per run; runs isolated: {s.isolation}.", ""]
    out += ["## Verdict", "", f"**{c.verdict}**. {comparison_text(c)}", "",
            *([rank_text(c), ""] if rank_text(c) else []),
            f"Evidence: one FID per independent training seed ({c.per_seed_source or c.per_seed}); "
            f"seeds {c.seeds_variant} vs {c.seeds_baseline}; bit-identical runs count once. "
            f"Method: {c.method}. Verdict rule: `real difference` when the 95% interval of the basis (Welch, or "
            "rank-based when a side mixes collapsed and trained seeds or fails a normality test) excludes 0; "
            "`within noise` when its 90% interval lies inside +-min_effect (two one-sided tests); `inconclusive` "
            "otherwise or with fewer than 3 seeds a side.", ""]
    out += _runs_table(report)
    out += _pairs_table(report, list(figures))
    out += _parting_section(report)
    out += _noise_section(report)
    out += _selection_section(report)
    out += _cost_section(report.cost)
    out += ["## Architecture differences", "",
            f"Each section says the resolution, channels and width it was built at; the runs trained at "
            f"{s.resolution}x{s.resolution}x{s.channels}, width {s.width:g} (width 1 is the paper's).", ""]
    for title, result in report.archdiff.items():
        out += archdiff.format_markdown(title, result)
    out += ["## Figures", ""]
    shown = [f for f in figures if f != "divergence.png"]
    out += [f"![{Path(f).stem}](figures/{f})" + (
        f" ({f[len('samples_'):-len('.png')]}: the final checkpoint, step {s.steps}, of the best, median and worst "
        "seed by FID, each labelled)" if f.startswith("samples_") else "") for f in shown] or [
        "(no other figure files)"]
    return "\n".join(out) + "\n"


def figure_files(out_dir: str | Path) -> list[str]:
    folder = Path(out_dir) / "figures"
    return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


def write_metrics(report: Report, out_dir: Path) -> None:
    for name, values in dvc_metrics(report).items():
        io.write_json(out_dir / METRICS_DIR / f"{name}.json", values)


def write_all(report: Report, out_dir: Path) -> None:
    """report.json, report.md and the DVC metrics files, each atomically (the plot CSVs:
    :func:`repro.audit.plotdata.write_plot_data`)."""
    io.write_json(out_dir / "report.json", schema.to_dict(report))
    io.write_text(out_dir / "report.md", render_markdown(report, figure_files(out_dir)))
    write_metrics(report, out_dir)


def load(path: str | Path) -> Report:
    """Read ``report.json`` into a :class:`repro.audit.schema.Report` (checked)."""
    return schema.report_from_dict(io.read_json(path, "audit report"), f"audit report {path}")


def primary_run(report: Report, variant: str, mode: str = "deterministic") -> RunRow:
    return report.run(report.plan.primary(variant, mode).id)
