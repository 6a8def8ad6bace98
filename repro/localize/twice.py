"""Run every op twice on the same inputs and compare: an in-process triage needing no second run.

:class:`TwiceMode` is a dispatch mode: each op runs once on copies of the tensors it writes
(in-place and ``out=`` ops; copies keep storage offset and strides, since a different layout can
change a kernel's reduction order), then once more as the program called it, and the two
results are compared bit for bit. An op whose two results differ is nondeterministic here, on
these inputs: the list is what ``repro scan --run-twice`` prints. Random ops run twice from the
same generator state (the state is saved before the first call, restored before the second, and
checked to end where the first call left it), so both draw the same numbers; a random op whose
generator cannot be found is run once and counted as skipped. Ops returning uninitialised memory
(``empty``) are run once and not compared.

Learned from ``mikaylagawarecki/bitwise_det`` (``BitwiseEquivalenceMode``), which runs each op
twice; here results are compared as bits (NaN payloads included), in-place and ``out=`` ops are
checked on their written tensors too, the RNG fork covers any device's generator and an op's
own ``generator=``, and each op is named by its module path and training phase.

What it cannot see: a race decided once per process (every call in one process agrees with the
others), and nondeterminism that needs a concurrent workload; ``repro hunt`` and
``repro localize`` cover those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from repro.localize.ops import ModulePaths, generator_of, info, non_tensors, tensors, written
from repro.train import phase

_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclass(frozen=True)
class TwiceRow:
    """One op at one place whose two runs differed: how often, of how many calls, and by how much
    (``max_abs_diff`` over the differing elements of the first differing call)."""

    op: str
    module: str
    backward: bool
    differing: int
    calls: int
    first_phase: str
    first_step: int
    max_abs_diff: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TwiceRow":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TwiceResult:
    """What a run-twice scan found: the differing ops, the op calls checked, and what was skipped
    (reason -> calls)."""

    device: str
    steps: int
    calls: int
    rows: tuple[TwiceRow, ...]
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "steps": self.steps, "calls": self.calls,
                "rows": [r.to_dict() for r in self.rows], "skipped": dict(self.skipped)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TwiceResult":
        return cls(d["device"], d["steps"], d["calls"], tuple(TwiceRow.from_dict(r) for r in d["rows"]),
                   dict(d.get("skipped", {})))


def bits_equal(a: Any, b: Any) -> bool:
    """Bitwise equality of two op results (tensors by their bits, NaNs included; others by repr)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.numel() == 0:
            return True
        return bool(torch.equal(_bits(a), _bits(b)))
    return repr(non_tensors(a)) == repr(non_tensors(b))


def _bits(t: torch.Tensor) -> torch.Tensor:
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.contiguous().view(_INT[t.element_size()])


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float | None:
    if not (a.is_floating_point() and a.shape == b.shape):
        return None
    d = (a.double() - b.double()).abs()
    return float(torch.nan_to_num(d, nan=float("inf")).max()) if d.numel() else 0.0


def clone_exact(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` with its own storage and ``t``'s offset, sizes and strides."""
    out = torch.empty(0, dtype=t.dtype, device=t.device)
    out.set_(t.untyped_storage().clone(), t.storage_offset(), t.size(), t.stride())
    return out


def _substitute(obj: Any, copies: dict[int, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return copies.get(id(obj), obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_substitute(x, copies) for x in obj)
    if isinstance(obj, dict):
        return {k: _substitute(v, copies) for k, v in obj.items()}
    return obj


class TwiceMode(TorchDispatchMode):
    """Runs each op twice and collects the ones whose results differ (see the module docstring)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """Not wrapped in ``torch._dynamo.disable`` (TorchDispatchMode's default): the wrapper imports
        the whole compiler on first use (3 s of a replay process's start) and costs every op a few
        microseconds; nothing is compiled under this mode (compiled runs are refused)."""
        return False

    def __init__(self, paths: ModulePaths):
        super().__init__()
        self.paths = paths
        self.step = 0
        self.calls = 0
        self.skipped: dict[str, int] = {}
        self._rows: dict[tuple[str, str, bool], list] = {}
        self._calls_by_key: dict[tuple[str, str, bool], int] = {}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def rows(self) -> tuple[TwiceRow, ...]:
        return tuple(TwiceRow(op, module, bwd, r[0], self._calls_by_key[(op, module, bwd)], r[1], r[2], r[3])
                     for (op, module, bwd), r in self._rows.items())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = info(func)
        if op.skip:
            return func(*args, **kwargs)
        if op.undefined:
            self._skip("uninitialised output (empty and friends): run once")
            return func(*args, **kwargs)
        gen = state = None
        if op.random:
            gen = generator_of(func, args, kwargs)
            if gen is None:
                self._skip("random op whose generator is unknown: run once")
                return func(*args, **kwargs)
            state = gen.get_state()
        module, backward, _ = self.paths.where()
        wrote = written(func, args, kwargs)
        copies = {id(t): clone_exact(t) for t in wrote}
        first = func(*_substitute(args, copies), **_substitute(kwargs, copies))
        if gen is not None:
            after = gen.get_state()
            gen.set_state(state)
        out = func(*args, **kwargs)  # the call whose results the program keeps
        if gen is not None and not torch.equal(gen.get_state(), after):
            self._skip("random op whose second call drew differently from its generator")
        pairs = [(copies[id(t)], t) for t in wrote]
        firsts = [t for t in tensors(first, []) if not any(t is c for c in copies.values())]
        seconds = [t for t in tensors(out, []) if not any(t is w for w in wrote)]
        pairs += list(zip(firsts, seconds))
        if not firsts and not wrote and out is not None:
            pairs.append((first, out))
        self.calls += 1
        key = (op.name, module, backward)
        self._calls_by_key[key] = self._calls_by_key.get(key, 0) + 1
        bad = [(a, b) for a, b in pairs if not bits_equal(a, b)]
        if len(firsts) != len(seconds) or bad:
            row = self._rows.get(key)
            if row is None:
                size = _max_abs(*bad[0]) if bad and isinstance(bad[0][0], torch.Tensor) else None
                update, stage = phase.current()
                self._rows[key] = [1, f"{update} {stage}".strip(), self.step, size]
            else:
                row[0] += 1
        return out
