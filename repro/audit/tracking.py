"""MLflow logging of an audit: one parent run, one nested run per training run.

The store is :func:`repro.mlflow_store.tracking_uri` (``$MLFLOW_TRACKING_URI`` or an absolute
``sqlite:///<cwd>/mlflow.db``); artifacts go beside a SQLite store, never into the working folder.

Logging is idempotent: the parent run carries the tag ``repro.audit_id``, a hash of what the
audit asked (its settings and its planned run ids, :func:`audit_id`). Logging the same audit
again replaces the earlier parent and its children (deleted once the new record is complete),
so a rerun of the pipeline, or a rerun that only restored DVC's cache, leaves one parent.

What a user searches by is a tag or a param: on each training run ``final_param_hash``,
``identical_to`` (the runs its pairs found bitwise identical to it, or ``none``), the run's own
fingerprint summary (``fingerprint.*``); its config one param per field; its FID per
checkpoint as the metric ``fid`` with the checkpoint's step; its sample grid as an artifact.
On the parent: every setting and every config override (``override.<field>``) as a param.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from repro import fingerprint, io, mlflow_store, rundir
from repro.audit import figures
from repro.audit.schema import PairRow, Report, RunRow, Settings, to_dict
from repro.gan.sampling import generate
from repro.mlflow_store import flat_params

EXPERIMENT = "repro-audit"
AUDIT_ID_TAG = "repro.audit_id"
_BATCH = 1000  # MLflow's log_batch limit on metrics per call
# settings that say where files are, not what was asked: the same audit from another folder
_LOCATION_SETTINGS = ("runs_dir",)


def audit_id(report: Report) -> str:
    """sha256 (hex, first 16) of the audit's settings (less file locations) and its run ids, in order."""
    settings = {k: v for k, v in to_dict(report.settings).items() if k not in _LOCATION_SETTINGS}
    ident = {"settings": settings, "runs": [r.id for r in report.runs]}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def parent_params(settings: Settings) -> dict[str, str]:
    """Settings as params; config overrides one param each (``override.<field>``)."""
    plain = {k: v for k, v in to_dict(settings).items() if k != "overrides"}
    return {**flat_params(plain), **flat_params(dict(settings.overrides), "override.")}


def identical_to(report: Report) -> dict[str, list[str]]:
    """Run id -> the runs its pairs found bitwise identical to it (both directions)."""
    out: dict[str, list[str]] = {r.id: [] for r in report.runs}
    for p in report.pairs:
        if p.identical:
            out.setdefault(p.a, []).append(p.b)
            out.setdefault(p.b, []).append(p.a)
    return out


def run_tags(row: RunRow, run_dir: Path, identical: list[str], pair: PairRow | None = None) -> dict[str, str]:
    tags = {"repro.kind": "train", "variant": row.variant, "mode": row.mode, "seed": str(row.seed),
            "replicate": str(row.replicate), "perturb": str(row.perturb), "status": str(row.status),
            "final_param_hash": str(row.final_param_hash),
            "identical_to": ",".join(identical) if identical else "none",
            "worker": f"{row.worker_host}:{row.worker_pid}"}
    if pair is not None and pair.localization is not None:  # where this run parted ways with its twin
        loc = pair.localization
        tags["localized.status"] = loc.status
        first = loc.culprit.a if loc.culprit is not None else (
            (loc.sequence_split.a or loc.sequence_split.b) if loc.sequence_split is not None else None)
        if first is not None:
            tags.update({"localized.op": first.op, "localized.module": first.module or "(none)",
                         "localized.phase": first.phase, "localized.step": str(first.step),
                         "localized.kind": "culprit" if loc.culprit is not None else "sequence split"})
        if loc.nondeterministic_ops:
            tags["localized.ops_differing"] = ",".join(sorted({c.op for c in loc.nondeterministic_ops}))[:500]
    if (run_dir / rundir.FINGERPRINT).exists():  # the run's own: its threads, its commit
        fp = io.read_json(run_dir / rundir.FINGERPRINT, "run fingerprint")
        tags.update({f"fingerprint.{k}": str(v) for k, v in fingerprint.summary(fp).items()})
    return tags


def _sample_grid(run_dir: Path, folder: Path) -> Path | None:
    """The run's last checkpoint's generator on 64 fixed latents (seed 0), as a PNG grid."""
    steps = rundir.checkpoint_steps(run_dir)
    if not steps:
        return None
    net, _ = rundir.load_generator(run_dir)
    return figures.sample_grid(generate(net, 64, seed=0), folder / f"samples_step{steps[-1]}.png")


def _previous_parents(client, experiment_id: str, ident: str, keep: str) -> list[str]:
    found = client.search_runs([experiment_id], filter_string=f"tags.`{AUDIT_ID_TAG}` = '{ident}'",
                               max_results=1000)
    return [r.info.run_id for r in found if r.info.run_id != keep]


