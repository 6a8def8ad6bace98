"""The executor interface: how the runs of an audit (or a study) are trained and evaluated.

A :class:`TrainTask` is one call of :func:`repro.train.train`, an :class:`EvalTask` one call of
:func:`repro.metrics.evaluate.evaluate_run`. An :class:`Executor` runs a batch of them, in this
process, in local processes (``local``) or as Ray tasks (``ray``), and returns the results keyed
by run id. Whatever runs them, every task writes its run directory itself, so results live in
one place (the runs directory), and the driver alone logs to MLflow.

Isolation (``isolation``): ``in-process`` runs tasks as before (``local`` with one job: in this
process, one after another; with more jobs: in a pool of reused worker processes; ``ray``: in
Ray's reused workers); ``process`` trains every run in a fresh interpreter that has run no
kernel for another run (a spawned process per task, or a Ray worker that serves one call), with
the process-wide settings that take effect only before first use (``CUBLAS_WORKSPACE_CONFIG``,
which cuBLAS reads when its handle is created; the intra-op thread pool) set as the worker starts,
before any tensor work (:func:`repro.executor.worker.prepare_process`). A user who reruns a
training does so in a new process: only ``process`` tests that. Every run record an executor
returns carries ``worker``: ``{"host", "pid", "runs_before", "isolation"}`` (``runs_before``:
runs this process had trained before this one).

Threads: the intra-op thread count changes CPU results, so an executor that runs tasks side by
side sets each run's ``threads`` explicitly from its CPU allotment (:func:`with_threads`); the
count is in the run's ``config.json`` and ``fingerprint.json`` and a resume with another count
is refused (its config differs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from repro.config import TrainConfig
from repro.executor import runenv

EXECUTORS = ("local", "ray")
ISOLATIONS = ("in-process", "process")


@dataclass(frozen=True)
class TrainTask:
    """One training run: ``train(config, run_dir, resume=, force=, meta=)``.

    ``step_callback`` (a per-step hook, used by tests to inject faults) must be picklable to run
    outside this process (``jobs > 1``: a module-level function; Ray: anything cloudpickle takes).
    ``progress`` shows the run's own step bar (only sensible when runs go one at a time here).
    ``env``: the driver's ``REPRO_*`` variables, captured when the task is made; the worker runs the
    task with exactly these (:mod:`repro.executor.runenv`), wherever it runs.
    """

    run_id: str  # e.g. "resnet_all/deterministic-s0-r0" (RunSpec.id)
    config: TrainConfig
    run_dir: Path
    resume: bool = True
    force: bool = False
    meta: dict | None = None
    progress: bool = False
    step_callback: Callable | None = field(default=None, compare=False)
    env: dict = field(default_factory=runenv.capture, compare=False)


@dataclass(frozen=True)
class EvalTask:
    """One evaluation: ``evaluate_run(run_dir, out=out, **settings)`` -> the metrics dict.

    ``settings``: extractor, extractor_weights, num_samples, eval_seeds, all_checkpoints.
    ``env``: as :class:`TrainTask`'s."""

    run_id: str
    run_dir: Path
    out: Path  # metrics json path
    settings: dict
    env: dict = field(default_factory=runenv.capture, compare=False)


OnTrainDone = Callable[[TrainTask, dict], None]
OnEvalDone = Callable[[EvalTask, dict], None]


@runtime_checkable
class Executor(Protocol):
    name: str
    jobs: int  # how many tasks may run at once (for a Ray cluster: what it holds now)
    isolation: str  # in-process | process (see the module docstring)
    threads_per_task: int | None  # intra-op threads given to a run whose config leaves threads at 0

    def train(self, tasks: list[TrainTask], *, on_done: OnTrainDone | None = None) -> dict[str, dict]:
        """Train every task; ``run_id -> run record`` (``train``'s return, ``status`` completed or
        diverged). ``on_done(task, record)`` is called in this process as each one finishes. A task
        whose worker dies is retried (resuming from its last verified checkpoint); an error raised
        by ``train`` itself (bad input, a failed run) is raised here once the tasks running finish."""

    def evaluate(self, tasks: list[EvalTask], *, on_done: OnEvalDone | None = None) -> dict[str, dict]:
        """Evaluate every task; ``run_id -> metrics dict`` (also written to ``task.out``)."""

    def close(self) -> None:
        """Release workers (a Ray instance this executor started is shut down)."""


def with_threads(cfg: TrainConfig, threads: int | None) -> TrainConfig:
    """``cfg`` with an explicit intra-op thread count: a run that leaves ``threads`` at 0 (torch's
    default for the machine it lands on) gets ``threads``; an explicit count is kept."""
    if cfg.threads or not threads:
        return cfg
    return cfg.replace(threads=int(threads))


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(name: str, jobs: int | None = None, threads_per_task: int | None = None) -> int | None:
    """The thread count :func:`make_executor` gives a run whose config leaves threads at 0, known
    before any worker starts (so configs can be checked first): None = leave torch's default."""
    if threads_per_task is not None:
        return threads_per_task
    if name == "ray":
        return 1
    return max(1, cpu_count() // jobs) if jobs and jobs > 1 else None


def describe(result: dict[str, Any]) -> str:
    """A run record's outcome in a few words, for progress lines."""
    status = result.get("status")
    if status == "diverged":
        return f"diverged at step {result.get('diverged_step')}"
    wall = result.get("wall_time_s")
    return f"{status}" + (f" ({wall:.1f} s training)" if isinstance(wall, (int, float)) else "")
