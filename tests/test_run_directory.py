"""Issue 14: what a run may write and delete. --force removes only what a run wrote (item 6), bad
input creates nothing (item 9), and --out paths that cannot be a run directory are one error line."""

from __future__ import annotations

import json
import shutil

import pytest
from train_helpers import SUBPROCESS_CFG

from repro import rundir
from repro.cli import main
from repro.config import TrainConfig
from repro.train import train

TRAIN_ARGS = ["--quiet", *[a for k, v in {**SUBPROCESS_CFG, "steps": 2}.items() for a in ("--set", f"{k}={v}")]]


@pytest.fixture(scope="module")
def run_once(tmp_path_factory):
    cfg = TrainConfig(architecture="resnet", width=0.0625, batch_size=8, steps=2, checkpoint_every=2, trace_every=1,
                      device="cpu")
    out = tmp_path_factory.mktemp("run") / "r"
    return cfg, out, train(cfg, out, progress=False)


@pytest.fixture
def run_copy(run_once, tmp_path):
    cfg, out, record = run_once
    shutil.copytree(out, tmp_path / "r")
    return cfg, tmp_path / "r", record


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("repro: error: "), err
    return err


# --------------------------------------------------------------------------- item 6


def _someone_elses(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "my own", "lr": 0.1}))
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "my_model_weights.bin").write_bytes(b"\x00" * 64)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_force_on_a_folder_that_is_not_a_run_deletes_nothing(tmp_path, capsys):
    before = _someone_elses(tmp_path / "theirs")
    assert main(["train", "--out", str(tmp_path / "theirs"), "--force", *TRAIN_ARGS]) == 2
    err = _one_error_line(capsys)
    assert "is not a run directory" in err and "config.json, checkpoints/" in err and rundir.MARKER in err
    assert sorted(p.relative_to(tmp_path / "theirs").as_posix() for p in (tmp_path / "theirs").rglob("*")) == before
    assert main(["train", "--out", str(tmp_path / "theirs"), *TRAIN_ARGS]) == 2  # nor without --force
    assert "is not a run directory" in capsys.readouterr().err


def test_force_removes_only_what_the_run_wrote(run_copy, capsys):
    cfg, out, _ = run_copy
    (out / "notes.txt").write_text("my notes on this run")
    (out / "checkpoints" / "best_by_hand.bin").write_bytes(b"keep me")
    record = train(cfg.replace(seed=3), out, force=True, progress=False)
    assert record["seed"] == 3 and rundir.read_config(out).seed == 3
    assert (out / "notes.txt").read_text() == "my notes on this run"
    assert (out / "checkpoints" / "best_by_hand.bin").read_bytes() == b"keep me"
    assert "--force kept what no run wrote" in capsys.readouterr().err


def test_an_empty_or_unrelated_folder_becomes_a_run(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "README").write_text("runs of today")  # no name a run writes: nothing to confuse
    assert main(["train", "--out", str(tmp_path / "r"), *TRAIN_ARGS]) == 0
    assert rundir.is_run_dir(tmp_path / "r") and (tmp_path / "r" / rundir.MARKER).is_file()


def test_a_run_from_before_the_marker_is_still_a_run(run_copy):
    cfg, out, record = run_copy
    (out / rundir.MARKER).unlink()  # written by an older repro
    assert rundir.is_run_dir(out)
    assert train(cfg, out, resume=True, progress=False) == record
    assert train(cfg.replace(seed=5), out, force=True, progress=False)["seed"] == 5


# --------------------------------------------------------------------------- item 9


def test_bad_input_creates_nothing_and_blocks_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--dataset", "nope", "--out", str(out), *TRAIN_ARGS]) == 2
    assert "unknown dataset 'nope'" in _one_error_line(capsys)
    assert not out.exists()  # was: config.json and fingerprint.json, which blocked the next run
    assert main(["train", "--out", str(out), *TRAIN_ARGS]) == 0


def test_bad_input_with_force_keeps_the_old_run(run_copy, capsys):
    cfg, out, record = run_copy
    assert main(["train", "--dataset", "cifar10", "--out", str(out), "--force", *TRAIN_ARGS]) == 2
    assert "cifar10" in _one_error_line(capsys)
    assert rundir.read_run(out) == record and rundir.read_config(out) == cfg  # validated before removing


# --------------------------------------------------------------------------- --out paths


