"""Issue 14 item 5: one writer per run or audit directory; the lock dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from train_helpers import SUBPROCESS_CFG, train_args

from repro import lock, rundir
from repro.cli import main

TRAIN_ARGS = ["--quiet", *[a for k, v in {**SUBPROCESS_CFG, "steps": 2}.items() for a in ("--set", f"{k}={v}")]]

_HOLDER = """
import sys, time
from repro import lock
with lock.hold(sys.argv[1], "run directory"):
    print("locked", flush=True)
    time.sleep(600)
"""


def _hold_in_child(directory) -> subprocess.Popen:
    """A child process that takes the lock of ``directory`` and sleeps holding it."""
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_writer_is_refused_naming_the_pid_and_a_sigkill_releases(tmp_path, capsys):
    out = tmp_path / "r"
    child = _hold_in_child(out)
    try:
        assert lock.is_locked(out) and lock.holder_pid(out) == child.pid
        assert main(["train", "--out", str(out), *TRAIN_ARGS]) == 2
        err = capsys.readouterr().err
        assert err == (f"repro: error: run directory {out} is in use by PID {child.pid} (lock {out / lock.LOCK_NAME}); "
                       "wait for it to finish, or choose another directory\n")
        assert not (out / rundir.CONFIG).exists()  # the refused writer wrote nothing
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no cleanup code runs in the holder
        child.wait()
    assert not lock.is_locked(out)  # the kernel dropped the lock with the process
    assert main(["train", "--out", str(out), *TRAIN_ARGS]) == 0
    assert not (out / lock.LOCK_NAME).exists()  # released (and removed) when the run ended


def test_lock_is_exclusive_within_a_process_and_released_on_error(tmp_path):
    with lock.hold(tmp_path / "d", "audit directory") as held:
        assert held.created and lock.is_locked(tmp_path / "d")
        with pytest.raises(lock.DirectoryInUse, match=f"in use by PID {os.getpid()}"):
            with lock.hold(tmp_path / "d"):
                pass
    with pytest.raises(RuntimeError):
        with lock.hold(tmp_path / "d"):
            raise RuntimeError("the writer failed")
    assert not lock.is_locked(tmp_path / "d")
    with lock.hold(tmp_path / "d") as held:
        assert not held.created


@pytest.mark.slow
def test_two_concurrent_trains_into_one_directory(tmp_path):
    """The issue's case: two `repro train --force` with different seeds into one --out used to both
    exit 0 and leave config, checkpoints and trace of different seeds. Now the second is refused
    and the directory holds one consistent run."""
    out = tmp_path / "r"
    first = subprocess.Popen(train_args(out, {"steps": 60, "seed": 0}, "--force"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / rundir.TRACE).exists():  # the first one is training
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else ""
        time.sleep(0.05)
    second = subprocess.run(train_args(out, {"steps": 60, "seed": 1}, "--force"), capture_output=True, text=True,
                            timeout=300)
    assert first.poll() is None, "the first run ended before the second started: the test proves nothing"
    assert second.returncode == 2 and f"is in use by PID {first.pid}" in second.stderr
    assert first.wait(timeout=600) == 0
    record = rundir.read_run(out)
    assert record["status"] == "completed" and record["seed"] == 0 and rundir.read_config(out).seed == 0
    assert [r["step"] for r in rundir.read_trace(out)] == list(range(1, 61))
