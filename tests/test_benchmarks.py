"""The benchmark scripts run where they claim to: gpu_step skips cleanly without CUDA and exercises
every code path small on the CPU; startup measures what it says. (Their numbers are not tested.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_gpu_step_skips_cleanly_without_cuda():
    proc = _run("gpu_step.py", "--out", "unused.json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gpu_step: skipped: no CUDA device")
    assert not Path("unused.json").exists()
    bad = _run("gpu_step.py", "--device", "cpu")  # paper widths on a CPU: refused, not hours
    assert bad.returncode == 2 and "--tiny" in bad.stderr


def test_peak_table_names_devices_most_specific_first():
    sys.path.insert(0, str(BENCH))
    try:
        import gpu_step
    finally:
        sys.path.remove(str(BENCH))
    assert gpu_step.peak_for("NVIDIA H100 80GB HBM3")[0] == "H100"
    assert gpu_step.peak_for("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert gpu_step.peak_for("NVIDIA H200")[1]["tf32"] == 494.7
    assert gpu_step.peak_for("NVIDIA H200 NVL")[0] == "H200 NVL"
    assert gpu_step.peak_for("Tesla T4") == (None, None)


@pytest.mark.slow
def test_gpu_step_tiny_on_cpu_runs_every_section(tmp_path):
    out = tmp_path / "gpu_step.json"
    proc = _run("gpu_step.py", "--device", "cpu", "--tiny", "--compare-knobs", "--profile", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["cases"]) == {"resnet_cifar_32", "resnet19_128", "sngan_32"}
    sngan = result["cases"]["sngan_32"]
    assert set(sngan["modes"]["deterministic"]) == {"repro", "repro fast", "plain", "mimicry"}
    for mode in sngan["modes"].values():
        for row in mode.values():
            assert row["flops_per_step"] > 0 and row["median_s"] > 0
    assert set(sngan["det_over_nondet"]) == {"repro", "repro fast", "plain", "mimicry"}
    assert "all four" in result["knobs"]["deterministic"]
    assert result["profile"]["top"]["cpu_ms_per_step"]


@pytest.mark.slow
def test_startup_benchmark_measures_against_import_torch(tmp_path):
    out = tmp_path / "startup.json"
    proc = _run("startup.py", "--repeats", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert rows["import torch"]["cpu_minus_torch_s"] == 0.0
    assert {"repro --help", "repro train --help", "repro train to 1st step", "repro train, 1 step"} <= set(rows)


def test_process_repeat_counts_hashes_of_fresh_processes(tmp_path):
    """One intra-op thread: the same deterministic run is the same bits in every fresh process
    (the law CI's gate relies on; benchmarks/process_repeat.py counts it for any thread count)."""
    out = tmp_path / "repeat.json"
    proc = _run("process_repeat.py", "--processes", "2", "--threads", "1", "--steps", "2", "--warm-cache",
                "--set", "width=0.0625", "--set", "batch_size=8", "--out", str(out), "--strict", timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())  # now `repro hunt`'s record (repro.localize.hunt.HuntResult)
    one = result["results"][0]
    assert one["threads"] == 1 and one["distinct"] == 1 and sum(one["counts"].values()) == 2
    assert all(len(h) == 64 for h in one["counts"])
    bad = _run("process_repeat.py", "--processes", "0")
    assert bad.returncode == 2 and "--processes" in bad.stderr


def test_localize_benchmark_times_plain_and_recorded_steps(tmp_path):
    out = tmp_path / "localize.json"
    proc = _run("localize.py", "--variant", "resnet_default", "--width", "0.0625", "--batch-size", "8", "--threads", "1",
                "--rounds", "1", "--steps", "1", "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["ratio"]["ratio"] > 0 and result["ops_per_step"] > 500 and result["record_bytes_per_step"] > 0
    assert "ratio" in proc.stdout and "extra peak memory" in proc.stdout
