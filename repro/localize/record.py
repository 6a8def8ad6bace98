"""The op recorder: a dispatch mode that writes one :class:`~repro.localize.ops.OpRecord` per op.

Every op dispatched while a :class:`Recorder` is entered (below autograd, so forward, backward
and optimiser ops alike, each as the aten overload that runs) is recorded with its inputs'
digests taken before it runs (an in-place op overwrites them) and its outputs' digests after.
Digests are :mod:`repro.localize.digest` sums computed on the op's device; on a GPU they are
read back in batches (every ``flush_every`` ops and at every step), so recording adds no host
sync per op. Records go to a JSON-lines file as they are resolved: memory stays flat over a
long window.

Input digests are cached per tensor object and version counter (autograd bumps a tensor's
version at every in-place write, views included): a parameter read by five ops is hashed once,
and an op's output is not hashed again when the next op reads it. A write through a tensor that
shares storage without sharing the version counter (``.data``) drops every cached digest of
that storage.

Modelled on PyTorch's ``DebugMode`` (``torch.utils._debug_mode``: a dispatch mode with tensor
hashes and module tracking) and on ``mikaylagawarecki/bitwise_det`` (``HashMode``), but
recording exact digests of inputs and outputs, not strings, so that two processes' records can
be compared op by op (:mod:`repro.localize.compare`).
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import IO, Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from repro.localize import digest
from repro.localize.ops import ModulePaths, generator_of, info, non_tensors, split_args, tensors, written
from repro.train import phase


class StopReplay(Exception):
    """Raised by a recorder once it has dumped the op it was asked for: the replay ends there."""


class Recorder(TorchDispatchMode):
    """Records every op into ``sink`` (a text file, one JSON object a line); None counts only.

    ``dump_index``: the call index whose outputs are saved to ``dump_path`` (``torch.save`` of
    ``{"index", "op", "outputs": [CPU tensors]}``), after which :class:`StopReplay` is raised.
    ``cache=False`` hashes every input afresh (tests check that the cache changes nothing).
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Not wrapped in ``torch._dynamo.disable`` (TorchDispatchMode's default): the wrapper imports
        the whole compiler on first use (3 s of a replay process's start) and costs every op a few
        microseconds; nothing is compiled under this mode (compiled runs are refused)."""
        return False

    def __init__(self, paths: ModulePaths, sink: IO[str] | None = None, *, dump_index: int | None = None,
                 dump_path: str | Path | None = None, flush_every: int = 4096, cache: bool = True):
        super().__init__()
        self.paths = paths
        self.sink = sink
        self.dump_index = dump_index
        self.dump_path = dump_path
        self.flush_every = flush_every
        self.use_cache = cache
        self.count = 0
        self.step = 0
        self._rows: list[list[Any]] = []
        self._pending = digest.Pending()
        self._cache: dict[int, tuple[Any, int, Any, torch.dtype, tuple[int, ...]]] = {}
        self._by_storage: dict[int, set[int]] = {}
        self._quoted: dict[str, str] = {}

    # ------------------------------------------------------------------ driving
    def begin_step(self, step: int) -> None:
        """Ops from now on belong to generator step ``step``. The digest cache starts empty each
        step, so it never holds more than one step's tensors."""
        self.flush()
        self.step = step
        self.paths.new_step()
        self._cache.clear()
        self._by_storage.clear()

    def flush(self) -> None:
        """Resolve the pending digests and write the pending records."""
        if not self._rows:
            return
        digests = [f'"{d:016x}"' for d in self._pending.resolve()]
        if self.sink is not None:
            self.sink.write("".join(self._line(row, digests) for row in self._rows))
        self._rows = []

    def _line(self, row: list[Any], digests: list[str]) -> str:
        """One record as a JSON line, formatted by hand: the JSON encoder took a third of a recorded
        step's overhead. Strings go through ``json.dumps`` once each (a few hundred distinct
        names), shapes are lists of ints (their repr is JSON), digests are hex."""
        (index, op, module, backward, node, update, stage, step, ins, args, outs, in_shapes, out_shapes, dtypes,
         device, note) = row
        q = self._quote
        return (f'{{"index":{index},"op":{q(op)},"module":{q(module)},"backward":{"true" if backward else "false"},'
                f'"node":{q(node)},"update":{q(update)},"stage":{q(stage)},"step":{step},'
                f'"inputs":[{",".join(digests[i] for i in ins)}],"args":{digests[args]},'
                f'"outputs":[{",".join(digests[i] for i in outs)}],"input_shapes":{in_shapes!r},'
                f'"output_shapes":{out_shapes!r},"dtypes":[{",".join(q(d) for d in dtypes)}],'
                f'"device":{q(device)},"note":{q(note)}}}\n')

    def _quote(self, text: str) -> str:
        quoted = self._quoted.get(text)
        if quoted is None:
            quoted = self._quoted[text] = json.dumps(text)
        return quoted

    # ------------------------------------------------------------------ digests
    def _input_slot(self, t: torch.Tensor) -> int:
        """A pending slot for ``t``'s digest, from the cache when ``t`` has not changed since."""
        if self.use_cache:
            entry = self._cache.get(id(t))
            try:
                version = t._version
            except RuntimeError:  # an inference tensor has no version counter
                version = None
            if entry is not None and entry[0]() is t and entry[1] == version and version is not None:
                return self._pending.add_sum(entry[2], entry[3], entry[4])
            total = digest.tensor_sum(t)
            if version is not None:
                self._remember(t, version, total)
            return self._pending.add_sum(total, t.dtype, tuple(t.shape))
        return self._pending.add(t)

    def _remember(self, t: torch.Tensor, version: int, total: Any) -> None:
        try:
            storage = t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):  # no storage (sparse, meta): not cached
            return
        key = id(t)
        self._cache[key] = (weakref.ref(t), version, total, t.dtype, tuple(t.shape))
        self._by_storage.setdefault(storage, set()).add(key)

    def _forget_storage(self, t: torch.Tensor) -> None:
        try:
            storage = t.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return
        for key in self._by_storage.pop(storage, ()):
            self._cache.pop(key, None)

    # ------------------------------------------------------------------ the mode
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = info(func)
        if op.skip:
            return func(*args, **kwargs)
        index = self.count
        self.count += 1
        module, backward, node = self.paths.where()
        update, stage = phase.current()
        ins, other = split_args(op, args, kwargs)
        in_slots = [self._input_slot(t) for t in ins]
        text = repr(other)
        if op.random:
            gen = generator_of(func, args, kwargs)
            text += "|rng:" + (f"{digest.digest(gen.get_state())}" if gen is not None else "unknown")
        args_slot = self._pending.add_value(text)

        out = func(*args, **kwargs)

        wrote = written(func, args, kwargs) if op.mutable else []
        outs = list(wrote)
        for t in tensors(out, []):
            if not wrote or not any(t is w for w in wrote):
                outs.append(t)
        out_slots = []
        for t in wrote:
            self._forget_storage(t)
        for t in outs:
            total = digest.tensor_sum(t)
            out_slots.append(self._pending.add_sum(total, t.dtype, tuple(t.shape)))
            if self.use_cache and not wrote:  # a written tensor's version moves once the op returns
                try:
                    self._remember(t, t._version, total)
                except RuntimeError:
                    pass
        if out is not None and not outs:
            out_slots.append(self._pending.add_value(non_tensors(out)))  # e.g. a scalar from .item()
        device = str((outs or ins)[0].device) if (outs or ins) else "cpu"
        self._rows.append([index, op.name, module, backward, node, update, stage, self.step,
                           in_slots, args_slot, out_slots,
                           [list(t.shape) for t in ins], [list(t.shape) for t in outs],
                           [_DTYPE_NAMES.get(t.dtype) or str(t.dtype).removeprefix("torch.") for t in outs], device,
                           "uninitialised output" if op.undefined else ""])
        if index == self.dump_index:
            self._dump(index, func, outs)
        if len(self._rows) >= self.flush_every:
            self.flush()
        return out

    def _dump(self, index: int, func: Any, outs: list[torch.Tensor]) -> None:
        self.flush()
        torch.save({"index": index, "op": info(func).name,
                    "outputs": [t.detach().to("cpu", copy=True) for t in outs]}, self.dump_path)
        raise StopReplay(f"dumped op {index}")


_DTYPE_NAMES = {d: str(d).removeprefix("torch.") for d in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                                            torch.int64, torch.int32, torch.uint8, torch.bool)}
