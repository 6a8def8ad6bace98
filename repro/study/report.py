"""The study's report: ``study.md`` with PNG figures, and CSV files for ``dvc plots``.

Figures (Kurach et al. 2019 show the same views):
- ``figures/factor_<factor>.png`` for loss, d_norm, penalty and architecture: box plots of trial
  FID (median over seeds) per level, over every trial and over the top 5% of each level's trials
  (at least one).
- ``figures/budget.png``: FID against budget, per variant. For a grid (Table 1) the budget is k
  settings drawn at random without replacement and the curve is the exact expected minimum FID
  over such draws (order statistics, no resampling); for Bayesian optimisation (Table 2) it is the
  best FID after k trials in the order they ran.

``plots/trials.csv`` (one row per trial) and ``plots/budget.csv`` (variant, budget, fid) are the
data of those figures for ``dvc plots``.
"""

from __future__ import annotations

import csv
import io as _io
import math
from pathlib import Path
from typing import Any

from repro import io
from repro.study import space
from repro.study.seedstats import TOP_FRACTION, expected_min, top


def budget_curves(trials: list[dict[str, Any]], sequential: bool,
                  by_ndis: bool = False) -> dict[str, list[tuple[int, float]]]:
    """variant (``variant n_dis N`` with ``by_ndis``: Table 2's one search per n_dis) -> [(budget k, FID)]
    (see the module doc)."""
    out: dict[str, list[tuple[int, float]]] = {}
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        if t["fid"] is not None:
            key = f"{t['variant']} n_dis {t['n_dis']}" if by_ndis else t["variant"]
            by_variant.setdefault(key, []).append(t)
    for v, ts in by_variant.items():
        if sequential:
            best, curve = math.inf, []
            for k, t in enumerate(sorted(ts, key=lambda t: (t["round"], t["setting"])), start=1):
                best = min(best, t["fid"])
                curve.append((k, best))
        else:
            fids = [t["fid"] for t in ts]
            curve = [(k, expected_min(fids, k)) for k in range(1, len(fids) + 1)]
        out[v] = curve
    return out


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c) for c in columns})
    return buf.getvalue()


