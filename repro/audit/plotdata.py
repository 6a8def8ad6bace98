"""Plot data of an audit for ``dvc plots``: one CSV per variant and quantity, one column per series.

DVC draws one line per (file, column) that ``dvc.yaml`` names under ``y``, so the columns are
fixed roles rather than names built from the data; the variant is the folder. Layout, under
``OUT/plots/<variant>/``:

- ``divergence.csv``: ``step`` and the relative L2 distance of the parameters of each pair of
  the same seed, by pair kind: ``deterministic`` and ``nondeterministic`` (replicate 0 against
  replicate 1; further replicates get ``... rN`` columns), ``threads`` (against the one-thread rerun).
  0 means bitwise identical.
- ``d_loss.csv``, ``g_loss.csv``: ``step`` and the loss of replicate 0 of the main seed per mode
  (``deterministic``, ``nondeterministic``), at every traced step.
- ``fid.csv``: ``step`` and the FID at each checkpoint of the main seed's replicate 0 per mode
  (``deterministic``, ``nondeterministic``), of the one-thread rerun (``threads``), and over the
  deterministic replicate 0 of every seed (``seed_mean``, ``seed_min``, ``seed_max``; seeds are
  the unit of evidence).

A cell is empty where a series has no value at that step (a run without that checkpoint).
"""

from __future__ import annotations

import csv
import io as _io
import statistics
from pathlib import Path

from repro import io
from repro.audit.schema import Report, RunRow

MODES = ("deterministic", "nondeterministic")
FID_SAME_SEED = ("deterministic", "nondeterministic", "threads")
FID_SEEDS = ("seed_mean", "seed_min", "seed_max")


def fid_by_step(row: RunRow) -> dict[int, float]:
    """``{step: FID}`` of a run's checkpoints (evaluation seed 0)."""
    return {c.step: c.fid for c in sorted(row.checkpoints, key=lambda c: c.step)}


def _csv(columns: dict[str, dict[int, float]]) -> str:
    steps = sorted({s for col in columns.values() for s in col})
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", *columns])
    for s in steps:
        w.writerow([s, *(repr(float(col[s])) if s in col else "" for col in columns.values())])
    return buf.getvalue()


def divergence_columns(report: Report, variant: str) -> dict[str, dict[int, float]]:
    cols: dict[str, dict[int, float]] = {}
    for p in (p for p in report.pairs if p.variant == variant):
        name = p.kind if p.kind not in cols else f"{p.kind} {_suffix(p.b)}"  # the first is r0 vs r1
        cols[name] = {int(s): float(v) for s, v in p.rel_l2 if v is not None}
    return cols


def _suffix(run_id: str) -> str:
    return run_id.rsplit("-", 1)[-1]  # resnet_all/nondeterministic-s0-r2 -> r2


def loss_columns(traces: dict[str, list[dict]], variant: str, key: str) -> dict[str, dict[int, float]]:
    """``traces`` maps ``"<variant>/<mode>"`` to the trace rows of that mode's primary run."""
    return {mode: {int(r["step"]): float(r[key]) for r in traces.get(f"{variant}/{mode}", [])
                   if r.get(key) is not None}
            for mode in MODES}


def fid_columns(report: Report, variant: str) -> dict[str, dict[int, float]]:
    seed = report.settings.seed
    runs = report.runs_of(variant)

    def find(mode: str, perturb: str | None) -> dict[int, float]:
        for r in runs:
            if r.mode == mode and r.seed == seed and r.replicate == 0 and r.perturb == perturb:
                return fid_by_step(r)
        return {}

    cols = {"deterministic": find("deterministic", None), "nondeterministic": find("nondeterministic", None),
            "threads": find("deterministic", "threads")}
    per_seed = [fid_by_step(r) for r in runs if r.mode == "deterministic" and r.replicate == 0 and r.perturb is None]
    steps = sorted({s for f in per_seed for s in f})
    complete = {s: [f[s] for f in per_seed] for s in steps if all(s in f for f in per_seed)}
    cols["seed_mean"] = {s: statistics.fmean(v) for s, v in complete.items()}
    cols["seed_min"] = {s: min(v) for s, v in complete.items()}
    cols["seed_max"] = {s: max(v) for s, v in complete.items()}
    return cols


def write_plot_data(report: Report, out_dir: str | Path, traces: dict[str, list[dict]]) -> list[Path]:
    """Write ``out_dir/plots/<variant>/{divergence,d_loss,g_loss,fid}.csv`` for every variant of
    ``report``, each atomically; return the paths. ``traces`` as for :func:`loss_columns`."""
    written = []
    for v in report.plan.variants:
        folder = Path(out_dir) / "plots" / v
        for name, cols in (("divergence", divergence_columns(report, v)),
                           ("d_loss", loss_columns(traces, v, "d_loss")),
                           ("g_loss", loss_columns(traces, v, "g_loss")),
                           ("fid", fid_columns(report, v))):
            path = folder / f"{name}.csv"
            io.write_text(path, _csv(cols))
            written.append(path)
    return written
