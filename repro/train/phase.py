"""Where in a training step the code is: a marker that an op recorder reads, free when none does.

:meth:`repro.train.loop.Trainer.train_step` calls :func:`mark` at each change of phase: which
update (``D1/5`` ... ``D5/5``, ``G``) and which stage of it (``data``, ``forward``, ``backward``,
``optimiser``; ``losses`` for the step's losses read out at its end). Marking stores two strings in a module-level slot: no allocation, no lock, no
torch call, so an ordinary run pays a few hundred nanoseconds a step. The op recorders of
:mod:`repro.localize` read :func:`current` for every op they see.

A plain module global rather than a ``contextvars.ContextVar``: on a GPU autograd runs the
backward pass in its own device threads, which do not see the training thread's context, but do
see a module global; the trainer is single-threaded, so one slot is the truth for the process.
"""

from __future__ import annotations

_update = ""
_stage = ""


def mark(update: str, stage: str) -> None:
    """Enter ``stage`` (data | forward | backward | optimiser | losses) of ``update`` (``D<i>/<n_dis>`` | ``G``)."""
    global _update, _stage
    _update, _stage = update, stage


def current() -> tuple[str, str]:
    """``(update, stage)`` as last marked; ``("", "")`` outside a training step."""
    return _update, _stage


def clear() -> None:
    mark("", "")
