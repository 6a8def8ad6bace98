"""A study's results: one row per run, one row per trial, read back from the run directories.

A trial is one (variant, hyperparameter setting) trained with every seed of the study. Its
score is the median FID over its seeds (the paper reports the median over 5 restarts). A run
that diverged has no model and so no FID: it is recorded as ``diverged`` and scored as the
*worst* FID of the study (the largest finite FID among its runs), so that a setting that diverges
ranks below every setting that trains; it never stops the study. A run that failed for another
reason (``failed``, e.g. killed) is left out of the scores and listed.

``results.json`` (schema ``repro.study.results/1``): ``{"schema", "spec", "worst_fid", "runs":
[row], "trials": [trial]}``; a run row holds trial, variant, setting, round, seed, run_dir
(relative to the study), status, fid (None unless completed and scored), steps_completed,
wall_time_s, median_step_time_s, the factors (loss, d_norm, penalty, architecture, flags) and the
hyperparameters (lr, penalty_weight, beta1, beta2, n_dis).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from repro import io, rundir
from repro.errors import InputError
from repro.study import space

RESULTS_FILE = "results.json"
RESULTS_SCHEMA = "repro.study.results/1"
HPARAMS = ("lr", "penalty_weight", "beta1", "beta2", "n_dis")


@dataclass(frozen=True)
class Trial:
    """A (variant, setting) pair of a study; ``fields`` are the setting's TrainConfig overrides."""

    trial_id: str
    variant: str
    setting: str
    fields: dict[str, Any]
    round: int = 0

    def run_dir(self, out: Path, seed: int) -> Path:
        return out / "runs" / self.trial_id / f"seed{seed}"


def run_row(out: Path, trial: Trial, seed: int) -> dict[str, Any]:
    """The row of one run, read from its directory (status ``missing`` when it has not run)."""
    d = trial.run_dir(out, seed)
    row: dict[str, Any] = {"trial": trial.trial_id, "variant": trial.variant, "setting": trial.setting,
                           "round": trial.round, "seed": seed, "run_dir": str(d.relative_to(out))}
    try:
        cfg = rundir.read_config(d)
        record = rundir.read_run(d)
    except (OSError, ValueError):
        cfg, record = None, {"status": "missing"}
    row["status"] = record.get("status", "missing")
    for key in ("steps_completed", "wall_time_s", "median_step_time_s", "diverged_step"):
        row[key] = record.get(key)
    if cfg is not None:
        row.update({f: getattr(cfg, f) for f in space.FACTORS})
        row["flags"] = ",".join(cfg.flags) or "-"
        row.update({h: getattr(cfg, h) for h in HPARAMS})
    row["fid"] = None
    metrics = d / rundir.METRICS
    if row["status"] == "completed" and metrics.exists():
        m = io.read_json(metrics, "metrics")
        row["fid"] = float(m["fid"])
    return row


def worst_fid(rows: Iterable[dict[str, Any]]) -> float | None:
    """The largest finite FID among ``rows`` (what a diverged run scores); None when there is none."""
    fids = [r["fid"] for r in rows if r.get("fid") is not None and math.isfinite(r["fid"])]
    return max(fids) if fids else None


def seed_score(row: dict[str, Any], worst: float | None) -> float | None:
    """A run's FID, the study's worst for a diverged run, None for a run without a result."""
    if row["status"] == "diverged":
        return worst
    return row.get("fid")


def trial_rows(trials: Iterable[Trial], runs: list[dict[str, Any]], worst: float | None) -> list[dict[str, Any]]:
    """One row per trial: its factors and hyperparameters, per-seed scores and the median score."""
    by_trial: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_trial.setdefault(r["trial"], []).append(r)
    out = []
    for t in trials:
        rs = sorted(by_trial.get(t.trial_id, []), key=lambda r: r["seed"])
        scores = {r["seed"]: seed_score(r, worst) for r in rs}
        known = [s for s in scores.values() if s is not None]
        first = next((r for r in rs if "loss" in r), {})
        out.append({
            "trial": t.trial_id, "variant": t.variant, "setting": t.setting, "round": t.round,
            **{f: first.get(f) for f in (*space.FACTORS, "flags", *HPARAMS)},
            "seeds": [r["seed"] for r in rs], "scores": [scores[r["seed"]] for r in rs],
            "statuses": [r["status"] for r in rs],
            "n_diverged": sum(r["status"] == "diverged" for r in rs),
            "n_scored": len(known),
            "fid": statistics.median(known) if known else None,
        })
    return out


def write(out: Path, spec_dict: dict[str, Any], trials: list[Trial]) -> dict[str, Any]:
    """Collect every run of ``trials`` and write ``results.json``; returns it."""
    seeds = spec_dict["seeds"]
    runs = [run_row(out, t, s) for t in trials for s in seeds]
    worst = worst_fid(runs)
    doc = {"schema": RESULTS_SCHEMA, "spec": spec_dict, "worst_fid": worst, "runs": runs,
           "trials": trial_rows(trials, runs, worst)}
    io.write_json(out / RESULTS_FILE, doc)
    return doc


def read(path: Path) -> dict[str, Any]:
    """``results.json`` of a study directory (or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.exists():
        raise InputError(f"{path} does not exist: run `repro study --out DIR` first (a study directory holds "
                         f"{RESULTS_FILE})")
    doc = io.read_json(path, "study results")
    if doc.get("schema") != RESULTS_SCHEMA:
        raise InputError(f"{path} is not a study results file (schema {doc.get('schema')!r}, "
                         f"expected {RESULTS_SCHEMA!r})")
    return doc


__all__ = ["RESULTS_FILE", "Trial", "run_row", "worst_fid", "seed_score", "trial_rows", "write", "read"]