def _delete_with_children(client, experiment_id: str, parent_id: str) -> None:
    children = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                  max_results=10000)
    for child in children:
        client.delete_run(child.info.run_id)
    client.delete_run(parent_id)


def log_audit(report: Report, out_dir: Path, run_dirs: dict[str, Path],
              metrics: dict[str, dict[str, Any] | None] | None = None) -> str:
    """Log ``report`` and its runs, replacing an earlier record of the same audit; return the parent run id.

    ``metrics`` maps a run id to its metrics file's content (``repro evaluate``), logged as an
    artifact; a run missing there is read from ``metrics.json`` in its run directory when present.
    """
    experiment_id = mlflow_store.use_experiment(EXPERIMENT)
    import mlflow  # lazy: seconds to import, and only logging needs it
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    s = report.settings
    ident = audit_id(report)
    tags = {f"fingerprint.{k}": str(v) for k, v in report.fingerprint_summary.items()}
    identical = identical_to(report)
    metrics = dict(metrics or {})
    localized = {p.b: p for p in report.pairs if p.localization}
    with mlflow.start_run(run_name=f"audit {s.variant} vs {s.baseline_variant}") as parent:
        mlflow.set_tags({"repro.kind": "audit", AUDIT_ID_TAG: ident, "variant": s.variant,
                         "baseline_variant": s.baseline_variant, "verdict": report.comparison.verdict, **tags})
        mlflow.log_params(parent_params(s))
        for variant, v in report.variance.items():
            mlflow.log_metrics({f"{variant}.{k}": x for k, x in _numbers(to_dict(v)).items()})
        for variant, c in report.cost.items():
            mlflow.log_metrics({f"{variant}.cost_{k}": x for k, x in _numbers(to_dict(c)).items()})
        for variant, h in report.hunt.items():  # distinct final hashes over fresh processes, per thread count
            mlflow.log_metrics({f"{variant}.hunt_t{r.threads}_{k}": float(x) for r in h.results
                                for k, x in (("distinct", r.distinct), ("upper_95", r.upper_95))})
        for row in report.runs:
            run_dir = Path(run_dirs[row.id])
            run_metrics = metrics.get(row.id)
            if run_metrics is None and (run_dir / rundir.METRICS).exists():
                run_metrics = io.read_json(run_dir / rundir.METRICS, "run metrics")
            with mlflow.start_run(run_name=row.id, nested=True) as child:
                mlflow.log_params(flat_params(io.read_json(run_dir / rundir.CONFIG)))
                mlflow.set_tags(run_tags(row, run_dir, identical.get(row.id, []), localized.get(row.id)))
                now = int(time.time() * 1000)
                points = [Metric(key, float(r[key]), now, int(r["step"]))
                          for r in rundir.read_trace(run_dir) for key in ("d_loss", "g_loss", "step_time_s")
                          if r.get(key) is not None]
                points += [Metric("fid", c.fid, now, c.step) for c in row.checkpoints]
                for i in range(0, len(points), _BATCH):
                    client.log_batch(child.info.run_id, metrics=points[i:i + _BATCH])
                skip = ("seed", "replicate", "worker_pid") + (("fid",) if row.checkpoints else ())
                mlflow.log_metrics({k: x for k, x in _numbers(to_dict(row)).items() if k not in skip})
                for name in (rundir.FINGERPRINT, rundir.RUN):
                    if (run_dir / name).exists():
                        mlflow.log_artifact(str(run_dir / name))
                if run_metrics is not None:
                    with tempfile.TemporaryDirectory() as tmp:
                        io.write_json(Path(tmp) / rundir.METRICS, run_metrics)
                        mlflow.log_artifact(str(Path(tmp) / rundir.METRICS))
                if row.status == "completed":
                    with tempfile.TemporaryDirectory() as tmp:
                        grid = _sample_grid(run_dir, Path(tmp))
                        if grid is not None:
                            mlflow.log_artifact(str(grid), artifact_path="samples")
        if (Path(out_dir) / "metrics").is_dir():
            mlflow.log_artifacts(str(Path(out_dir) / "metrics"), artifact_path="metrics")
        for name in ("report.json", "report.md"):
            if (Path(out_dir) / name).exists():
                mlflow.log_artifact(str(Path(out_dir) / name))
        if (Path(out_dir) / "figures").is_dir():
            mlflow.log_artifacts(str(Path(out_dir) / "figures"), artifact_path="figures")
        new_id = parent.info.run_id
    # only now that the new record is complete: an interrupted logging keeps the old one
    for old in _previous_parents(client, experiment_id, ident, keep=new_id):
        _delete_with_children(client, experiment_id, old)
    return new_id
