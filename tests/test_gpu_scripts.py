"""The prepared GPU scripts run end to end as a dry run on the CPU (DEVICE=cpu, tiny width and
steps), so that a lent GPU session spends its minutes measuring, not debugging a script. Their
numbers are not tested here; the CUDA paths are tested in test_gpu.py where a GPU exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _bash(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])  # python3 = this venv's
    return subprocess.run(["bash", str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PATH": path, "MLFLOW_DISABLE_TELEMETRY": "true", **env})


def test_gpu_audit_script_dry_run(tmp_path):
    out = tmp_path / "gpu"
    proc = _bash("gpu_audit.sh", str(out), "2", DEVICE="cpu", WIDTH="0.0625", EVERY="2", SEEDS="1", EVAL_SEEDS="1",
                 BATCH="8", TRACE_EVERY="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["isolation"] == "process" and report["settings"]["batch_size"] == 8
    assert report["settings"]["resolution"] == 32 and len(report["pairs"]) == 4
    assert "## Where the runs part ways" in (out / "report.md").read_text()
    assert (out / "metrics" / "resnet_all.json").exists() and (out / "figures" / "divergence.png").exists()
    assert "ops" in json.loads((out / "scan_twice.json").read_text()) or (out / "scan_twice.json").stat().st_size


def test_gpu_study_script_dry_run(tmp_path):
    out = tmp_path / "study"
    proc = _bash("gpu_study.sh", str(out), "2", DEVICE="cpu", WIDTH="0.0625", SEEDS="0", BATCH="8",
                 VARIANTS="resnet_default,sndcgan_ns_sn_none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "study.md").exists() and (out / "claims.md").exists()
    assert "lr2e-4_lam1_b0.5-0.999_ndis5" in (out / "study.md").read_text()
