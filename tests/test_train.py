"""Training engine: bitwise determinism, exact resume after SIGKILL, divergence, bad input."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from train_helpers import SUBPROCESS_CFG as _SUBPROCESS_CFG
from train_helpers import set_status, train_subprocess

from repro import rundir
from repro.cli import main
from repro.train import train


def _hashes(run_dir):
    return [(r["step"], r["param_hash"]) for r in rundir.read_trace(run_dir) if "param_hash" in r]


def test_two_deterministic_runs_identical_at_every_traced_step(tiny_cfg, tmp_path):
    a = train(tiny_cfg, tmp_path / "a", progress=False)
    b = train(tiny_cfg, tmp_path / "b", progress=False)
    assert a["status"] == b["status"] == "completed"
    assert a["steps_completed"] == tiny_cfg.steps
    ha, hb = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert [s for s, _ in ha] == list(range(1, tiny_cfg.steps + 1))
    assert ha == hb
    assert a["final_param_hash"] == b["final_param_hash"]
    assert rundir.read_hashes(tmp_path / "a", 4) == rundir.read_hashes(tmp_path / "b", 4)


def test_different_seeds_give_different_hashes(tiny_cfg, tmp_path):
    a = train(tiny_cfg, tmp_path / "a", progress=False)
    b = train(tiny_cfg.replace(seed=1), tmp_path / "b", progress=False)
    assert a["final_param_hash"] != b["final_param_hash"]


def test_run_directory_contents(tiny_cfg, tmp_path):
    record = train(tiny_cfg, tmp_path / "r", progress=False, meta={"variant": "resnet_default"})
    run = rundir.read_run(tmp_path / "r")
    assert run == record
    for key in ("status", "mode", "seed", "steps_completed", "final_param_hash", "wall_time_s",
                "median_step_time_s", "device", "execution", "dataset"):
        assert key in run, key
    assert run["variant"] == "resnet_default"
    assert run["execution"]["deterministic_algorithms"] is True
    assert rundir.read_config(tmp_path / "r") == tiny_cfg
    assert rundir.checkpoint_steps(tmp_path / "r") == [2, 4, 6]
    trace = rundir.read_trace(tmp_path / "r")
    assert {"step", "d_loss", "g_loss", "penalty", "step_time_s", "param_hash"} <= set(trace[0])
    digests = rundir.read_hashes(tmp_path / "r", 6)
    assert any(k.startswith("generator.") for k in digests)
    assert any(k.startswith("opt_d.") for k in digests)  # optimiser slots named by parameter
    fp = json.loads((tmp_path / "r" / "fingerprint.json").read_text())
    assert fp["numerics"]["deterministic_algorithms"] is True  # taken inside the run's mode
    ckpt = rundir.load_checkpoint(tmp_path / "r")  # weights_only=True load of everything we save
    assert ckpt["step"] == 6
    generator, cfg = rundir.load_generator(tmp_path / "r")
    assert not generator.training and cfg == tiny_cfg


@pytest.mark.parametrize("fault", ["kill-after-step:3", "kill-in-checkpoint:4"])
def test_sigkilled_run_resumes_bit_identical(tiny_cfg, tmp_path, fault):
    reference = train(tiny_cfg, tmp_path / "ref", progress=False)
    proc = train_subprocess(tmp_path / "killed", fault)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed_steps = rundir.checkpoint_steps(tmp_path / "killed")
    assert killed_steps == [2], killed_steps  # step 4's checkpoint never landed, no half file counts
    assert rundir.read_run(tmp_path / "killed")["status"] == "running"
    leftovers = list((tmp_path / "killed" / "checkpoints").glob(".*.tmp"))
    assert len(leftovers) == (1 if fault == "kill-in-checkpoint:4" else 0)
    resumed = train(tiny_cfg, tmp_path / "killed", resume=True, progress=False)
    # issue 14 item 4: the temp file of the killed write is cleaned by the next run of the directory
    assert not [p for p in (tmp_path / "killed").rglob("*.tmp")]
    assert resumed["status"] == "completed"
    assert resumed["final_param_hash"] == reference["final_param_hash"]
    assert _hashes(tmp_path / "killed") == _hashes(tmp_path / "ref")
    assert resumed["sessions"] == 2 and resumed["resumed_from_step"] == 2


def test_forced_divergence_ends_as_diverged(tiny_cfg, tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "d"), "--quiet",
                 *[a for k, v in {**_SUBPROCESS_CFG, "lr": "1e30"}.items() for a in ("--set", f"{k}={v}")]])
    assert code == 3
    run = rundir.read_run(tmp_path / "d")
    assert run["status"] == "diverged"
    assert 1 <= run["diverged_step"] <= 6
    assert run["last_good_checkpoint"] in (None, *rundir.checkpoint_steps(tmp_path / "d"))
    assert run["diverged_step"] > (run["last_good_checkpoint"] or 0)


def test_resume_with_different_config_names_fields(tiny_cfg, tmp_path):
    train(tiny_cfg.replace(steps=2), tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"differing fields: lr: run has 0.0002, asked 0.001"):
        train(tiny_cfg.replace(steps=2, lr=1e-3), tmp_path / "r", resume=True, progress=False)


def test_existing_run_refused_without_force(tiny_cfg, tmp_path):
    small = tiny_cfg.replace(steps=2)
    train(small, tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match="--resume .* --force"):
        train(small.replace(seed=3), tmp_path / "r", progress=False)
    record = train(small.replace(seed=3), tmp_path / "r", force=True, progress=False)
    assert record["seed"] == 3 and rundir.read_config(tmp_path / "r").seed == 3


def test_resume_of_completed_run_trains_nothing(tiny_cfg, tmp_path):
    small = tiny_cfg.replace(steps=2)
    first = train(small, tmp_path / "r", progress=False)
    again = train(small, tmp_path / "r", resume=True, progress=False)
    assert again == first


def test_corrupt_checkpoint_falls_back_on_resume_and_is_named_when_none_verifies(tiny_cfg, tmp_path, capsys):
    small = tiny_cfg.replace(steps=2, checkpoint_every=1)
    reference = train(small, tmp_path / "ref", progress=False)
    train(small, tmp_path / "r", progress=False)
    path = rundir.checkpoint_path(tmp_path / "r", 2)
    intact = path.read_bytes()
    path.write_bytes(intact[:100])  # truncated
    set_status(tmp_path / "r", "running")  # as if killed after writing it
    resumed = train(small, tmp_path / "r", resume=True, progress=False)
    err = capsys.readouterr().err
    assert f"corrupt or truncated checkpoint {path}" in err and "resumed from the verified checkpoint of step 1" in err
    assert resumed["status"] == "completed" and resumed["final_param_hash"] == reference["final_param_hash"]
    assert resumed["rejected_checkpoints"][0]["step"] == 2
    assert path.with_name(path.name + ".rejected").read_bytes() == intact[:100]  # kept, not deleted

    for step in (1, 2):  # now no checkpoint can be trusted: an error naming each, nothing renamed
        p = rundir.checkpoint_path(tmp_path / "r", step)
        p.write_bytes(p.read_bytes()[:100])
    set_status(tmp_path / "r", "running")
    with pytest.raises(ValueError, match=r"no checkpoint of .* verifies .*step 2: corrupt or truncated .*step 1: corrupt"):
        train(small, tmp_path / "r", resume=True, progress=False)
    assert rundir.checkpoint_steps(tmp_path / "r") == [1, 2]


def test_cli_bad_input_exit_2(tmp_path, capsys):
    assert main(["train", "--variant", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown variant 'nope'" in err and "`repro variants` lists them" in err
    assert main(["train", "--variant", "resnet_al", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "did you mean resnet_all" in err and len(err) < 300  # not a line of 171 names
    assert main(["train", "--set", "colour=red", "--out", str(tmp_path)]) == 2
    assert "unknown config key 'colour'" in capsys.readouterr().err
    assert main(["train", "--set", "lr=-1", "--out", str(tmp_path)]) == 2
    assert "invalid lr=-1.0" in capsys.readouterr().err


def test_mode_context_restores_global_state():
    from repro.determinism import execution_mode

    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
              os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    with execution_mode("deterministic") as settings:
        assert torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert settings["cudnn_deterministic"] is True and settings["cudnn_benchmark"] is False
        assert settings["mkldnn_deterministic"] in (True, None)  # None: a torch without the switch
    with execution_mode("nondeterministic") as settings:
        assert not torch.are_deterministic_algorithms_enabled()
        assert settings["cudnn_benchmark"] is True
        assert settings["mkldnn_deterministic"] in (False, None)
    after = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    assert before == after


def test_random_streams_are_independent():
    from repro.determinism import derive_seed

    seeds = {derive_seed(0, s) for s in ("data", "z", "penalty", "init", "eval")}
    assert len(seeds) == 5
    assert derive_seed(0, "z") == derive_seed(0, "z") != derive_seed(1, "z")


def test_scan_on_cpu_reports_none_and_says_cpu(tiny_cfg):
    from repro.train.scan import scan

    result = scan(tiny_cfg)
    assert result["ops"] == []
    assert "CPU result" in result["note"]
