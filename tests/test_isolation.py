"""Replicates in fresh processes (executor isolation) and the in-process triage (scan --run-twice)."""

from __future__ import annotations

import os

import pytest
import torch
from tiny import TINY

from repro.cli import main
from repro.executor import TrainTask, make_executor, worker
from repro.gan.presets import config_for
from repro.localize.ops import ModulePaths
from repro.localize.twice import TwiceMode, TwiceResult
from repro.train.plant import ENV as PLANT
from repro.train.scan import run_twice

TINY = {**TINY, "steps": 2, "threads": 1}


def _tasks(root, n=2):
    cfg = config_for("resnet_default", **TINY)
    return [TrainTask(f"resnet_default/deterministic-s0-r{i}", cfg, root / f"r{i}") for i in range(n)]


def test_isolated_replicates_train_in_fresh_processes_with_the_same_bits(tmp_path):
    ex = make_executor("local", isolation="process")
    try:
        isolated = ex.train(_tasks(tmp_path / "iso"))
    finally:
        ex.close()
    here = make_executor("local").train(_tasks(tmp_path / "here"))
    workers = [r["worker"] for r in isolated.values()]
    assert len({w["pid"] for w in workers}) == 2 and os.getpid() not in {w["pid"] for w in workers}
    assert all(w["runs_before"] == 0 and w["isolation"] == "process" and w["host"] for w in workers)
    first, second = (here[k]["worker"] for k in sorted(here))
    assert first["pid"] == second["pid"] == os.getpid() and second["runs_before"] == first["runs_before"] + 1
    assert {r["final_param_hash"] for r in isolated.values()} == {r["final_param_hash"] for r in here.values()}


def test_isolation_is_checked():
    with pytest.raises(ValueError, match="invalid isolation 'thread'"):
        make_executor("local", isolation="thread")


def test_a_fresh_worker_sets_process_wide_settings_first(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    threads = torch.get_num_threads()
    try:
        worker.prepare_process(config_for("resnet_default", **TINY))
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and torch.get_num_threads() == 1
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
        worker.prepare_process(config_for("resnet_default", **TINY, mode="nondeterministic"))
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    finally:
        torch.set_num_threads(threads)


def test_run_twice_finds_a_planted_nondeterministic_op_and_nothing_else(monkeypatch, capsys):
    cfg = config_for("resnet_default", **TINY)
    monkeypatch.setenv(PLANT, "D.layers.1.conv1:*:flip")  # the op's result alternates from call to call
    found = run_twice(cfg)
    assert [(r.op, r.module, r.backward, r.first_phase) for r in found.rows] == [
        ("repro_plant.nudge.default", "D.layers.1.conv1", False, "D1/1 forward")]
    assert found.rows[0].differing == found.rows[0].calls >= 1 and 0 < found.rows[0].max_abs_diff < 1e-5
    monkeypatch.delenv(PLANT)
    assert main(["scan", "--run-twice", "--variant", "resnet_default", *[a for k, v in TINY.items()
                                                                          for a in ("--set", f"{k}={v}")]]) == 0
    import json

    clean = TwiceResult.from_dict(json.loads(capsys.readouterr().out))
    assert clean.rows == () and clean.calls > 500  # deterministic, one thread: every op repeats its bits


def test_run_twice_forks_random_ops_and_copies_what_in_place_ops_write():
    x = torch.ones(4, 3)
    gen = torch.Generator().manual_seed(0)
    mode = TwiceMode(ModulePaths({}))
    with mode:
        y = torch.rand(4, 3, generator=gen)  # both calls draw the same numbers
        z = torch.randn(4, 3)  # the default generator, forked too
        x.add_(y)  # the first call writes a copy: the second sees x as it was
        torch.mul(y, z, out=torch.empty(4, 3))
    assert mode.rows() == () and mode.calls >= 4
    assert torch.equal(x, 1 + y)
    again = torch.Generator().manual_seed(0)
    torch.rand(4, 3, generator=again)
    assert torch.equal(again.get_state(), gen.get_state())  # the generator advanced once, not twice


def test_run_json_records_the_process_that_trained_it(tmp_path):
    """A run trained by `repro train` (a pipeline stage) or by an executor's worker records its host
    and PID in run.json, so an audit that reuses it can still say where it trained."""
    import socket

    from repro import rundir

    assert main(["train", "--variant", "resnet_default", "--quiet", "--steps", "2", "--set", "checkpoint_every=2",
                 "--set", "width=0.0625", "--set", "batch_size=8", "--set", "n_dis=1", "--out",
                 str(tmp_path / "cli")]) == 0
    worker = rundir.read_run(tmp_path / "cli")["worker"]
    assert worker["pid"] == os.getpid() and worker["host"] == socket.gethostname()
    ex = make_executor("local", isolation="process")
    try:
        record = ex.train([TrainTask("r", config_for("resnet_default", **TINY), tmp_path / "ex")])["r"]
    finally:
        ex.close()
    assert rundir.read_run(tmp_path / "ex")["worker"] == record["worker"] and record["worker"]["pid"] != os.getpid()
