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


def test_learning_curves_trains_scores_resumes_and_extends(tmp_path):
    """A tiny learning-curve run: two configs x two seeds, every checkpoint scored (FID and IS), the
    JSON, figure and table written; a rerun reuses the runs, a larger --steps extends them to the
    bits of a run trained that long from the start."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    tiny = ["width=0.0625", "batch_size=8"]
    common = ["--seeds", "0", "1", "--checkpoint-every", "2", "--final-eval-seeds", "2", "--runs-dir", str(runs),
              "--out", str(out), "--name", "t"]
    configs = ["--config", "a", "resnet_all", *tiny,
               "--config", "d1", "resnet_default", "hparams=lr2e-4_lam1_b0.5-0.999_ndis1", *tiny]
    proc = _run("learning_curves.py", *configs, "--steps", "4", *common, "--samples", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "t.json").read_text())
    assert result["complete"] and [c["label"] for c in result["configs"]] == ["a", "d1"]
    assert [c["n_dis"] for c in result["configs"]] == [5, 1]
    assert result["configs"][1]["table1"] == "lr2e-4_lam1_b0.5-0.999_ndis1"
    for c in result["configs"]:
        assert [s["seed"] for s in c["seeds"]] == [0, 1]
        for s in c["seeds"]:
            assert [p["step"] for p in s["curve"]] == [2, 4]
            for p in s["curve"]:
                assert p["fid"] > 0 and p["is_mean"] >= 1.0 and p["step_time_s"] > 0
                assert isinstance(p["collapsed"], bool)
            assert len(s["final_fid_eval_values"]) == 2 and s["final_fid_eval_values"][0] == s["curve"][-1]["fid"]
    assert (out / "t.png").stat().st_size > 0 and (out / "t_samples_a_s0.png").exists()
    table = (out / "t.txt").read_text()
    assert table in proc.stdout and "collapsed: IS < 2" in table
    first_hash = json.loads((runs / "a" / "s0" / "run.json").read_text())["final_param_hash"]

    again = _run("learning_curves.py", *configs, "--steps", "4", *common)  # reuse: nothing trained
    assert again.returncode == 0 and "training" not in again.stderr and "resuming" not in again.stderr
    reread = json.loads((out / "t.json").read_text())["configs"]
    assert [[p["fid"] for s in c["seeds"] for p in s["curve"]] for c in reread] == \
        [[p["fid"] for s in c["seeds"] for p in s["curve"]] for c in result["configs"]]  # scores from the cache

    longer = _run("learning_curves.py", "--config", "a", "resnet_all", *tiny, "--steps", "6", *common)
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert "steps 4 -> 6" in longer.stderr
    extended = json.loads((runs / "a" / "s0" / "run.json").read_text())
    fresh = _run("learning_curves.py", "--config", "a", "resnet_all", *tiny, "--steps", "6", "--seeds", "0",
                 "--checkpoint-every", "2", "--final-eval-seeds", "1", "--runs-dir", str(tmp_path / "fresh"),
                 "--out", str(tmp_path / "fresh_out"))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert extended["final_param_hash"] == json.loads(
        (tmp_path / "fresh" / "a" / "s0" / "run.json").read_text())["final_param_hash"] != first_hash

    timed = _run("learning_curves.py", *configs, "--steps", "4", "--time-steps", "1", "--time-rounds", "1",
                 "--time-threads", "1", "--runs-dir", str(runs), "--out", str(out), "--name", "t")
    assert timed.returncode == 0, timed.stderr[-3000:]
    timing = json.loads((out / "t_timing.json").read_text())
    assert set(timing["configs"]) == {"a", "d1"} and timing["configs"]["a"]["threads"]["1"]["median_s"] > 0

    bad = _run("learning_curves.py", "--config", "a", "resnet_all", "seed=3", "--steps", "4", "--runs-dir", str(runs))
    assert bad.returncode == 2 and "set by the script" in bad.stderr
    clash = _run("learning_curves.py", "--config", "a", "resnet_all", "width=0.125", "--steps", "4", "--seeds", "0",
                 "--runs-dir", str(runs), "--out", str(out))
    assert clash.returncode != 0 and "another config" in clash.stderr
