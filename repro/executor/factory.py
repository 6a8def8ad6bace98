"""``make_executor``: an executor by name, with its options checked."""

from __future__ import annotations

from repro.errors import InputError
from repro.executor.base import EXECUTORS, ISOLATIONS, Executor
from repro.executor.local import LocalExecutor
from repro.executor.ray_backend import RayExecutor  # imports ray itself only when one is made
from repro.registry import check_choice


def make_executor(name: str = "local", *, jobs: int | None = None, ray_address: str | None = None,
                  threads_per_task: int | None = None, max_retries: int = 3,
                  isolation: str = "in-process", gpus_per_task: float = 1.0) -> Executor:
    """``local`` (``jobs`` None or 1: in this process, today's behaviour; more: that many processes)
    or ``ray`` (``ray_address`` ``auto`` or ``HOST:PORT`` joins a running cluster; none starts a
    local instance sized to this machine; ``jobs``: at most that many tasks at once, None: as
    many as the cluster holds). ``threads_per_task`` defaults to the CPUs divided by
    ``jobs`` for local processes, 1 for Ray, and to torch's default (nothing set) for ``local``
    with one job. ``max_retries``: how often a task whose worker died is run again. ``isolation``:
    ``process`` trains every run in a fresh interpreter (a spawned process per task; a Ray worker
    that serves one call), ``in-process`` as before (see :mod:`repro.executor.base`).
    ``gpus_per_task`` (Ray): the GPUs a CUDA run asks for, a fraction in (0, 1] to pack runs on one
    GPU (docs/ray.md)."""
    if name not in EXECUTORS:
        raise InputError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise InputError(f"invalid jobs={jobs!r}: must be an integer >= 1")
    if threads_per_task is not None and (not isinstance(threads_per_task, int) or threads_per_task < 1):
        raise InputError(f"invalid threads_per_task={threads_per_task!r}: must be an integer >= 1")
    check_choice("isolation", isolation, ISOLATIONS)
    if name == "local":
        if ray_address is not None:
            raise InputError("--ray-address needs --executor ray")
        if gpus_per_task != 1.0:
            raise InputError("gpus_per_task needs --executor ray (local runs use the device they name)")
        return LocalExecutor(jobs=jobs or 1, threads_per_task=threads_per_task, max_retries=max_retries,
                             isolation=isolation)
    return RayExecutor(address=ray_address, threads_per_task=threads_per_task, max_retries=max_retries,
                       jobs=jobs, isolation=isolation, gpus_per_task=gpus_per_task)


__all__ = ["make_executor"]
