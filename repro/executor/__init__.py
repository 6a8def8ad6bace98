"""Executors: train and evaluate the runs of an audit (or a study) here, in local processes, or on Ray.

``make_executor("local" | "ray", jobs=, ray_address=, threads_per_task=, isolation=)`` -> an :class:`Executor`
with ``train(tasks, on_done=)``, ``evaluate(tasks, on_done=)``, ``close()``; tasks are
:class:`TrainTask` and :class:`EvalTask`. :mod:`repro.executor.plan_cost` prices a list of runs.
"""

from repro.executor.base import (
                                 EXECUTORS,
                                 ISOLATIONS,
                                 EvalTask,
                                 Executor,
                                 TrainTask,
                                 cpu_count,
                                 default_threads,
                                 describe,
                                 with_threads,
)
from repro.executor.factory import make_executor

__all__ = ["EXECUTORS", "ISOLATIONS", "EvalTask", "Executor", "TrainTask", "cpu_count", "default_threads", "describe",
           "make_executor", "with_threads"]
