"""Resumable training stages: `repro train --resume-unfinished` and an interrupted DVC stage."""

from __future__ import annotations

import json
import shutil

import pytest
from dvc_helpers import BIN, dvc_env, dvc_project, run
from train_helpers import SUBPROCESS_CFG

from repro import rundir
from repro.cli import main
from repro.gan.presets import config_for
from repro.train import train
from repro.train.run import continue_or_restart


def _cfg(**changes):
    return config_for("resnet_default", **{**SUBPROCESS_CFG, **changes})


def _cli_args(out) -> list[str]:
    return ["train", "--variant", "resnet_default", "--quiet", "--resume-unfinished", "--out", str(out),
            *[a for k, v in SUBPROCESS_CFG.items() for a in ("--set", f"{k}={v}")]]


class Interrupt(KeyboardInterrupt):
    pass


def _interrupted(out, at_step: int = 3):
    """A run stopped by Ctrl-C after ``at_step`` (its last checkpoint: the one before)."""
    def stop(trainer):
        if trainer.step == at_step:
            raise Interrupt
    with pytest.raises(Interrupt):
        train(_cfg(), out, progress=False, step_callback=stop)
    assert rundir.read_run(out)["status"] == "failed" and rundir.checkpoint_steps(out) == [2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run and the same config interrupted after step 3 (trained once per module)."""
    tmp = tmp_path_factory.mktemp("runs")
    whole = train(_cfg(), tmp / "whole", progress=False)
    _interrupted(tmp / "interrupted")
    return tmp, whole


def _copy(runs, name, tmp_path):
    shutil.copytree(runs[0] / name, tmp_path / name)
    return tmp_path / name


def test_an_interrupted_run_is_resumed_bit_exactly(runs, tmp_path, capsys):
    out = _copy(runs, "interrupted", tmp_path)
    assert continue_or_restart(_cfg(), out) == (True, False)
    assert main(_cli_args(out)) == 0
    assert "resuming" in capsys.readouterr().err
    record = rundir.read_run(out)
    assert record["sessions"] == 2 and record["resumed_from_step"] == 2 and record["status"] == "completed"
    assert record["final_param_hash"] == runs[1]["final_param_hash"]  # deterministic mode: the same bits


def test_a_finished_run_is_replaced(runs, tmp_path, capsys):
    """DVC reruns a finished stage only when it is stale (code, params or command changed)."""
    assert continue_or_restart(_cfg(), _copy(runs, "whole", tmp_path)) == (False, True)
    assert "restarting" in (err := capsys.readouterr().err) and "finished run (completed)" in err, err


def test_a_run_of_another_config_is_replaced(runs, tmp_path, capsys):
    out = _copy(runs, "interrupted", tmp_path)
    assert continue_or_restart(_cfg(lr=1e-3), out) == (False, True)
    assert "another config (lr differ)" in capsys.readouterr().err


def test_nothing_there_starts_a_run(tmp_path):
    assert continue_or_restart(_cfg(), tmp_path / "none") == (False, True)
    (tmp_path / "empty").mkdir()
    assert continue_or_restart(_cfg(), tmp_path / "empty") == (False, True)


TINY_PARAMS = """audit:
  variant: resnet_all
  baseline_variant: resnet_default
  dataset: digits
  seed: 0
  extra_seeds: [1, 2]
  steps: 6
  checkpoint_every: 2
  batch_size: 8
  eval_seeds: 1
variants: [resnet_all, resnet_default]
modes: [deterministic, nondeterministic]
replicates: [0, 1]
"""


@pytest.mark.slow
def test_an_interrupted_dvc_stage_resumes_from_its_checkpoint(tmp_path):
    repo = dvc_project(tmp_path, TINY_PARAMS, with_code=True)
    stage = "pipelines/dvc.yaml:train@resnet_default-deterministic-0"
    killed = run([str(BIN / "dvc"), "repro", stage], repo, dvc_env(tmp_path, REPRO_FAULT="kill-after-step:5"),
                 check=False)
    assert killed.returncode != 0, killed.stdout
    out = repo / "runs" / "resnet_default" / "deterministic-s0-r0"
    assert rundir.checkpoint_steps(out) == [2, 4]

    again = run([str(BIN / "dvc"), "repro", stage], repo, dvc_env(tmp_path))
    assert "resuming" in again.stdout + again.stderr, again.stdout + again.stderr
    record = rundir.read_run(out)
    assert record["status"] == "completed" and record["sessions"] == 2 and record["resumed_from_step"] == 4

    # the same config trained without interruption (replicate 1) ends in the same bits
    run([str(BIN / "dvc"), "repro", "pipelines/dvc.yaml:train@resnet_default-deterministic-1"], repo, dvc_env(tmp_path))
    whole = rundir.read_run(repo / "runs" / "resnet_default" / "deterministic-s0-r1")
    assert whole["sessions"] == 1 and whole["final_param_hash"] == record["final_param_hash"]

    status = run([str(BIN / "dvc"), "status", stage, "--json"], repo, dvc_env(tmp_path))
    assert json.loads(status.stdout or "{}") == {}, status.stdout  # DVC records the resumed stage as done
    shutil.rmtree(repo / "runs")
