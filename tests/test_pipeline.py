"""The DVC pipeline end to end at a tiny scale, as a user runs it (slow tier: minutes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY_PARAMS = """audit:
  variant: resnet_all
  baseline_variant: resnet_default
  dataset: digits
  seed: 0
  extra_seeds: [1]
  steps: 4
  checkpoint_every: 2
  batch_size: 64
  eval_seeds: 2
variants: [resnet_all, resnet_default]
modes: [deterministic, nondeterministic]
replicates: [0, 1]
"""


def _run(args, cwd, env, timeout=1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_dvc_pipeline_runs_repeats_for_free_and_gates(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "repro", repo / "repro", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "pipelines", repo / "pipelines", ignore=shutil.ignore_patterns("dvc.lock"))
    (repo / "params.yaml").write_text(TINY_PARAMS)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    _run([str(BIN / "dvc"), "init", "--no-scm", "-q"], repo, env)
    _run([str(BIN / "dvc"), "repro", "pipelines/dvc.yaml"], repo, env)

    report = json.loads((repo / "audits" / "resnet_all" / "report.json").read_text())
    assert len(report["runs"]) == 12 and all(r["status"] == "completed" for r in report["runs"])
    assert all(p["identical"] for p in report["pairs"] if p["kind"] == "deterministic")
    for variant in ("resnet_all", "resnet_default"):
        inter = report["cost"][variant]["interleaved"]
        assert inter["ci_low"] <= inter["ratio"] <= inter["ci_high"]
    assert (repo / "audits" / "resnet_all" / "report.md").stat().st_size > 0
    assert not list(repo.rglob(".repro.lock"))  # every lock released

    again = _run([str(BIN / "dvc"), "repro", "pipelines/dvc.yaml"], repo, env)
    assert "Data and pipelines are up to date" in again.stdout, again.stdout

    baseline = tmp_path / "baseline.json"
    report_path = repo / "audits" / "resnet_all" / "report.json"
    _run([str(BIN / "repro"), "gate", "--update", "--baseline", str(baseline), "--report", str(report_path)], repo, env)
    gate = _run([str(BIN / "repro"), "gate", "--baseline", str(baseline), "--report", str(report_path)], repo, env)
    assert gate.stdout.rstrip().splitlines()[-1].startswith("PASS")
