"""MLflow logging of an audit: one parent run, one nested run per training run.

The store is ``$MLFLOW_TRACKING_URI`` when set, else an absolute ``sqlite:///<cwd>/mlflow.db``
(absolute, because DVC may run stages from temporary directories).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

EXPERIMENT = "repro-audit"
_BATCH = 1000  # MLflow's log_batch limit on metrics per call


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve()}"


def _flat_params(d: dict[str, Any]) -> dict[str, str]:
    return {k: (",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))[:500] for k, v in d.items()}


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_audit(report: dict[str, Any], out_dir: Path, run_dirs: dict[str, Path]) -> str:
    """Log ``report`` and its runs; return the parent run id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from repro import io
    from repro.train import rundir

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    client = MlflowClient()
    s = report["settings"]
    tags = {f"fingerprint.{k}": str(v) for k, v in report.get("fingerprint_summary", {}).items()}
    with mlflow.start_run(run_name=f"audit {s['variant']} vs {s['baseline_variant']}") as parent:
        mlflow.set_tags({"repro.kind": "audit", "variant": s["variant"], **tags})
        mlflow.log_params(_flat_params({k: v for k, v in s.items() if k != "config"}))
        for variant, v in report["variance"].items():
            mlflow.log_metrics({f"{variant}.{k}": x for k, x in _numbers(v).items()})
        for variant, c in report["cost"].items():
            mlflow.log_metrics({f"{variant}.cost_{k}": x for k, x in _numbers(c).items()})
        for row in report["runs"]:
            run_dir = run_dirs[row["id"]]
            with mlflow.start_run(run_name=row["id"], nested=True) as child:
                mlflow.log_params(_flat_params(io.read_json(run_dir / rundir.CONFIG)))
                mlflow.set_tags({"repro.kind": "train", "variant": row["variant"], "mode": row["mode"],
                                 "seed": str(row["seed"]), "replicate": str(row["replicate"]),
                                 "perturb": str(row["perturb"]), "status": str(row["status"]), **tags})
                now = int(time.time() * 1000)
                points = [Metric(key, float(r[key]), now, int(r["step"]))
                          for r in rundir.read_trace(run_dir) for key in ("d_loss", "g_loss", "step_time_s")
                          if r.get(key) is not None]
                for i in range(0, len(points), _BATCH):
                    client.log_batch(child.info.run_id, metrics=points[i:i + _BATCH])
                mlflow.log_metrics({k: x for k, x in _numbers(row).items() if k not in ("seed", "replicate")})
                for name in (rundir.FINGERPRINT, rundir.RUN, rundir.METRICS):
                    if (run_dir / name).exists():
                        mlflow.log_artifact(str(run_dir / name))
        for name in ("report.json", "report.md", "metrics.json"):
            mlflow.log_artifact(str(out_dir / name))
        if (out_dir / "figures").is_dir():
            mlflow.log_artifacts(str(out_dir / "figures"), artifact_path="figures")
        return parent.info.run_id
