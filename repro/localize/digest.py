"""Exact, cheap tensor digests computed where the tensor lives, for hashing every op of a replay.

A digest is a function of a tensor's dtype, shape and the bits of its elements in logical
(row-major) order; strides, storage offset and device do not enter, so a CPU run and a GPU run
of the same bits agree. Per element: the element's bytes read as an integer ``w_i`` (1, 2, 4
or 8 bytes; complex as its real and imaginary parts, bool as a byte), sign-extended to 64 bits,
times a fixed pseudo-random odd 64-bit key ``K_i`` of its position; the sum over elements, modulo
2^64, is the tensor's sum (:func:`tensor_sum`). On the host the sum is combined with dtype and
shape into a 64-bit digest (:func:`finish`).

Why this and not sha256 (:mod:`repro.hashing`, which the checkpoints use): sha256 needs the bytes
on the host, one device-to-host copy and sync per tensor, and runs at about 1 GB/s on one core;
here the work is three elementwise passes on the tensor's own device (threaded on a CPU), and
only an 8-byte sum comes back, in batches (:class:`Pending`). Why not ``torch.hash_tensor``
(which DebugMode offers): it XORs the elements, so two elements flipped in the same bit cancel,
and a permutation of the elements hashes alike; both happen in real nondeterministic reductions.

Guarantees: equal tensors give equal digests. A difference in one element always changes the
sum (``K_i`` is odd, so ``d K_i = 0 mod 2^64`` only for ``d = 0``; ``|d| < 2^64``). Differences in
several elements collide with probability about 2^-(64 - k) for random keys, where 2^k divides
every difference (k < 32 for 32-bit floats). Keys come from a fixed seed, so digests are
comparable across processes, machines and devices.

Memory: the keys of the largest tensor hashed so far are kept per device (8 bytes per element).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

_KEY_SEED = 0x5EED_D16E57
_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_MASK = (1 << 64) - 1
_FNV = 0x100000001B3  # the 64-bit FNV prime, to fold shape and dtype into the sum
_keys: dict[str, torch.Tensor] = {}
_np_keys = np.zeros(0, dtype=np.int64)
_dtype_codes: dict[torch.dtype, int] = {}


def _make_keys(n: int) -> np.ndarray:
    """The first ``n`` keys: odd pseudo-random 64-bit integers, the same on every machine."""
    rng = np.random.Generator(np.random.PCG64(_KEY_SEED))
    with np.errstate(over="ignore"):
        return rng.integers(-(2**62), 2**62, size=n, dtype=np.int64) * 2 + 1  # odd


def _host_keys(n: int) -> np.ndarray:
    global _np_keys
    if len(_np_keys) < n:
        _np_keys = _make_keys(max(n, 2 * len(_np_keys), 1024))
    return _np_keys[:n]


def _device_keys(n: int, device: torch.device) -> torch.Tensor:
    name = str(device)
    keys = _keys.get(name)
    if keys is None or keys.numel() < n:
        keys = torch.from_numpy(_host_keys(max(n, 1024)).copy()).to(device)
        _keys[name] = keys
    return keys[:n]


def words(t: torch.Tensor) -> torch.Tensor:
    """The elements of ``t`` as signed integers of their own width, in logical order, with ``t``'s
    shape and strides (``Tensor.view(dtype)`` of the same width reinterprets any strides)."""
    t = t.detach()
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.view(_INT[t.element_size()])


def tensor_sum(t: torch.Tensor) -> int | torch.Tensor:
    """Sum of ``w_i K_i`` modulo 2^64 (see the module docstring): a Python int for a CPU tensor
    (NumPy's integer dot product: one pass, and faster on a CPU than torch's int64 ops, whose
    int32-to-int64 conversion alone costs 15x NumPy's whole dot), a 0-dim int64 tensor on the
    tensor's device otherwise (read back later, in a batch)."""
    w = words(t)
    n = w.numel()
    if n == 0:
        return 0
    if w.device.type == "cpu":
        flat = w.numpy().reshape(-1)  # a copy in logical order only when w is not contiguous
        with np.errstate(over="ignore"):
            return int(np.dot(flat, _host_keys(n)))  # int64 arithmetic wraps: the sum mod 2^64
    with torch.no_grad():
        return (w.reshape(-1).to(torch.int64) * _device_keys(n, w.device)).sum()


def finish(total: int, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    """The digest, a 64-bit integer: the sum with the shape and the dtype folded in."""
    code = _dtype_codes.get(dtype)
    if code is None:
        code = _dtype_codes[dtype] = int.from_bytes(hashlib.blake2b(str(dtype).encode(), digest_size=8).digest(),
                                                    "little")
    h = total & _MASK
    for size in shape:
        h = (h * _FNV + size + 1) & _MASK
    return ((h ^ code) * _FNV + len(shape)) & _MASK


def digest(t: torch.Tensor) -> int:
    """The digest of one tensor, now (a device sync on a GPU: use :class:`Pending` in loops)."""
    return finish(int(tensor_sum(t)), t.dtype, tuple(t.shape))


def value_digest(value: object) -> int:
    """A digest of a non-tensor argument or result (numbers, shapes, strings, None) from its repr,
    which is exact for Python floats."""
    return int.from_bytes(hashlib.blake2b(repr(value).encode(), digest_size=8).digest(), "little")


def hex16(d: int) -> str:
    return f"{d:016x}"


class Pending:
    """Digests whose sums may still be on a device: ``add`` returns a slot, ``resolve`` reads every
    device sum back in one copy per device and returns the digests (64-bit ints) by slot."""

    def __init__(self) -> None:
        self._items: list[tuple[int | torch.Tensor, torch.dtype | None, tuple[int, ...]]] = []

    def add(self, t: torch.Tensor) -> int:
        return self.add_sum(tensor_sum(t), t.dtype, tuple(t.shape))

    def add_sum(self, total: int | torch.Tensor, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
        """A slot for a sum already taken (:func:`tensor_sum`)."""
        self._items.append((total, dtype, shape))
        return len(self._items) - 1

    def add_value(self, value: object) -> int:
        """A slot for a non-tensor value (:func:`value_digest`)."""
        self._items.append((value_digest(value), None, ()))
        return len(self._items) - 1

    def __len__(self) -> int:
        return len(self._items)

    def resolve(self) -> list[int]:
        sums: dict[int, int] = {}
        by_device: dict[str, list[int]] = {}
        for i, (s, _, _) in enumerate(self._items):
            if isinstance(s, torch.Tensor):
                by_device.setdefault(str(s.device), []).append(i)
        for idx in by_device.values():
            values = torch.stack([self._items[i][0] for i in idx]).cpu().tolist()  # one read per device
            sums.update(zip(idx, values))
        out = [s if dtype is None else finish(sums.get(i, s), dtype, shape)
               for i, (s, dtype, shape) in enumerate(self._items)]
        self._items = []
        return out
