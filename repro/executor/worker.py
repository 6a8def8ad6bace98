"""What a worker runs for one task, wherever it runs (this process, a local process, a Ray worker).

Two checks happen here and nowhere else: the runs directory is the one the driver wrote its
probe into (a node without the shared filesystem fails with one clear message instead of
training into a private folder), and the test seam that kills a worker once at a given step.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any, Callable

from repro.config import TrainConfig
from repro.determinism import CUBLAS_WORKSPACE
from repro.errors import ReproError
from repro.executor import runenv
from repro.executor.base import EvalTask, TrainTask
from repro.metrics.evaluate import evaluate_run
from repro.train import train

log = logging.getLogger(__name__)

# Test seam, never set in normal use: KILL_ENV="RUN_ID:STEP:MARKER" SIGKILLs the worker training
# RUN_ID after STEP once, the first time (it creates the file MARKER first, so the retry, which
# resumes from the last checkpoint and passes STEP again, lives). The driver reads it and passes
# it with the task, so it reaches workers on other nodes too.
KILL_ENV = "REPRO_WORKER_KILL"
PROBE_NAME = ".repro-executor-probe"


class RunsDirUnreachable(ReproError):
    """A worker cannot see the runs directory the driver wrote its probe into."""


def kill_spec() -> str | None:
    return os.environ.get(KILL_ENV) or None


def check_probe(probe: tuple[str, str] | None) -> None:
    """``probe`` = (path, token) written by the driver; the worker must read the same token."""
    if probe is None:
        return
    path, token = probe
    try:
        seen = Path(path).read_text(encoding="utf-8").strip()
        what = None if seen == token else f"holds {seen[:60]!r}, not the token the driver wrote (another filesystem)"
    except FileNotFoundError:
        what = "is missing"
    except OSError as exc:
        what = f"cannot be read ({exc.strerror or exc})"
    if what is not None:
        raise RunsDirUnreachable(
            f"worker on host {socket.gethostname()} cannot see the runs directory {Path(path).parent}: the driver's "
            f"probe file {Path(path).name} there {what}; on a cluster the runs directory must be on a shared "
            "filesystem that every node mounts at the same path (NFS, a cluster filesystem)")


def _killer(run_id: str, spec: str | None, inner: Callable | None) -> Callable | None:
    if not spec:
        return inner
    target, step, marker = spec.split(":", 2)
    if target != run_id:
        return inner
    kill_at = int(step)

    def hook(trainer) -> None:
        if inner is not None:
            inner(trainer)
        if trainer.step == kill_at and not os.path.exists(marker):
            Path(marker).write_text(f"killed {run_id} after step {kill_at} in PID {os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


_runs_here = 0  # runs this process has trained (a fresh worker's first is 0)


def prepare_process(cfg: TrainConfig) -> None:
    """Process-wide settings that take effect only before first use, set for ``cfg``'s run in a
    fresh worker before any tensor work: ``CUBLAS_WORKSPACE_CONFIG`` for a deterministic run
    (cuBLAS reads it once, when a device's handle is created; left as it is when already set)
    and the intra-op thread count (the pool is sized on first use, and a worker that never
    changes it keeps the size it started with)."""
    import torch

    if cfg.mode == "deterministic":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def run_train(task: TrainTask, probe: tuple[str, str] | None = None, kill: str | None = None,
              fresh: bool = False) -> dict[str, Any]:
    """Train one task in this process, with the task's environment (the driver's ``REPRO_*``
    variables, recorded in run.json as ``run_env``); the run record, with ``worker`` added: host,
    PID and how many runs this process trained before (0 for a fresh worker). ``fresh``: this
    process was started for this task alone, so set the process-wide settings first
    (:func:`prepare_process`)."""
    global _runs_here
    check_probe(probe)
    env = getattr(task, "env", None)
    meta = task.meta if env is None else {**(task.meta or {}), "run_env": dict(env)}
    with runenv.applied(env):
        if fresh:
            prepare_process(task.config)
        before = _runs_here
        _runs_here += 1
        who = {"host": socket.gethostname(), "pid": os.getpid(), "runs_before": before,
               "isolation": "process" if fresh else "in-process"}
        record = train(task.config, task.run_dir, resume=task.resume, force=task.force, progress=task.progress,
                       meta={**(meta or {}), "worker": who},  # in run.json too: a reused run still says who
                       step_callback=_killer(task.run_id, kill, task.step_callback))
    return {**record, "worker": who}


def run_train_fresh(task: TrainTask, probe: tuple[str, str] | None = None, kill: str | None = None
                    ) -> dict[str, Any]:
    """:func:`run_train` in a fresh spawned interpreter started for this task alone, waited on here.
    For a Ray task under ``isolation="process"``: Ray may hand a task to a worker that has already
    run others (``max_calls`` counts one remote function's calls, and idle workers are shared
    between functions), so the fresh process is made here, where nothing can reuse it."""
    import concurrent.futures as cf
    import multiprocessing

    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
        return pool.submit(run_train, task, probe, kill, True).result()


def run_eval(task: EvalTask, probe: tuple[str, str] | None = None, threads: int | None = None) -> dict[str, Any]:
    """Evaluate one task in this process, with the task's environment (``threads``: intra-op threads,
    set only when given, and set back afterwards: in the driver's process a later resume compares the
    thread count it trains at with the run's)."""
    check_probe(probe)
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with runenv.applied(getattr(task, "env", None)):
            return evaluate_run(task.run_dir, out=task.out, **task.settings)
    finally:
        torch.set_num_threads(previous)

