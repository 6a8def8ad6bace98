"""Issue 14: errors that were tracebacks are one line, exit 2, and lose nothing; `repro evaluate`
says what it scores (item 10); a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from train_helpers import set_status

from repro.cli import main
from repro.config import TrainConfig
from repro.train import train

# the tiny runs here are scored on 32 samples: the KID subset shrinks, as metrics warns, and that is fine
pytestmark = pytest.mark.filterwarnings("ignore:KID subset_size:UserWarning")


@pytest.fixture(scope="module")
def run_once(tmp_path_factory):
    cfg = TrainConfig(architecture="resnet", width=0.0625, batch_size=8, steps=2, checkpoint_every=1, trace_every=1,
                      device="cpu")
    out = tmp_path_factory.mktemp("run") / "r"
    train(cfg, out, progress=False)
    return out


@pytest.fixture
def run_dir(run_once, tmp_path):
    shutil.copytree(run_once, tmp_path / "r")
    return tmp_path / "r"


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert len(err.strip().splitlines()) == 1 and err.startswith("repro: error: "), err
    return err


def _no_scoring(monkeypatch):
    import repro.metrics.evaluate as evaluate

    monkeypatch.setattr(evaluate, "evaluate_run", lambda *a, **k: pytest.fail("scored before checking the output"))


# --------------------------------------------------------------------------- repro evaluate


def test_evaluate_a_file_or_a_missing_run(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("{}")
    assert main(["evaluate", str(tmp_path / "metrics.json")]) == 2
    assert "is a file, not a run directory" in _one_error_line(capsys)
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "is missing, not a run directory" in _one_error_line(capsys)
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "has no run.json" in _one_error_line(capsys)


def test_evaluate_refuses_an_unwritable_output_before_scoring(run_dir, tmp_path, monkeypatch, capsys):
    _no_scoring(monkeypatch)
    (tmp_path / "f").write_text("")
    assert main(["evaluate", str(run_dir), "--out-dir", str(tmp_path / "f")]) == 2
    assert "--out-dir" in _one_error_line(capsys)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(run_dir) else real(p, mode))
    assert main(["evaluate", str(run_dir)]) == 2
    assert f"{run_dir} is not writable" in _one_error_line(capsys)


@pytest.mark.parametrize("status", ["running", "failed"])
def test_evaluate_says_it_scores_an_unfinished_run(run_dir, status, capsys):
    """Item 10: a failed or unfinished run is scored at its last checkpoint, and the output says so."""
    set_status(run_dir, status)
    assert main(["evaluate", str(run_dir), "--num-samples", "32", "--eval-seeds", "1", "--n-boot", "10"]) == 0
    out = capsys.readouterr()
    assert f"repro: warning: run {run_dir} is '{status}', not completed" in out.err
    assert "scoring its last checkpoint, step 2" in out.err
    metrics = json.loads(out.out)
    assert metrics["run_status"] == status and metrics["checkpoint_step"] == 2


def test_evaluate_of_a_completed_run_warns_nothing(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--num-samples", "32", "--eval-seeds", "1", "--n-boot", "10"]) == 0
    out = capsys.readouterr()
    assert "warning" not in out.err and json.loads(out.out)["run_status"] == "completed"


# --------------------------------------------------------------------------- repro gate --update, repro report


def _report(tmp_path):
    from test_gate import make_report

    path = tmp_path / "report.json"
    path.write_text(json.dumps(make_report()))
    return path


def test_gate_update_into_a_directory_or_under_a_file(tmp_path, capsys):
    report = _report(tmp_path)
    (tmp_path / "baselines").mkdir()
    assert main(["gate", "--update", "--baseline", str(tmp_path / "baselines"), "--report", str(report)]) == 2
    assert "baseline" in _one_error_line(capsys)
    assert list((tmp_path / "baselines").iterdir()) == []  # and no temp file left beside it
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "f").write_text("")
    assert main(["gate", "--update", "--baseline", str(tmp_path / "f" / "b.json"), "--report", str(report)]) == 2
    assert "which is a file" in _one_error_line(capsys)


def test_gate_update_into_an_unwritable_folder(tmp_path, monkeypatch, capsys):
    report = _report(tmp_path)
    (tmp_path / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path / "ro") else real(p, mode))
    assert main(["gate", "--update", "--baseline", str(tmp_path / "ro" / "b.json"), "--report", str(report)]) == 2
    assert f"{tmp_path / 'ro'} is not writable" in _one_error_line(capsys)


def test_report_missing_a_section_is_one_line(tmp_path, capsys):
    from test_gate import make_report

    report = make_report()
    del report["cost"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert main(["report", str(path)]) == 2
    err = _one_error_line(capsys)
    assert "missing key(s) cost" in err and str(path) in err
    assert not (tmp_path / "report.md").exists()


# --------------------------------------------------------------------------- a closed pipe


def test_closed_pipe_ends_quietly():
    """`repro variants | head` with the reader gone: no traceback, the SIGPIPE status."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone: the first write fails
    proc = subprocess.run([sys.executable, "-m", "repro", "variants"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 141
