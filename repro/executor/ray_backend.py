"""``ray``: each training run and each evaluation is a Ray task with declared resources.

A task asks for as many CPUs as its run's intra-op threads (``threads``, set explicitly from
``threads_per_task`` when the config leaves it at 0) and for one GPU when the run's device is
CUDA (``device=auto`` on a cluster that has GPUs), so that as many run at once as the cluster
holds. A task whose worker dies is retried by Ray (``max_retries``) and resumes from its last
verified checkpoint; an exception raised by ``train`` (bad input, a diverged run is not one: it
is a result) is not retried. Every worker checks, before it starts, that it sees the driver's
probe file in the runs directory (a shared filesystem on a cluster). Install with
``pip install "repro[ray]"``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from repro import io
from repro.errors import InputError
from repro.executor import worker
from repro.executor.base import (
    ISOLATIONS,
    EvalTask,
    OnEvalDone,
    OnTrainDone,
    TrainTask,
    cpu_count,
    default_threads,
)
from repro.registry import check_choice

# no usage reports, no `uv run` runtime environment, no dashboard: nothing reaches the network
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


def _import_ray():
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise InputError('the ray executor needs Ray: pip install "repro[ray]"') from None
    return ray


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, threads_per_task: int | None = None, max_retries: int = 3,
                 jobs: int | None = None, isolation: str = "in-process"):
        check_choice("isolation", isolation, ISOLATIONS)
        self.isolation = isolation
        ray = self._ray = _import_ray()
        self.max_retries = max_retries
        self.threads_per_task = default_threads("ray", jobs, threads_per_task)
        self.address = address
        self._owned = False
        if not ray.is_initialized():
            try:
                if address is None:  # a local instance sized to this machine, ended by close()
                    ray.init(num_cpus=cpu_count(), include_dashboard=False, log_to_driver=True,
                             logging_level="WARNING")
                    self._owned = True
                else:
                    ray.init(address=address, log_to_driver=True, logging_level="WARNING")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address!r} ({exc}); start one with "
                                 "`ray start --head` or pass --ray-address HOST:PORT of its head node") from None
        resources = ray.cluster_resources()
        self.cluster_cpus = int(resources.get("CPU", 0))
        self.cluster_gpus = int(resources.get("GPU", 0))
        self.node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=0)
        self.jobs = jobs or max(1, self.cluster_cpus // self.threads_per_task)
        self._cap = jobs  # None: as many as the cluster holds
        # retried: a dead worker (SIGKILL, out of memory, a lost node); not retried: what train raises
        # isolation=process: a worker process serves one training call and exits (max_calls=1), so every
        # run starts in a fresh interpreter; Ray starts another worker for the next
        fresh = {"max_calls": 1} if isolation == "process" else {}
        self._train = ray.remote(max_retries=max_retries, retry_exceptions=False, **fresh)(worker.run_train)
        self._eval = ray.remote(max_retries=max_retries, retry_exceptions=False)(worker.run_eval)

    # ------------------------------------------------------------------ interface
    def train(self, tasks: list[TrainTask], *, on_done: OnTrainDone | None = None) -> dict[str, dict]:
        tasks = [dataclasses.replace(t, run_dir=Path(t.run_dir).resolve(), progress=False) for t in tasks]
        kill = worker.kill_spec()

        def submit(task: TrainTask, probe):
            cpus = task.config.threads or self.threads_per_task
            self._check_fits(task.run_id, cpus)
            return self._train.options(num_cpus=cpus, num_gpus=self._gpus(task.config.device)).remote(
                task, probe, kill, self.isolation == "process")

        return self._run(tasks, submit, on_done)

    def evaluate(self, tasks: list[EvalTask], *, on_done: OnEvalDone | None = None) -> dict[str, dict]:
        tasks = [dataclasses.replace(t, run_dir=Path(t.run_dir).resolve(), out=Path(t.out).resolve()) for t in tasks]

        def submit(task: EvalTask, probe):
            try:
                device = io.read_json(task.run_dir / "config.json", "run config").get("device", "auto")
            except ValueError:
                device = "auto"
            return self._eval.options(num_cpus=self.threads_per_task, num_gpus=self._gpus(device)).remote(
                task, probe, self.threads_per_task)

        return self._run(tasks, submit, on_done)

    def close(self) -> None:
        if self._ray.is_initialized():
            self._ray.shutdown()  # ends a local instance we started; only disconnects from a cluster

    # ------------------------------------------------------------------ internals
    def _gpus(self, device: str) -> int:
        if device.startswith("cuda"):
            if not self.cluster_gpus:
                raise InputError(f"device={device} asks for a GPU but the Ray cluster has none")
            return 1
        return 1 if device == "auto" and self.cluster_gpus else 0

    def _check_fits(self, run_id: str, cpus: int) -> None:
        if cpus > self.node_cpus:  # Ray would wait for such a node forever
            raise InputError(f"run {run_id} asks for {cpus} CPUs (its threads) but the largest Ray node has "
                             f"{self.node_cpus}; lower threads (--set threads=N) or add larger nodes")

    def _run(self, tasks, submit, on_done) -> dict[str, dict]:
        ray = self._ray
        if not tasks:
            return {}
        probe = _write_probe([Path(t.run_dir) for t in tasks])
        out: dict[str, dict] = {}
        waiting = list(tasks)
        running: dict[Any, Any] = {}
        error: BaseException | None = None
        try:
            while (waiting and error is None) or running:
                while waiting and error is None and (self._cap is None or len(running) < self._cap):
                    task = waiting.pop(0)
                    running[submit(task, probe)] = task
                if not running:
                    break
                done, _ = ray.wait(list(running), num_returns=1)
                task = running.pop(done[0])
                try:
                    out[task.run_id] = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:
                    error = error or _cause(exc)
                    for ref in running:
                        ray.cancel(ref)
                    continue
                except ray.exceptions.RayError as exc:  # the worker or its node died, out of memory, cancelled
                    if isinstance(exc, ray.exceptions.TaskCancelledError) and error is not None:
                        continue  # cancelled by us after another task's error
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    error = error or RuntimeError(
                        f"the worker running {task.run_id} failed after {self.max_retries} retries ({first}); "
                        f"its run directory {task.run_dir} keeps the last verified checkpoint: run the audit "
                        "again to resume it")
                    continue
                if on_done is not None:
                    on_done(task, out[task.run_id])
        finally:
            Path(probe[0]).unlink(missing_ok=True)
        if error is not None:
            raise error
        return out


def _cause(exc: BaseException) -> BaseException:
    """The exception a task raised, as its own type where Ray can give it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _write_probe(run_dirs: list[Path]) -> tuple[str, str]:
    """A file with a random token in the directory holding every run directory: a worker that
    does not read the same token does not share the driver's filesystem."""
    root = Path(os.path.commonpath([str(d.parent) for d in run_dirs]))
    root.mkdir(parents=True, exist_ok=True)
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
    path = root / f"{worker.PROBE_NAME}-{token.rsplit(':', 1)[1]}"
    io.write_text(path, token + "\n")
    return str(path), token
