"""MLflow logging of a study: one parent run, one nested run per trial (the store of :mod:`repro.mlflow_store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro import mlflow_store
from repro.mlflow_store import flat_params

EXPERIMENT = "repro-study"


def log_study(doc: dict[str, Any], out: Path, verdicts: list[dict[str, Any]] | None = None) -> str:
    """Log ``results.json``'s content ``doc``, the report under ``out`` and claim verdicts; return the parent run id."""
    mlflow_store.use_experiment(EXPERIMENT)
    import mlflow  # lazy: seconds to import, and only logging needs it
    spec = doc["spec"]
    with mlflow.start_run(run_name=f"study {spec['space']} {spec['dataset']} ({len(spec['variants'])} variants)") as parent:
        mlflow.set_tags({"repro.kind": "study", "space": spec["space"], "dataset": spec["dataset"]})
        mlflow.log_params(flat_params({k: v for k, v in spec.items() if k != "overrides"}))
        if doc.get("worst_fid") is not None:
            mlflow.log_metric("worst_fid", doc["worst_fid"])
        for t in doc["trials"]:
            with mlflow.start_run(run_name=t["trial"], nested=True):
                mlflow.set_tags({"repro.kind": "study-trial", "variant": t["variant"], "setting": t["setting"],
                                 "statuses": ",".join(t["statuses"])})
                mlflow.log_params(flat_params({k: t[k] for k in ("loss", "d_norm", "penalty", "architecture",
                                                                  "flags", "lr", "penalty_weight", "beta1",
                                                                  "beta2", "n_dis", "round")}))
                metrics = {"n_diverged": float(t["n_diverged"])}
                if t["fid"] is not None:
                    metrics["fid"] = float(t["fid"])
                mlflow.log_metrics(metrics)
        for v in verdicts or []:
            c = v.get("comparison") or {}
            if c.get("diff") is not None:
                mlflow.log_metric(f"claim.{v['id']}.diff", c["diff"])
            mlflow.set_tag(f"claim.{v['id']}", v["outcome"])
        for name in ("study.json", "results.json", "study.md", "claims.json", "claims.md"):
            if (out / name).exists():
                mlflow.log_artifact(str(out / name))
        for folder in ("figures", "plots"):
            if (out / folder).is_dir():
                mlflow.log_artifacts(str(out / folder), artifact_path=folder)
        return parent.info.run_id
