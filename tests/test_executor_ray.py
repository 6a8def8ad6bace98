"""The Ray executor (issue 12) on a local Ray instance: same bits as the local executor at the same
thread count, a killed worker retried to the same bits, a diverged run a result, reuse on re-run."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("ray", reason='the Ray tests need pip install "repro[ray]"')

from repro.audit import schema  # noqa: E402
from repro.audit.run import run_audit as _run_audit  # noqa: E402
from repro.audit.spec import AuditSpec  # noqa: E402
from repro.executor import TrainTask, make_executor, ray_backend, worker  # noqa: E402
from repro.gan.presets import config_for  # noqa: E402

# one thread per run: the local reference trains at the same count (CPU bits depend on it)
TINY = {"width": 0.0625, "batch_size": 8, "steps": 4, "checkpoint_every": 2, "trace_every": 1, "device": "cpu",
        "n_dis": 1, "threads": 1}


def run_audit(variant, *, executor, **kw):
    return schema.to_dict(_run_audit(AuditSpec.build(variant, executor="ray", **kw), executor))


@pytest.fixture(scope="module")
def ray_executor():
    ex = make_executor("ray")  # a local instance sized to this machine
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def ray_audit(ray_executor, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray_audit")
    report = run_audit("resnet_default", baseline_variant="resnet_default", overrides=dict(TINY), out_dir=out,
                       num_samples=64, eval_seeds=1, progress=False, use_mlflow=False, cost_pairs=2,
                       executor=ray_executor)
    return out, report


def test_ray_audit_has_the_local_executors_bits(ray_audit, tmp_path):
    out, report = ray_audit
    rows = {r["id"]: r for r in report["runs"]}
    assert len(rows) == 4 and all(r["status"] == "completed" and r["fid"] is not None for r in rows.values())
    assert all(r["executor"] == "ray" and r["threads"] == 1 and not r["threads_differ"] for r in rows.values())
    assert all(r["worker_host"] for r in rows.values())
    det = [rid for rid, r in rows.items() if r["mode"] == "deterministic"]
    tasks = [TrainTask(rid, config_for("resnet_default", **TINY, mode="deterministic"), tmp_path / rid) for rid in det]
    local = make_executor("local").train(tasks)  # in this process, one thread
    for rid in det:
        assert rows[rid]["final_param_hash"] == local[rid]["final_param_hash"], rid
    assert all(p["identical"] for p in report["pairs"] if p["kind"] == "deterministic")


def test_rerun_reuses_every_finished_run(ray_audit, ray_executor, capfd):
    out, report = ray_audit
    capfd.readouterr()
    again = run_audit("resnet_default", baseline_variant="resnet_default", overrides=dict(TINY), out_dir=out,
                      num_samples=64, eval_seeds=1, progress=False, use_mlflow=False, cost_pairs=2,
                      executor=ray_executor)
    err = capfd.readouterr().err
    assert err.count("reusing (completed)") == 4 and "training 0 run" not in err and "evaluating" not in err
    assert [r["final_param_hash"] for r in again["runs"]] == [r["final_param_hash"] for r in report["runs"]]


def test_killed_ray_worker_is_retried_and_diverged_run_is_a_result(ray_executor, tmp_path, monkeypatch, capfd):
    cfg = config_for("resnet_default", **TINY)
    ref = make_executor("local").train([TrainTask("ref", cfg, tmp_path / "ref")])["ref"]
    killed = TrainTask("resnet_default/deterministic-s0-r0", cfg, tmp_path / "killed")
    diverging = TrainTask("resnet_default/deterministic-s0-r1", cfg.replace(lr=1e30), tmp_path / "diverging")
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(worker.KILL_ENV, f"{killed.run_id}:3:{marker}")  # after step 3: checkpoint 2 stays
    done = []
    out = ray_executor.train([killed, diverging], on_done=lambda t, r: done.append(t.run_id))
    assert marker.exists()  # the worker did die once
    rec = out[killed.run_id]
    assert rec["status"] == "completed" and rec["sessions"] == 2 and rec["resumed_from_step"] == 2
    assert rec["final_param_hash"] == ref["final_param_hash"]
    div = out[diverging.run_id]
    assert div["status"] == "diverged" and div["sessions"] == 1  # a result, trained once, not retried
    assert sorted(done) == sorted(out)


def test_worker_that_cannot_see_the_runs_directory_fails_clearly(ray_executor, tmp_path, monkeypatch):
    real = ray_backend._write_probe

    def elsewhere(run_dirs):  # as if the worker's node mounted another filesystem at that path
        path, _ = real(run_dirs)
        return path, "a token from another filesystem"

    monkeypatch.setattr(ray_backend, "_write_probe", elsewhere)
    task = TrainTask("r", config_for("resnet_default", **TINY), tmp_path / "runs" / "r")
    with pytest.raises(worker.RunsDirUnreachable, match="cannot see the runs directory .* shared filesystem"):
        ray_executor.train([task])
    assert not (tmp_path / "runs" / "r").exists()  # nothing trained
    assert not list((tmp_path / "runs").glob(".repro-executor-probe*"))  # the probe is removed


def test_application_error_is_raised_with_its_type(ray_executor, tmp_path):
    task = TrainTask("r", config_for("resnet_default", **TINY), tmp_path / "r")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="cannot resume .* with a different config"):
        ray_executor.train([dataclasses.replace(task)])


@pytest.mark.slow
def test_benchmark_reports_ratio_and_matching_hashes(tmp_path):
    """benchmarks/executor.py end to end, at its smallest (two Ray instances would clash: runs alone)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "executor.py"
    proc = subprocess.run([sys.executable, str(script), "--variant", "resnet_default", "--steps", "2",
                           "--checkpoint-every", "1", "--json", str(tmp_path / "b.json")], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wall-time ratio local/ray" in proc.stdout and "2 runs, all matched" in proc.stdout
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["hashes_match"] and result["local"]["det_hashes"] == result["ray"]["det_hashes"]


def test_isolated_ray_tasks_each_get_a_fresh_worker(ray_executor, tmp_path):
    """isolation=process: a Ray worker serves one training call (max_calls=1), so two runs in turn
    (jobs=1) train in two fresh workers; a reused worker would show one PID and runs_before 1."""
    iso = ray_backend.RayExecutor(jobs=1, isolation="process")  # joins the running instance (no close: it would end it)
    cfg = config_for("resnet_default", **{**TINY, "steps": 2})
    out = iso.train([TrainTask(f"r{i}", cfg, tmp_path / f"r{i}") for i in range(2)])
    workers = [r["worker"] for r in out.values()]
    assert len({w["pid"] for w in workers}) == 2
    assert all(w["runs_before"] == 0 and w["isolation"] == "process" for w in workers)
