"""The environment a task carries from the driver to its worker.

A run reads some of its settings from the environment where it executes: the data roots
(``REPRO_CIFAR10_ROOT``, ``REPRO_FOLDER_ROOT``, ...), the extractor weights
(``REPRO_INCEPTION_WEIGHTS``), the cache (``REPRO_CACHE_DIR``) and what the fingerprint counts as
code (``REPRO_NOT_CODE``). A worker on another node, or a Ray worker started by its node's raylet,
does not have the driver's environment, so a value exported only on the driver would not reach
it, and a worker's own value would be used silently. So the driver captures every ``REPRO_*``
variable when it builds a task (:func:`capture`), the task carries them, and the worker runs the
task with exactly those (:func:`applied`): a ``REPRO_*`` variable the driver does not set is unset
for the task too. The worker records them in the run record (``run_env``). Test seams
(:data:`TEST_SEAMS`) stay the worker's own.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping

PREFIX = "REPRO_"
TEST_SEAMS = ("REPRO_FAULT", "REPRO_WORKER_KILL")  # fault injection, never a run's setting


def _ours(name: str) -> bool:
    return name.startswith(PREFIX) and name not in TEST_SEAMS


def capture(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every ``REPRO_*`` variable of ``environ`` (this process's by default), test seams left out."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items()) if _ours(k)}


@contextlib.contextmanager
def applied(env: Mapping[str, str] | None) -> Iterator[None]:
    """Run the body with the ``REPRO_*`` variables of ``env`` and no others (None: leave the
    environment as it is); the process's own values come back afterwards."""
    if env is None:
        yield
        return
    before = {k: v for k, v in os.environ.items() if _ours(k)}
    try:
        for k in before:
            if k not in env:
                del os.environ[k]
        os.environ.update({k: v for k, v in env.items() if _ours(k)})
        yield
    finally:
        for k in [k for k in os.environ if _ours(k)]:
            del os.environ[k]
        os.environ.update(before)
