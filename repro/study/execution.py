"""How a study's runs get trained and scored: through ``repro.executor`` (local processes or Ray).

The study hands the executor a batch of tasks and then reads what the runs wrote (``run.json``,
``metrics.json``): the run directory, not a callback, is the record, so a study interrupted at
any point resumes from the directories alone.

TEMPORARY: until the ``executor`` branch is merged, :class:`_InProcess` stands in for
``repro.executor.make_executor("local")`` with the same interface (tasks in order, in this process).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

try:  # the real executor, once merged
    from repro.executor import EvalTask, TrainTask, make_executor  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - removed after the merge
    make_executor = None

    @dataclass(frozen=True)
    class TrainTask:  # type: ignore[no-redef]
        run_id: str
        config: Any
        run_dir: Path
        resume: bool = True
        force: bool = False
        meta: dict = field(default_factory=dict)

    @dataclass(frozen=True)
    class EvalTask:  # type: ignore[no-redef]
        run_id: str
        run_dir: Path
        out: Path
        settings: dict = field(default_factory=dict)


class _InProcess:
    """Train and evaluate tasks one after another in this process (the fallback executor)."""

    def train(self, tasks: Sequence[TrainTask], on_done: Callable | None = None) -> None:
        from repro.train import train

        for t in tasks:
            record = train(t.config, t.run_dir, resume=t.resume, force=t.force, progress=False, meta=dict(t.meta))
            print(f"[study] {t.run_id}: {record['status']}", file=sys.stderr, flush=True)
            if on_done:
                on_done(t, record)

    def evaluate(self, tasks: Sequence[EvalTask], on_done: Callable | None = None) -> None:
        from repro.metrics.evaluate import evaluate_run

        for t in tasks:
            metrics = evaluate_run(t.run_dir, out=t.out, **t.settings)
            if on_done:
                on_done(t, metrics)


def executor(name: str = "local", *, jobs: int = 1, ray_address: str | None = None):
    """The executor named ``name`` (``local`` or ``ray``)."""
    if make_executor is not None:
        return make_executor(name, jobs=jobs, ray_address=ray_address)
    if name != "local" or jobs != 1:
        raise ValueError(f"executor {name!r} with jobs={jobs} needs repro.executor, which this build lacks; "
                         "use --executor local --jobs 1")
    return _InProcess()


__all__ = ["TrainTask", "EvalTask", "executor"]
