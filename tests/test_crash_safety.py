"""Issue 14, crash windows and integrity: checkpoint + hashes as one unit, verified checkpoints,
damaged traces, a full disk. Each test reproduces a defect the issue found on the old code."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
import torch
from train_helpers import SUBPROCESS_CFG, set_status, train_subprocess

from repro import rundir
from repro.audit import divergence
from repro.cli import main
from repro.config import TrainConfig
from repro.train import train

TRAIN_ARGS = [a for k, v in SUBPROCESS_CFG.items() for a in ("--set", f"{k}={v}")]  # tiny_cfg on the CLI


@pytest.fixture(scope="module")
def reference_once(tmp_path_factory):
    cfg = TrainConfig(architecture="resnet", width=0.0625, batch_size=8, steps=6, checkpoint_every=2,
                      trace_every=1, device="cpu")  # == tiny_cfg
    out = tmp_path_factory.mktemp("ref") / "ref"
    return out, train(cfg, out, progress=False)


@pytest.fixture
def reference(reference_once, tmp_path):
    """An uninterrupted run of tiny_cfg at tmp_path/ref (the bits every recovered run must end
    with), and its record."""
    shutil.copytree(reference_once[0], tmp_path / "ref")
    return reference_once[1]


def _completed(tmp_path, name: str = "r"):
    """A copy of the reference run to damage (the same bits as training it again)."""
    shutil.copytree(tmp_path / "ref", tmp_path / name)
    return tmp_path / name


# --------------------------------------------------------------------------- item 1


@pytest.mark.slow  # the fast tier has the in-process case below; the slow tier sweeps every window
def test_kill_between_hashes_and_checkpoint_leaves_a_resumable_comparable_run(tiny_cfg, tmp_path, reference):
    proc = train_subprocess(tmp_path / "killed", "kill-before-publish:4")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert rundir.checkpoint_steps(tmp_path / "killed") == [2]  # hashes written, checkpoint not published
    resumed = train(tiny_cfg, tmp_path / "killed", resume=True, progress=False)
    assert resumed["final_param_hash"] == reference["final_param_hash"]
    for step in rundir.checkpoint_steps(tmp_path / "killed"):
        assert rundir.read_hashes(tmp_path / "killed", step) == rundir.read_hashes(tmp_path / "ref", step)
    assert divergence.compare(tmp_path / "ref", tmp_path / "killed")["identical"]


def test_checkpoint_without_hashes_is_not_resumed_from(tiny_cfg, tmp_path, reference, capsys):
    """The old window: a checkpoint on disk whose hashes file never landed (a run killed by an older
    version between the two writes). Resuming from it left a run that every later audit refused
    ("checkpoint hashes not found"); now the resume falls back to the last verified checkpoint."""
    _completed(tmp_path)
    rundir.hashes_path(tmp_path / "r", 6).unlink()
    set_status(tmp_path / "r", "running")
    resumed = train(tiny_cfg, tmp_path / "r", resume=True, progress=False)
    assert "checkpoint step 6" in capsys.readouterr().err
    assert resumed["final_param_hash"] == reference["final_param_hash"]
    assert resumed["resumed_from_step"] == 4
    assert divergence.compare(tmp_path / "ref", tmp_path / "r")["identical"]


# --------------------------------------------------------------------------- item 2


def _nudge_weight(run_dir, step: int, delta: float = 1e-3) -> str:
    """Change one generator weight of a checkpoint by ``delta``, as the issue did; return its name."""
    path = rundir.checkpoint_path(run_dir, step)
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k, t in ckpt["generator"].items() if t.is_floating_point() and k.endswith("weight"))
    ckpt["generator"][name].view(-1)[0] += delta
    torch.save(ckpt, path)
    return f"generator.{name}"


def test_changed_weight_is_caught_on_resume_and_on_load(tiny_cfg, tmp_path, reference, capsys):
    _completed(tmp_path)
    name = _nudge_weight(tmp_path / "r", 6)
    with pytest.raises(ValueError, match=rf"does not match its hashes .*1 tensor\(s\) differ \({name}\)"):
        rundir.load_generator(tmp_path / "r")  # evaluate's path: a clear error
    set_status(tmp_path / "r", "running")
    resumed = train(tiny_cfg, tmp_path / "r", resume=True, progress=False)
    err = capsys.readouterr().err
    assert "checkpoint step 6" in err and name in err and "resumed from the verified checkpoint of step 4" in err
    assert resumed["status"] == "completed"
    assert resumed["final_param_hash"] == reference["final_param_hash"]  # not the changed weights' hash
    assert [r["step"] for r in resumed["rejected_checkpoints"]] == [6]
    assert (tmp_path / "r" / "checkpoints" / "step_000006.pt.rejected").exists()
    rundir.load_generator(tmp_path / "r")  # the retrained checkpoint verifies


def test_resume_with_no_verified_checkpoint_refuses_and_keeps_everything(tmp_path, reference, capsys):
    _completed(tmp_path)
    for step in (2, 4, 6):
        _nudge_weight(tmp_path / "r", step)
    set_status(tmp_path / "r", "running")
    code = main(["train", "--out", str(tmp_path / "r"), "--resume", "--quiet", *TRAIN_ARGS])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("repro: error: no checkpoint of") and len(err.strip().splitlines()) == 1
    assert "step 6:" in err and "step 4:" in err and "step 2:" in err and "--force" in err
    assert rundir.checkpoint_steps(tmp_path / "r") == [2, 4, 6]


# --------------------------------------------------------------------------- item 3


def _damage_line(run_dir, index: int) -> None:
    path = run_dir / rundir.TRACE
    lines = path.read_text().splitlines(keepends=True)
    lines[index] = lines[index][: len(lines[index]) // 2] + "\n"
    path.write_text("".join(lines))


def test_damaged_trace_line_is_an_error_naming_file_and_line(tiny_cfg, tmp_path, reference):
    _damage_line(_completed(tmp_path, "b"), 0)
    trace = tmp_path / "b" / rundir.TRACE
    with pytest.raises(ValueError, match=rf"damaged trace {trace} line 1"):
        divergence.compare(tmp_path / "ref", tmp_path / "b")  # was: traced_steps_compared 0, identical True
    _damage_line(_completed(tmp_path, "c"), 2)
    rundir.checkpoint_path(tmp_path / "c", 6).unlink()  # as if killed after step 5
    set_status(tmp_path / "c", "running")
    with pytest.raises(ValueError, match=rf"damaged trace {tmp_path / 'c' / rundir.TRACE} line 3"):
        train(tiny_cfg, tmp_path / "c", resume=True, progress=False)  # was: steps 3..4 silently dropped


def test_torn_last_line_is_still_a_crash_not_damage(tmp_path, reference):
    _completed(tmp_path)
    set_status(tmp_path / "r", "running")  # a run still writing (or killed while writing) its trace
    path = tmp_path / "r" / rundir.TRACE
    path.write_text(path.read_text() + '{"step": 7, "d_lo')  # killed mid-append
    assert [r["step"] for r in rundir.read_trace(tmp_path / "r")] == list(range(1, 7))


def test_damaged_last_line_of_a_finished_run_is_damage_naming_file_and_line(tmp_path, reference):
    """Issue 24 item 3: a completed run's damaged last line was dropped as if torn, and the audit then
    said "reproducible: NO" beside "identical" naming no file. Only a run still writing has a torn line."""
    _damage_line(_completed(tmp_path, "b"), 5)
    trace = tmp_path / "b" / rundir.TRACE
    with pytest.raises(rundir.DamagedTrace, match=rf"damaged trace {trace} line 6: .*the run finished.*--force") as err:
        divergence.compare(tmp_path / "ref", tmp_path / "b")
    assert (err.value.path, err.value.line, err.value.run_dir) == (trace, 6, tmp_path / "b")
    with pytest.raises(rundir.DamagedTrace, match="line 6"):
        rundir.check_trace(tmp_path / "b")  # what the audit's reuse calls before trusting a finished run
    assert main(["train", "--out", str(tmp_path / "b"), "--force", "--quiet", *TRAIN_ARGS]) == 0  # the repair
    assert divergence.compare(tmp_path / "ref", tmp_path / "b")["identical"]


def test_zero_compared_steps_never_read_as_identical(tmp_path, reference):
    path = _completed(tmp_path, "b") / rundir.TRACE
    rows = [{k: v for k, v in json.loads(line).items() if k != "param_hash"} for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))  # valid, but no hash to compare
    result = divergence.compare(tmp_path / "ref", tmp_path / "b")
    assert result["traced_steps_compared"] == 0
    assert result["identical"] is False and "no traced step" in result["evidence"]


# --------------------------------------------------------------------------- a full disk


def test_full_disk_marks_the_run_failed_and_loses_nothing(tiny_cfg, tmp_path, reference, monkeypatch, capsys):
    monkeypatch.setenv("REPRO_FAULT", "enospc-in-checkpoint:4")
    args = ["train", "--out", str(tmp_path / "r"), "--quiet", *TRAIN_ARGS]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro: error: No space left on device") and len(err.strip().splitlines()) == 1
    assert "marked failed" in err and "--resume" in err
    # issue 24 item 4: what torch.save really raises on a full device (the fault hook writes to /dev/full)
    assert "torch.save could not write the checkpoint" in err and "inline_container.cc" in err
    record = rundir.read_run(tmp_path / "r")
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert rundir.checkpoint_steps(tmp_path / "r") == [2]  # the last good checkpoint, intact
    assert not list((tmp_path / "r").rglob("*.tmp"))
    monkeypatch.delenv("REPRO_FAULT")
    assert main([*args, "--resume"]) == 0  # space again: the run continues, bit-exact
    assert rundir.read_run(tmp_path / "r")["final_param_hash"] == reference["final_param_hash"]


def test_full_disk_while_marking_the_run_failed_still_marks_it(tiny_cfg, tmp_path, monkeypatch):
    """When even the atomic write of run.json finds no space, run.json is overwritten in place."""
    import errno

    from repro import io
    from repro.train import run as run_mod

    monkeypatch.setenv("REPRO_FAULT", "enospc-in-checkpoint:4")
    real = io.write_json

    def no_space_once_failed(path, obj):
        if path.name == rundir.RUN and obj.get("status") == "failed":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, obj)

    monkeypatch.setattr(run_mod.io, "write_json", no_space_once_failed)
    with pytest.raises(OSError, match="the run is marked failed"):
        train(tiny_cfg, tmp_path / "r", progress=False)
    assert rundir.read_run(tmp_path / "r")["status"] == "failed"


# --------------------------------------------------------------------------- the slow tier: every window

_WINDOWS = ([f"kill-after-step:{s}" for s in range(1, 7)]
            + [f"{kind}:{s}" for kind in ("kill-in-checkpoint", "kill-before-publish") for s in (2, 4, 6)])


@pytest.mark.slow
@pytest.mark.parametrize("fault", _WINDOWS)
def test_sigkill_in_every_window_resumes_bit_identical(tiny_cfg, tmp_path, reference, fault):
    """A SIGKILL after every step and inside every checkpoint write: --resume ends bit-identical,
    with every checkpoint verified and comparable, and no temp file left."""
    proc = train_subprocess(tmp_path / "k", fault)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = train(tiny_cfg, tmp_path / "k", resume=True, progress=False)
    assert resumed["status"] == "completed" and resumed["final_param_hash"] == reference["final_param_hash"]
    assert "rejected_checkpoints" not in resumed  # nothing was damaged: nothing to reject
    result = divergence.compare(tmp_path / "ref", tmp_path / "k")
    assert result["identical"] and result["traced_steps_compared"] == 6
    assert not list((tmp_path / "k").rglob("*.tmp"))
    assert rundir.checkpoint_steps(tmp_path / "k") == [2, 4, 6]


def test_the_audit_refuses_a_damaged_finished_run_and_force_retrains_it(tmp_path, reference):
    """Issue 24 item 3: the audit's reuse reads a finished run's whole trace before trusting it; the
    error names the file and line, and --force (what the message says) retrains that run."""
    from repro.audit import reuse
    from repro.audit.plan import RunSpec

    run = _completed(tmp_path, "b")
    _damage_line(run, 5)
    cfg, spec = rundir.read_config(run), RunSpec("resnet_default", "deterministic", 0, 0)
    with pytest.raises(rundir.DamagedTrace, match=rf"damaged trace {run / rundir.TRACE} line 6: .*--force"):
        reuse.run_action(spec, run, cfg, force=False)
    action, what = reuse.run_action(spec, run, cfg, force=True)
    assert action == "retrain" and f"{run / rundir.TRACE} line 6 is damaged" in what
    assert reuse.run_action(spec, _completed(tmp_path, "c"), cfg, force=False)[0] == "reuse"
