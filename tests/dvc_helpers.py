"""A throw-away DVC project holding this repository's pipeline (pipelines/dvc.yaml, params.yaml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def dvc_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", **extra}


def dvc_project(tmp_path: Path, params: str | None = None, with_code: bool = False) -> Path:
    """``tmp_path/repo`` with the pipeline, ``params`` (default: the committed params.yaml) and,
    with ``with_code``, a copy of the package (the stages' dependencies); ``dvc init --no-scm`` done."""
    repo = tmp_path / "repo"
    (repo / "pipelines").mkdir(parents=True)
    shutil.copy(ROOT / "pipelines" / "dvc.yaml", repo / "pipelines" / "dvc.yaml")
    (repo / "params.yaml").write_text(params if params is not None else (ROOT / "params.yaml").read_text())
    if with_code:
        shutil.copytree(ROOT / "repro", repo / "repro", ignore=shutil.ignore_patterns("__pycache__"))
    run([str(BIN / "dvc"), "init", "--no-scm", "-q"], repo, dvc_env(tmp_path))
    return repo


def run(args, cwd, env, timeout=900, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc
