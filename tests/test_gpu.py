"""GPU tier (``pytest -m gpu`` on a CUDA machine): the speed settings keep determinism on CUDA, and
benchmarks/gpu_step.py runs end to end. Small models: seconds, not minutes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repro import rundir
from repro.train import train

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

FAST = {"adam_impl": "fused", "memory_format": "channels_last", "sync_every": 4, "trace_async": True}


def _rows(run_dir):
    return [{k: v for k, v in r.items() if k != "step_time_s"} for r in rundir.read_trace(run_dir)]


@pytest.fixture
def cuda_cfg(tiny_cfg):
    return tiny_cfg.replace(device="cuda", width=0.25, batch_size=16, resolution=32, channels=1,
                            recipe="bilinear32", steps=8, checkpoint_every=4, trace_every=2)


def test_deferred_reads_and_async_hashes_keep_the_bits_on_cuda(cuda_cfg, tmp_path):
    a = train(cuda_cfg, tmp_path / "a", progress=False)
    b = train(cuda_cfg.replace(sync_every=4, trace_async=True), tmp_path / "b", progress=False)
    assert a["final_param_hash"] == b["final_param_hash"] and _rows(tmp_path / "a") == _rows(tmp_path / "b")
    assert all(r["step_time_s"] > 0 for r in rundir.read_trace(tmp_path / "b"))  # CUDA-event timing


def test_fast_settings_deterministic_twice_on_cuda(cuda_cfg, tmp_path):
    a = train(cuda_cfg.replace(**FAST), tmp_path / "a", progress=False)
    b = train(cuda_cfg.replace(**FAST), tmp_path / "b", progress=False)
    assert a["status"] == "completed" and a["final_param_hash"] == b["final_param_hash"]
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")


def test_divergence_step_exact_with_deferred_reads_on_cuda(cuda_cfg, tmp_path):
    cfg = cuda_cfg.replace(lr=1e30)
    eager = train(cfg, tmp_path / "e", progress=False)
    late = train(cfg.replace(sync_every=5), tmp_path / "l", progress=False)
    assert eager["status"] == late["status"] == "diverged"
    assert eager["diverged_step"] == late["diverged_step"]


def test_gpu_step_tiny_on_cuda(tmp_path):
    out = tmp_path / "g.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_step.py"
    proc = subprocess.run([sys.executable, str(script), "--tiny", "--cases", "resnet_cifar_32", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = json.loads(out.read_text())["cases"]["resnet_cifar_32"]["modes"]["deterministic"]["repro"]
    assert row["flops_per_step"] > 0 and row["tflops_per_s"] > 0
