"""Steps between host syncs: the run loop's view of training, one trace row per step.

On a GPU, reading a number back (``.item()``, ``float(loss)``, a copy to the host) makes the
CPU wait until the device has run everything queued, so the CPU cannot queue the next step's
kernels ahead: with small kernels the device then idles between steps. :class:`Stepper` keeps
each step's losses on the device and reads a batch of steps back in one copy every
``sync_every`` steps (and at every checkpoint), timing steps with CUDA events meanwhile.

Divergence (a NaN or infinite loss) with ``sync_every > 1``: every loss of every step is kept, so
the first non-finite step is still reported exactly (:class:`repro.train.loop.Diverged`,
``step``); the updates of the steps after it, up to the read, have been applied to the models in
memory, but the host reads before every trace hash and every checkpoint, so no hash in the trace
and no checkpoint holds them. With ``sync_every = 1`` each loss is read before its update, which
is then never applied.

Trace hashes (``trace_async``): the full-state hash of a trace step is computed from a snapshot
(a copy taken when the step is traced) in a background thread, so sha256 over the whole state
(hundreds of MB at paper widths with Adam's slots) runs while the next steps train. The hashes
are the same bits either way; rows are written in step order once their hash is known.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from repro import hashing
from repro.train.loop import Diverged, Trainer

_MAX_HASHES_IN_FLIGHT = 2  # snapshots held at once (each a copy of the whole training state)


@dataclass
class _Step:
    step: int
    losses: dict[str, torch.Tensor]  # 0-dim, on the device
    checks: list[tuple[int, str, torch.Tensor]]  # deferred finite checks of this step
    seconds: float | None = None  # host-timed steps
    events: tuple[Any, Any] | None = None  # CUDA (start, end) events of device-timed steps
    param_hash: str | Future | None = None
    row: dict[str, Any] = field(default_factory=dict)


class Stepper:
    """Runs ``trainer``'s steps and returns their trace rows at host reads.

    ``step()`` runs one step; ``trace()`` hashes the state after the latest step (into that
    step's row); ``due()`` says whether this step ends a ``sync_every`` period; ``flush()`` reads
    every pending step back (one sync) and returns the rows ``{"step", "d_loss", "g_loss",
    "penalty", "step_time_s"[, "param_hash"]}`` in step order. Call ``close()`` at the end.
    """

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.cfg = trainer.cfg
        self.cuda = trainer.device.type == "cuda"
        self.events = self.cuda and self.cfg.sync_every > 1  # time steps on the device, not the host
        self._pending: list[_Step] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="repro-trace-hash") if self.cfg.trace_async else None

    # ------------------------------------------------------------------ steps
    def step(self) -> int:
        """Run one training step; returns its number. Raises :class:`Diverged` (sync_every=1)."""
        trainer = self.trainer
        try:
            if self.events:
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                losses = trainer.train_step()
                end.record()
                timing: dict[str, Any] = {"events": (start, end)}
            else:
                if self.cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                losses = trainer.train_step()
                if self.cuda:
                    torch.cuda.synchronize()
                timing = {"seconds": time.perf_counter() - t0}
        except Diverged as exc:
            exc.rows = self._read(wait=True)  # the finished steps before it
            raise
        checks, trainer.deferred_checks = trainer.deferred_checks, []
        self._pending.append(_Step(trainer.step, losses, checks, **timing))
        return trainer.step

    def due(self) -> bool:
        return self.trainer.step % self.cfg.sync_every == 0

    def trace(self) -> None:
        """Hash the full training state (parameters, buffers, optimiser slots) after the latest step."""
        latest = self._pending[-1]
        states = self.trainer.train_states()
        if self._pool is None:
            self._check(upto=latest.step)  # never hash a state that a non-finite update reached
            latest.param_hash = self.trainer.full_hash()
            return
        in_flight = [s for s in self._pending if isinstance(s.param_hash, Future) and not s.param_hash.done()]
        if len(in_flight) >= _MAX_HASHES_IN_FLIGHT:
            in_flight[0].param_hash.result()  # bound the memory held by snapshots
        snapshot, ready = _snapshot(states, self.cuda)
        latest.param_hash = self._pool.submit(_hash_when_ready, snapshot, ready)

    def flush(self, wait: bool = True) -> list[dict[str, Any]]:
        """Read every pending step back; the rows of the steps whose hash is known (all when ``wait``).

        Raises :class:`Diverged` at the first step with a non-finite loss, with the rows of the
        steps before it in ``exc.rows``."""
        self._check(upto=self.trainer.step)
        return self._read(wait)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    def _check(self, upto: int) -> None:
        """One host read of every deferred loss of steps <= ``upto``; raise at the first non-finite one."""
        checks = [c for s in self._pending if s.step <= upto for c in s.checks]
        if not checks:
            return
        finite = torch.isfinite(torch.stack([value for _, _, value in checks])).cpu()
        if bool(finite.all()):
            for s in self._pending:
                if s.step <= upto:
                    s.checks = []
            return
        bad = int((~finite).nonzero()[0])
        step, what, value = checks[bad]
        exc = Diverged(step, what, float(value))
        self._pending = [s for s in self._pending if s.step < step]
        for s in self._pending:
            s.checks = []
        exc.rows = self._read(wait=True)
        raise exc

    def _read(self, wait: bool) -> list[dict[str, Any]]:
        """Rows of the pending steps (checked or sync_every=1), in order, up to the first hash not ready."""
        if not self._pending:
            return []
        todo = [s for s in self._pending if not s.row]
        if todo:
            names = list(todo[0].losses)
            values = torch.stack([s.losses[n] for s in todo for n in names]).cpu().tolist()  # the one host read
            for i, s in enumerate(todo):
                s.row = {"step": s.step, **dict(zip(names, values[i * len(names):(i + 1) * len(names)]))}
                if s.events is not None:
                    s.seconds = s.events[0].elapsed_time(s.events[1]) / 1000.0
                    s.events = None
                s.row["step_time_s"] = s.seconds
        rows = []
        while self._pending:
            s = self._pending[0]
            if isinstance(s.param_hash, Future):
                if not (wait or s.param_hash.done()):
                    break
                s.param_hash = s.param_hash.result()
            if s.param_hash is not None:
                s.row["param_hash"] = s.param_hash
            rows.append(s.row)
            self._pending.pop(0)
        return rows


def _snapshot(states: dict[str, Any], cuda: bool) -> tuple[dict[str, Any], Any]:
    """A copy of every tensor of ``states`` (same structure) that later steps cannot change, and a
    CUDA event that marks the copies done (None on the CPU, where the copy is synchronous)."""

    def copy(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            t = obj.detach()
            # device -> pinned host memory without waiting; the CPU copy is a plain clone
            return t.to("cpu", non_blocking=True) if t.is_cuda else t.clone()
        if isinstance(obj, dict):
            return {k: copy(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(copy(v) for v in obj)
        return obj

    snapshot = copy(states)
    ready = None
    if cuda:
        ready = torch.cuda.Event()
        ready.record()
    return snapshot, ready


def _hash_when_ready(snapshot: dict[str, Any], ready: Any) -> str:
    if ready is not None:
        ready.synchronize()
    return hashing.state_hash(snapshot)