def test_out_that_is_a_file_or_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("a file")
    assert main(["train", "--out", str(tmp_path / "f"), *TRAIN_ARGS]) == 2
    assert "is a file, not a directory" in _one_error_line(capsys)
    assert main(["train", "--out", str(tmp_path / "f" / "run"), *TRAIN_ARGS]) == 2
    assert f"lies under {tmp_path / 'f'}, which is a file" in _one_error_line(capsys)
    assert (tmp_path / "f").read_text() == "a file"


def test_out_in_a_folder_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    import os

    (tmp_path / "ro").mkdir()
    real = os.access
    # the tests may run as root, for whom permission bits do not bind: refuse through os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path / "ro") else real(p, mode))
    assert main(["train", "--out", str(tmp_path / "ro" / "run"), *TRAIN_ARGS]) == 2
    assert f"{tmp_path / 'ro'} is not writable" in _one_error_line(capsys)
    assert list((tmp_path / "ro").iterdir()) == []


# --------------------------------------------------------------------------- issue 24 items 6 and 7


def _image_folder(root, corrupt: str | None = None):
    from data_fixtures import write_image_folder

    write_image_folder(root, [f"img{i:03d}.png" for i in range(20)], 16, 16)
    if corrupt:
        (root / corrupt).write_bytes(b"not an image at all")
    return root


FOLDER_ARGS = ["--dataset", "folder", "--set", "channels=3"]


def test_a_corrupt_training_image_fails_before_anything_is_written(tmp_path, capsys):
    data = _image_folder(tmp_path / "data", corrupt="img004.png")
    out = tmp_path / "r"
    args = ["train", "--out", str(out), "--data-root", str(data), *FOLDER_ARGS, *TRAIN_ARGS]
    assert main(args) == 2
    err = _one_error_line(capsys)
    assert "corrupt or truncated image" in err and str(data / "img004.png") in err
    assert not out.exists()  # was: config.json, fingerprint.json and the marker, which refused the rerun
    _image_folder(data)  # the image repaired: a plain rerun trains
    assert main(args) == 0


def test_a_fifo_in_an_image_folder_is_named_not_waited_on(tmp_path):
    import os
    import subprocess
    import sys

    data = _image_folder(tmp_path / "data")
    (data / "img004.png").unlink()
    os.mkfifo(data / "img004.png")
    proc = subprocess.run([sys.executable, "-m", "repro", "data", "check", "folder", "--data-root", str(data)],
                          capture_output=True, text=True, timeout=120)  # was: hung until killed
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"repro: error: image {data / 'img004.png'} is a FIFO (named pipe), not an image " \
                                  "file; remove it from the dataset folder"


def test_a_dangling_symlink_out_is_named(tmp_path, capsys):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert main(["train", "--out", str(tmp_path / "link"), *TRAIN_ARGS]) == 2  # was: "File exists"
    assert f"is a symbolic link to {tmp_path / 'nowhere'}, which does not exist" in _one_error_line(capsys)


def test_a_run_of_a_newer_schema_is_named(run_copy, capsys):
    cfg, out, record = run_copy
    (out / rundir.MARKER).write_text(json.dumps({"schema": "repro.run/2", "written_by": "repro train"}))
    for extra in ([], ["--resume"], ["--force"]):
        assert main(["train", "--out", str(out), *TRAIN_ARGS, *extra]) == 2
        err = _one_error_line(capsys)  # was: "holds repro-run.json ... but no repro-run.json"
        assert "written by another version of repro" in err and "'repro.run/2'" in err and "'repro.run/1'" in err
    assert rundir.read_run(out) == record  # nothing replaced


@pytest.mark.parametrize("option,value,message", [
    ("--seed", str(2**70), f"invalid seed={2**70}: must be an integer in \\[0, 2\\*\\*63 - 1\\]"),
    ("--steps", "99999999999999999999999", "invalid steps=99999999999999999999999: at most 100,000,000"),
])
def test_out_of_range_seed_and_steps_name_the_field(tmp_path, capsys, option, value, message):
    args = [a for k, v in SUBPROCESS_CFG.items() if k != "steps" for a in ("--set", f"{k}={v}")]
    assert main(["train", "--out", str(tmp_path / "r"), "--quiet", option, value, *args]) == 2
    assert __import__("re").search(message, _one_error_line(capsys))
    assert not (tmp_path / "r").exists()