def _factor_figure(trials: list[dict[str, Any]], factor: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels: dict[str, list[float]] = {}
    for t in trials:
        if t["fid"] is not None:
            levels.setdefault(str(t[factor]), []).append(t["fid"])
    if not levels:
        return False
    names = sorted(levels)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, title, data in ((axes[0], "all trials", [levels[n] for n in names]),
                            (axes[1], f"top {TOP_FRACTION:.0%} of each level", [top(levels[n]) for n in names])):
        ax.boxplot(data, showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), [f"{n}\n(n={len(levels[n])})" for n in names])
        ax.set_title(title)
    axes[0].set_ylabel("FID (median over seeds)")
    fig.suptitle(f"FID by {factor}")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def _budget_figure(curves: dict[str, list[tuple[int, float]]], sequential: bool, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for v, curve in sorted(curves.items()):
        ax.plot([k for k, _ in curve], [f for _, f in curve], marker="o", ms=3, label=v)
    ax.set_xlabel("trials (Bayesian optimisation, in order)" if sequential else "settings drawn at random (budget)")
    ax.set_ylabel("best FID" if sequential else "expected best FID")
    ax.legend(fontsize=6)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def run_length(spec: dict[str, Any]) -> str:
    """A run's length in both counts, from a study spec (``results.json``'s ``spec``)."""
    if spec.get("d_steps"):
        return (f"{spec['d_steps']} discriminator updates (compare_gan's count), ceil({spec['d_steps']} / n_dis) "
                f"generator steps")
    return f"{spec['steps']} generator steps (x n_dis discriminator updates, the count compare_gan uses)"


def render(doc: dict[str, Any], out: Path, *, caveat: str = "") -> Path:
    """Write ``study.md``, ``figures/`` and ``plots/`` for ``results.json``'s content ``doc`` into ``out``."""
    spec, trials, runs = doc["spec"], doc["trials"], doc["runs"]
    sequential = spec["space"] == "table2"
    ndis = f" and n_dis value (n_dis {', '.join(map(str, spec['ndis']))})" if spec.get("ndis") else ""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    drawn = [f for f in space.FACTORS if _factor_figure(trials, f, out / "figures" / f"factor_{f}.png")]
    curves = budget_curves(trials, sequential, by_ndis=bool(spec.get("ndis")))
    if curves:
        _budget_figure(curves, sequential, out / "figures" / "budget.png")
    cols = ["trial", "variant", "setting", "round", *space.FACTORS, "flags", "lr", "penalty_weight", "beta1",
            "beta2", "n_dis", "n_diverged", "fid"]
    io.write_text(out / "plots" / "trials.csv", _csv(trials, cols))
    io.write_text(out / "plots" / "budget.csv", _csv(
        [{"variant": v, "budget": k, "fid": f} for v, c in sorted(curves.items()) for k, f in c],
        ["variant", "budget", "fid"]))

    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    wall = sum(r.get("wall_time_s") or 0.0 for r in runs)
    lines = [f"# Study: {spec['space']} on {spec['dataset']}", ""]
    if caveat:
        lines += [f"> {caveat}", ""]
    lines += [
        f"- variants ({len(spec['variants'])}): {', '.join(spec['variants'])}",
        f"- space: {spec['space']}" + (f", settings {', '.join(spec['settings'])}" if not sequential
                                       else f", {spec['trials']} trials per variant{ndis} in {spec['rounds']} rounds "
                                            f"(Optuna GPSampler, sampler seed {spec['sampler_seed']})"),
        f"- seeds: {', '.join(map(str, spec['seeds']))}; run length: {run_length(spec)}; "
        f"evaluation seeds per run: {spec['eval_seeds']}",
        f"- runs: {len(runs)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); "
        f"training wall time summed over runs: {wall / 60:.1f} min",
        f"- a diverged run scores the study's worst FID ({_fmt(doc.get('worst_fid'))}); a trial's FID is the "
        f"median over its seeds",
        "",
        "## FID by factor", "",
    ]
    lines += [f"![FID by {f}](figures/factor_{f}.png)" for f in drawn]
    if curves:
        lines += ["", "## FID against budget", "", "![FID against budget](figures/budget.png)"]
    lines += ["", "## Trials (best first)", "",
              "| trial | loss | d_norm | penalty | arch | flags | lr | lambda | beta1 | beta2 | n_dis | FID | per seed |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(trials, key=lambda t: (t["fid"] is None, t["fid"] if t["fid"] is not None else 0.0))
    for t in order:
        per_seed = ", ".join(f"{_fmt(s)}{'*' if st == 'diverged' else ''}"
                             for s, st in zip(t["scores"], t["statuses"]))
        lines.append(f"| {t['trial']} | {t['loss']} | {t['d_norm']} | {t['penalty']} | {t['architecture']} | "
                     f"{t['flags']} | {_fmt(t['lr'])} | {_fmt(t['penalty_weight'])} | {_fmt(t['beta1'])} | "
                     f"{_fmt(t['beta2'])} | {t['n_dis']} | {_fmt(t['fid'])} | {per_seed} |")
    lines += ["", "`*` diverged (scored as the worst FID). Data for `dvc plots`: plots/trials.csv, plots/budget.csv.",
              ""]
    path = out / "study.md"
    io.write_text(path, "\n".join(lines))
    return path


def render_claims(verdicts: list[dict[str, Any]], *, caveat: str = "") -> str:
    """Markdown table of claim verdicts (``claims.md``), then each claim's quote, statistic and caveats."""
    lines = ["# Claims of Kurach et al. 2019, checked on this study", ""]
    if caveat:
        lines += [f"> {caveat}", ""]
    lines += ["Effect = mean over seeds of side A's statistic - side B's (one observation per seed: the statistic "
              "of that seed's FIDs over the side's hyperparameter settings); 95% Welch interval (the reasons say when "
              "the verdict rests on the rank-based comparison instead); seeds needed per side for 80% power at "
              "min_effect, with the range over the 95% interval of the pooled standard deviation.", "",
              "| claim | statistic | expect | outcome | effect | 95% interval | seeds A/B | seeds needed at min_effect "
              "(range) | source |",
              "|---|---|---|---|---|---|---|---|---|"]
    for v in verdicts:
        c = v.get("comparison") or {}
        interval = (f"[{_fmt(c.get('ci_low'))}, {_fmt(c.get('ci_high'))}]" if c.get("ci_low") is not None else "-")
        flag = " (stand-in)" if v.get("caveats") else ""
        lines.append(f"| {v['id']}: {v['text']} | {v.get('statistic', '-')} | {v['expect']} | **{v['outcome']}**"
                     f"{flag} | {_fmt(c.get('diff'))} | {interval} | {c.get('n_seeds_variant', 0)}/"
                     f"{c.get('n_seeds_baseline', 0)} | {_fmt(c.get('seeds_needed_min_effect'))} "
                     f"({_fmt(c.get('seeds_needed_low'))}-{_fmt(c.get('seeds_needed_high'))}) | {v['source']} |")
    lines += ["", "## Each claim", ""]
    for v in verdicts:
        lines += [f"### {v['id']}", "", f"- source: {v['source']}"]
        lines.append(f"- quote: \"{v['quote']}\"" if v.get("quote") else "- quote: none found verbatim (see the "
                     "claim's note in the claims file)")
        if v.get("statistic_text"):
            lines.append(f"- statistic ({v['statistic']}): {v['statistic_text']}"
                         + (f"; threshold FID {_fmt(v.get('threshold'))}" if v.get("threshold") is not None else ""))
        lines += [f"- caveat: {x}" for x in v.get("caveats") or []]
        lines += [f"- why: {v['reason']}", ""]
    return "\n".join(lines)


__all__ = ["TOP_FRACTION", "top", "expected_min", "budget_curves", "run_length", "render", "render_claims"]
