"""What a resume may continue, and what it verifies first: the run's identity without its execution
fields (issue 23 item 3), the environment (issue 24 item 1), every byte of the checkpoint (item 2),
run records of the wrong shape (item 5), pruned checkpoints (item 8), time-based checkpoints and
extended runs (issue 26 items 7 and 8). Each test failed on the code before it."""

from __future__ import annotations

import json
import shutil
import signal

import pytest
import torch
from tiny import TINY_CFG
from train_helpers import SUBPROCESS_CFG, set_status, train_subprocess

from repro import config, rundir
from repro.audit import divergence
from repro.cli import main
from repro.config import TrainConfig
from repro.errors import EnvironmentMismatch
from repro.train import checkpoints, train
from repro.train.run import continue_or_restart

TINY = dict(architecture="resnet", **TINY_CFG)  # == tiny_cfg
TRAIN_ARGS = [a for k, v in SUBPROCESS_CFG.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def reference_once(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref"
    return out, train(TrainConfig(**TINY), out, progress=False)


@pytest.fixture
def reference(reference_once):
    """An uninterrupted run of tiny_cfg: the bits every continued run must end with."""
    return reference_once[1]


def _hashes(run_dir):
    return {r["step"]: r["param_hash"] for r in rundir.read_trace(run_dir) if "param_hash" in r}


def _interrupted(reference_once, tmp_path, name: str = "r", at: int = 4):
    """A copy of the reference run as a run killed after its checkpoint of step ``at`` would leave it."""
    out = tmp_path / name
    shutil.copytree(reference_once[0], out)
    for step in rundir.checkpoint_steps(out):
        if step > at:
            rundir.checkpoint_path(out, step).unlink()
            rundir.hashes_path(out, step).unlink()
    set_status(out, "running")
    return out


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("repro: error: "), err
    return err


# --------------------------------------------------------------------------- issue 23 item 3: identity


def test_identity_leaves_out_the_execution_fields():
    assert set(config.EXECUTION_FIELDS) == {"checkpoint_every", "trace_every", "checkpoint_minutes", "keep_checkpoints",
                                            "sync_every", "trace_async", "fill_uninitialized_memory"}
    assert set(config.IDENTITY_FIELDS) | set(config.EXECUTION_FIELDS) == set(config.FIELD_NAMES)
    a = TrainConfig()
    b = TrainConfig(sync_every=4, trace_async=True, checkpoint_every=7, checkpoint_minutes=0.5)
    assert config.identity_diff(a, b) == {} and set(config.diff(a, b)) == {"sync_every", "trace_async",
                                                                            "checkpoint_every", "checkpoint_minutes"}
    assert config.identity_diff(a, b.replace(lr=1e-3)) == {"lr": (2e-4, 1e-3)}
    assert "sync_every" not in config.identity(b) and config.execution(b)["sync_every"] == 4
    # --set reaches both kinds
    assert config.parse_overrides(["sync_every=2", "checkpoint_minutes=0.5", "keep_checkpoints=0", "lr=0.001"]) == {
        "sync_every": 2, "checkpoint_minutes": 0.5, "keep_checkpoints": 0, "lr": 0.001}


@pytest.mark.parametrize("field,value", [("checkpoint_every", 3), ("trace_every", 2), ("checkpoint_minutes", 1e-9),
                                         ("keep_checkpoints", 1), ("sync_every", 3), ("trace_async", True),
                                         ("fill_uninitialized_memory", False)])
def test_an_execution_field_never_changes_a_runs_bits(reference_once, tmp_path, field, value):
    """What makes a field an execution field. checkpoint_minutes=1e-9 writes a time-based checkpoint
    after every step that has no scheduled one (issue 26 item 7: they must not change the bits)."""
    record = train(TrainConfig(**TINY).replace(**{field: value}), tmp_path / "r", progress=False)
    assert record["final_param_hash"] == reference_once[1]["final_param_hash"]
    ours, ref = _hashes(tmp_path / "r"), _hashes(reference_once[0])
    assert ours and all(ours[s] == ref[s] for s in ours)


def test_resume_with_other_execution_options_continues_bit_exactly(reference_once, reference, tmp_path):
    out = _interrupted(reference_once, tmp_path)
    faster = TrainConfig(**TINY).replace(sync_every=2, trace_async=True, checkpoint_every=3)
    resumed = train(faster, out, resume=True, progress=False)  # was: "differing fields: checkpoint_every, ..."
    assert resumed["status"] == "completed" and resumed["resumed_from_step"] == 4
    assert resumed["final_param_hash"] == reference["final_param_hash"]
    assert rundir.read_config(out) == faster  # config.json records the execution fields it continued with
    assert divergence.compare(reference_once[0], out)["identical"]


def test_run_mode_enters_the_runs_whole_execution_mode():
    from repro.determinism import run_mode

    cfg = TrainConfig(fill_uninitialized_memory=False, threads=1)
    with run_mode(cfg) as settings:
        assert settings["fill_uninitialized_memory"] is False and settings["threads"] == 1
        assert torch.are_deterministic_algorithms_enabled()
    with run_mode(cfg, mode="nondeterministic") as settings:
        assert settings["mode"] == "nondeterministic" and not torch.are_deterministic_algorithms_enabled()


# --------------------------------------------------------------------------- issue 24 item 1: environment


def test_resume_at_another_thread_count_is_refused_unless_allowed(reference_once, reference, tmp_path, capsys):
    out = _interrupted(reference_once, tmp_path)
    fingerprint_before = (out / rundir.FINGERPRINT).read_bytes()
    run_before = (out / rundir.RUN).read_bytes()
    threads = torch.get_num_threads()
    other = 2 if threads == 1 else 1
    torch.set_num_threads(other)  # as OMP_NUM_THREADS in the issue: config.json says threads 0 both times
    try:
        with pytest.raises(EnvironmentMismatch, match=rf"threads.torch_intra_op: run has {threads}, this session "
                                                      rf"{other}.*--allow-env-change"):
            train(TrainConfig(**TINY), out, resume=True, progress=False)  # was: exit 0 on other bits
        assert (out / rundir.RUN).read_bytes() == run_before  # nothing written
        assert main(["train", "--out", str(out), "--resume", "--quiet", *TRAIN_ARGS]) == 2
        assert "cannot resume" in _one_error_line(capsys)
        resumed = train(TrainConfig(**TINY), out, resume=True, allow_env_change=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert resumed["status"] == "completed" and resumed["bit_reproducible"] is False
    envs = resumed["environments"]
    assert [(e["session"], e["from_step"]) for e in envs] == [(1, 0), (2, 4)]
    assert envs[0]["fingerprint"]["threads.torch_intra_op"] == threads
    assert envs[1]["fingerprint"]["threads.torch_intra_op"] == other and "threads.torch_intra_op" in envs[1]["differs"]
    assert (out / rundir.FINGERPRINT).read_bytes() == fingerprint_before  # the first session's, not rewritten


def test_resume_in_the_same_environment_records_nothing_more(reference_once, reference, tmp_path):
    out = _interrupted(reference_once, tmp_path)
    before = (out / rundir.FINGERPRINT).read_bytes()
    resumed = train(TrainConfig(**TINY), out, resume=True, progress=False)
    assert "environments" not in resumed and "bit_reproducible" not in resumed
    assert (out / rundir.FINGERPRINT).read_bytes() == before


def test_a_thread_variable_that_leaves_the_thread_count_alone_is_no_change(reference_once, reference, tmp_path,
                                                                             monkeypatch):
    """OMP_NUM_THREADS only sets torch's count (compared as threads.torch_intra_op): a Ray worker sets it,
    a shell may not, and the bits follow the count torch uses."""
    out = _interrupted(reference_once, tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # torch in this process keeps the count it has
    resumed = train(TrainConfig(**TINY), out, resume=True, progress=False)
    assert "environments" not in resumed and resumed["final_param_hash"] == reference["final_param_hash"]


def test_another_cpu_model_is_named(reference_once, tmp_path):
    out = _interrupted(reference_once, tmp_path)
    fp = json.loads((out / rundir.FINGERPRINT).read_text())
    fp["cpu"]["model"] = "Imaginary CPU 9000"
    (out / rundir.FINGERPRINT).write_text(json.dumps(fp))
    with pytest.raises(EnvironmentMismatch, match="cpu.model: run has 'Imaginary CPU 9000'"):
        train(TrainConfig(**TINY), out, resume=True, progress=False)


# --------------------------------------------------------------------------- issue 24 item 2: whole checkpoint


def _tamper_z(ckpt):
    ckpt["rng"]["z"][100:108] ^= 0xFF


def _tamper_sampler(ckpt):
    ckpt["sampler"]["position"] += 8


def _tamper_lr(ckpt):
    ckpt["opt_g"]["param_groups"][0]["lr"] *= 2


def _tamper_step(ckpt):
    ckpt["step"] = 5


@pytest.mark.parametrize("tamper", [_tamper_z, _tamper_sampler, _tamper_lr, _tamper_step])
def test_a_changed_byte_anywhere_in_a_checkpoint_is_caught(reference_once, reference, tmp_path, tamper, capsys):
    out = _interrupted(reference_once, tmp_path)
    path = rundir.checkpoint_path(out, 4)
    ckpt = torch.load(path, weights_only=True)
    tamper(ckpt)
    torch.save(ckpt, path)
    resumed = train(TrainConfig(**TINY), out, resume=True, progress=False)  # was: "completed" on other bits
    assert [r["step"] for r in resumed["rejected_checkpoints"]] == [4], capsys.readouterr().err
    assert resumed["resumed_from_step"] == 2 and resumed["final_param_hash"] == reference["final_param_hash"]
    assert divergence.compare(reference_once[0], out)["identical"]


def test_a_checkpoint_without_a_file_hash_is_still_checked_for_shape(reference_once, tmp_path):
    """A checkpoint written before whole-file hashes: its step and RNG states are checked for shape."""
    out = _interrupted(reference_once, tmp_path)
    hashes = rundir.hashes_path(out, 4)
    hashes.write_text(json.dumps(rundir.read_hashes(out, 4)))  # no "#sha256"
    path = rundir.checkpoint_path(out, 4)
    ckpt = torch.load(path, weights_only=True)
    ckpt["rng"]["numpy"]["key"] = ckpt["rng"]["numpy"]["key"][:3]  # was: IndexError
    torch.save(ckpt, path)
    resumed = train(TrainConfig(**TINY), out, resume=True, progress=False)
    assert "NumPy RNG state" in resumed["rejected_checkpoints"][0]["reason"]


# --------------------------------------------------------------------------- issue 24 item 5: shapes


@pytest.mark.parametrize("content,message", [
    ([1, 2], "damaged run record .*run.json: expected an object, got list"),
    ("SESSIONS", "damaged run record .*run.json: sessions is str \"2\", expected int"),
])
def test_run_record_of_the_wrong_shape_is_one_line(reference_once, tmp_path, capsys, content, message):
    out = _interrupted(reference_once, tmp_path)
    if content == "SESSIONS":
        content = {**json.loads((out / rundir.RUN).read_text()), "sessions": "2"}
    (out / rundir.RUN).write_text(json.dumps(content))
    assert main(["train", "--out", str(out), "--resume", "--quiet", *TRAIN_ARGS]) == 2  # was: a traceback
    err = _one_error_line(capsys)
    assert __import__("re").search(message, err), err


def test_hashes_file_of_the_wrong_shape_is_named(reference_once, reference, tmp_path):
    out = _interrupted(reference_once, tmp_path)
    rundir.hashes_path(out, 4).write_text("[]")
    with pytest.raises(ValueError, match="damaged checkpoint hashes .*step_000004.hashes.json: expected an object"):
        rundir.load_checkpoint(out, 4)  # was: AttributeError
    resumed = train(TrainConfig(**TINY), out, resume=True, progress=False)
    assert resumed["resumed_from_step"] == 2 and resumed["final_param_hash"] == reference["final_param_hash"]


# --------------------------------------------------------------------------- issue 24 item 8: pruning


def test_kept_checkpoints_rule():
    assert checkpoints.kept_steps(list(range(1, 13)), 1, 2) == {1, 2, 4, 8, 11, 12}
    assert checkpoints.kept_steps(list(range(10, 130, 10)), 10, 3) == {10, 20, 40, 80, 100, 110, 120}
    assert checkpoints.kept_steps([3, 6, 7], 3, 1) == {3, 6, 7}  # 7: the last step, off the schedule
    assert checkpoints.kept_steps(list(range(1, 13)), 1, 0) == set(range(1, 13))  # 0 keeps every one


def test_old_checkpoints_are_pruned_and_pairs_still_compare(tmp_path):
    cfg = TrainConfig(**{**TINY, "steps": 12, "checkpoint_every": 1, "keep_checkpoints": 2})
    a = train(cfg, tmp_path / "a", progress=False)  # was: 12 checkpoints, never pruned
    assert rundir.checkpoint_steps(tmp_path / "a") == [1, 2, 4, 8, 11, 12]
    assert train(cfg, tmp_path / "b", progress=False)["final_param_hash"] == a["final_param_hash"]
    result = divergence.compare(tmp_path / "a", tmp_path / "b")
    assert result["identical"] and [s for s, _ in result["rel_l2"]] == [1, 2, 4, 8, 11, 12]


# --------------------------------------------------------------------------- issue 26 item 7: time checkpoints


def test_a_run_killed_before_its_first_scheduled_checkpoint_resumes_from_a_time_based_one(reference, tmp_path):
    cfg = {**SUBPROCESS_CFG, "checkpoint_every": 5, "checkpoint_minutes": 1e-9}  # a resume point after every step
    proc = train_subprocess(tmp_path / "k", "kill-after-step:3", cfg)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert rundir.checkpoint_steps(tmp_path / "k") == [2]  # the newest resume point only
    assert rundir.checkpoint_meta(tmp_path / "k", 2)["kind"] == "time"
    resumed = train(TrainConfig(**TINY).replace(checkpoint_every=5, checkpoint_minutes=1e-9), tmp_path / "k",
                    resume=True, progress=False)  # was: restarted from step 0
    assert resumed["resumed_from_step"] == 2 and resumed["final_param_hash"] == reference["final_param_hash"]
    assert rundir.checkpoint_steps(tmp_path / "k") == [5, 6]  # a finished run keeps only scheduled ones


# --------------------------------------------------------------------------- issue 26 item 8: extending


@pytest.mark.parametrize("every", [2, 3])
def test_extending_a_finished_run_gives_the_bits_of_the_longer_run(tmp_path, every):
    long = TrainConfig(**TINY).replace(checkpoint_every=every)
    ref = train(long, tmp_path / "ref", progress=False)
    short = train(long.replace(steps=4), tmp_path / "r", progress=False)
    assert short["status"] == "completed"
    assert continue_or_restart(long, tmp_path / "r") == (True, False)  # the pipeline extends too
    extended = train(long, tmp_path / "r", resume=True, progress=False)  # was: "differing fields: steps"
    assert extended["status"] == "completed" and extended["steps"] == 6 and extended["resumed_from_step"] == 4
    assert extended["final_param_hash"] == ref["final_param_hash"]
    assert extended["extended"] == [{"session": 2, "from_steps": 4, "to_steps": 6, "from_step": 4}]
    assert _hashes(tmp_path / "r") == _hashes(tmp_path / "ref")
    # the same checkpoints as the run trained to 6 at once (with every=3, step 4 was a resume point)
    assert rundir.checkpoint_steps(tmp_path / "r") == rundir.checkpoint_steps(tmp_path / "ref")
    assert divergence.compare(tmp_path / "ref", tmp_path / "r")["identical"]


def test_extending_on_the_command_line_and_shortening_refused(tmp_path, capsys):
    no_steps = [a for k, v in SUBPROCESS_CFG.items() if k != "steps" for a in ("--set", f"{k}={v}")]
    args = ["train", "--out", str(tmp_path / "r"), "--quiet", *no_steps]
    assert main([*args, "--steps", "4"]) == 0
    assert main([*args, "--steps", "6", "--resume"]) == 0
    assert rundir.read_run(tmp_path / "r")["steps_completed"] == 6
    capsys.readouterr()
    assert main([*args, "--steps", "4", "--resume"]) == 2
    assert "steps: run has 6, asked 4 (a run can be extended to more steps, never shortened)" in _one_error_line(capsys)


def test_a_cpu_run_does_not_depend_on_cuda_switches():
    """CI found it: a test had moved the CUDA matmul's fp32_precision ('none' -> 'ieee'), and
    resuming a CPU run in that process was refused as another environment. CPU kernels read no CUDA
    or cuDNN switch; a GPU run still does."""
    from repro.train.resume import environment_changes

    run = {"numerics.fp32_precision_cuda_matmul": "none", "numerics.cudnn_benchmark": False,
           "numerics.float32_matmul_precision": "highest"}
    now = {**run, "numerics.fp32_precision_cuda_matmul": "ieee", "numerics.cudnn_benchmark": True}
    assert environment_changes(run, now, on_gpu=False) == []
    assert [k for k, _, _ in environment_changes(run, now, on_gpu=True)] == [
        "numerics.cudnn_benchmark", "numerics.fp32_precision_cuda_matmul"]
    changed = {**run, "numerics.float32_matmul_precision": "high"}
    assert [k for k, _, _ in environment_changes(run, changed, on_gpu=False)] == ["numerics.float32_matmul_precision"]
