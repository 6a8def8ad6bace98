"""``local``: tasks in this process (one job, today's behaviour) or in ``jobs`` local processes.

``isolation="process"`` trains every run in a fresh spawned interpreter, one per task
(``max_tasks_per_child=1``, also with one job), so no run follows another in a process and each
starts with its own process-wide settings (:func:`repro.executor.worker.prepare_process`); it
needs Python 3.11 (``max_tasks_per_child``). ``in-process`` is the behaviour before isolation
existed: one job trains in this process, more share a pool of reused workers. Evaluation is
unaffected (it runs where ``jobs`` says).

Processes are started with ``spawn`` (a fork of a process holding torch's thread pools can hang).
A worker that dies (SIGKILL, out of memory) breaks the pool: the tasks it held are submitted
again to a new pool, up to ``max_retries`` times each, and resume from their last verified
checkpoint. An exception raised by a task is not retried: it is raised once the tasks running
have finished.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
from typing import Any, Callable

from repro.errors import InputError
from repro.executor import worker
from repro.executor.base import ISOLATIONS, EvalTask, OnEvalDone, OnTrainDone, TrainTask, default_threads
from repro.registry import check_choice


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1, threads_per_task: int | None = None, max_retries: int = 3,
                 isolation: str = "in-process"):
        check_choice("isolation", isolation, ISOLATIONS)
        if isolation == "process" and sys.version_info < (3, 11):
            raise InputError("isolation=process needs Python 3.11 or later (a process pool that starts a fresh "
                             "worker per task); use isolation=in-process")
        self.jobs = jobs
        self.max_retries = max_retries
        self.isolation = isolation
        # jobs > 1: the CPUs shared out, none oversubscribed
        self.threads_per_task = default_threads("local", jobs, threads_per_task)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pool_fresh = False  # whether self._pool starts a fresh worker per task

    # ------------------------------------------------------------------ interface
    def train(self, tasks: list[TrainTask], *, on_done: OnTrainDone | None = None) -> dict[str, dict]:
        fresh = self.isolation == "process"
        if self.jobs == 1 and not fresh:
            return self._in_process(tasks, worker.run_train, on_done)
        for t in tasks:
            _check_picklable(t)
        kill = worker.kill_spec()
        return self._in_pool(tasks, lambda t: (worker.run_train, t, None, kill, fresh), on_done, fresh=fresh)

    def evaluate(self, tasks: list[EvalTask], *, on_done: OnEvalDone | None = None) -> dict[str, dict]:
        if self.jobs == 1:
            return self._in_process(tasks, lambda t: worker.run_eval(t, None, self.threads_per_task), on_done)
        return self._in_pool(tasks, lambda t: (worker.run_eval, t, None, self.threads_per_task), on_done)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _in_process(tasks, fn: Callable, on_done) -> dict[str, dict]:
        out = {}
        for task in tasks:  # the first error propagates at once, as the audit always did
            out[task.run_id] = fn(task)
            if on_done is not None:
                on_done(task, out[task.run_id])
        return out

    def _new_pool(self, fresh: bool = False) -> cf.ProcessPoolExecutor:
        self.close()
        options = {"max_tasks_per_child": 1} if fresh else {}
        self._pool = cf.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"), **options)
        self._pool_fresh = fresh
        return self._pool

    def _in_pool(self, tasks, call: Callable[[Any], tuple], on_done, fresh: bool = False) -> dict[str, dict]:
        out: dict[str, dict] = {}
        attempts = {t.run_id: 0 for t in tasks}
        todo = list(tasks)
        error: BaseException | None = None
        pool = self._pool if self._pool is not None and self._pool_fresh == fresh else self._new_pool(fresh)
        while todo and error is None:
            futures = {pool.submit(*call(t)): t for t in todo}
            todo = []
            broken = False
            for fut in cf.as_completed(futures):
                task = futures[fut]
                try:
                    out[task.run_id] = fut.result()
                except cf.process.BrokenProcessPool:
                    broken = True  # a worker died: every task the pool still held comes here
                    attempts[task.run_id] += 1
                    if attempts[task.run_id] > self.max_retries:
                        error = error or RuntimeError(
                            f"the worker running {task.run_id} died {attempts[task.run_id]} times "
                            f"(max_retries={self.max_retries}); its run directory {task.run_dir} keeps the "
                            "last verified checkpoint")
                    else:
                        todo.append(task)
                    continue
                except BaseException as exc:  # a task's own error: not retried
                    error = error or exc
                    for other in futures:
                        other.cancel()
                    continue
                if on_done is not None:
                    on_done(task, out[task.run_id])
            if broken:
                if todo and error is None:
                    worker.log.info(f"a worker died; retrying {len(todo)} task(s) in new processes: "
                               + ", ".join(t.run_id for t in todo))
                pool = self._new_pool(fresh)
        if error is not None:
            raise error
        return out


def _check_picklable(task: TrainTask) -> None:
    """A step callback goes to another process by pickle: a closure or lambda cannot."""
    import pickle

    if task.step_callback is None:
        return
    try:
        pickle.dumps(task.step_callback)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InputError(f"the step callback of {task.run_id} cannot go to another process ({exc}); use "
                         "jobs=1 with isolation='in-process', or a module-level function") from None
