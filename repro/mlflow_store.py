"""The MLflow store that audits and studies log to: where it is, where its artifacts go, and how
a nested settings dict becomes params.

The store is ``$MLFLOW_TRACKING_URI`` when set, else an absolute ``sqlite:///<cwd>/mlflow.db``
(absolute, because DVC may run stages from temporary directories). An experiment this module
creates in a SQLite store keeps its artifacts beside the database (``<db folder>/mlartifacts``),
never in the working directory: MLflow's default artifact root is ``./mlruns`` of whatever
folder the process runs in, which scattered artifacts into checkouts.

mlflow itself is imported inside the functions that talk to the store: it takes seconds to
import and most commands never log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from repro.errors import InputError

PARAM_CHARS = 500  # MLflow's (older servers') limit on a param value


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve()}"


def artifact_root(uri: str) -> str | None:
    """``file://<db folder>/mlartifacts`` for a SQLite store; None (MLflow's own choice) otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    db = Path(unquote(parsed.path))
    return (db.parent / "mlartifacts").resolve().as_uri()


def use_experiment(name: str):
    """Point mlflow at :func:`tracking_uri` and make ``name`` the active experiment (created with
    :func:`artifact_root` when new); returns its id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifact_root(uri))
    return mlflow.set_experiment(name).experiment_id


def check_store() -> None:
    """Open the store; refuse an unusable one (before hours of training, not after)."""
    uri = tracking_uri()
    try:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # mlflow raises its own, sqlalchemy's and OS errors
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        raise InputError(f"the MLflow store {uri} is unusable ({type(exc).__name__}: {detail}); set "
                         "MLFLOW_TRACKING_URI to a usable store (e.g. sqlite:///$PWD/mlflow.db) or pass --no-mlflow"
                         ) from None


def text(v: Any) -> str:
    """A param value: lists joined by commas, cut to MLflow's limit."""
    return (",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))[:PARAM_CHARS]


def flat_params(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """One param per leaf: nested dicts become ``prefix.key`` (never a dict printed as a string)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = text(v)
    return out


__all__ = ["tracking_uri", "artifact_root", "use_experiment", "check_store", "text", "flat_params"]
