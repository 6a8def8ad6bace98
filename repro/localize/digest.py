"""Exact, cheap tensor digests computed where the tensor lives, for hashing every op of a replay.

A digest is a function of a tensor's dtype, shape and the bytes of its elements in logical
(row-major) order; strides, storage offset and device do not enter, so a CPU run and a GPU run
of the same bits agree. The bytes (complex as real and imaginary parts, bool as one byte each),
zero-padded to a multiple of 8, are read as little-endian 64-bit integers ``w_j``; each is
multiplied by a fixed pseudo-random odd 64-bit key ``K_j`` of its position, and the sum modulo
2^64 is the tensor's sum (:func:`tensor_sum`). On the host the sum is combined with dtype and
shape into a 64-bit digest (:func:`finish`).

Why this and not sha256 (:mod:`repro.hashing`, which the checkpoints use): sha256 needs the bytes
on the host, one device-to-host copy and sync per tensor, and runs at about 1 GB/s on one core;
here the work is one multiply-add pass over the tensor's own memory on its own device (an
integer dot product on a CPU, with no copy for a contiguous tensor), and only an 8-byte sum
comes back, in batches (:class:`Pending`). Why not ``torch.hash_tensor`` (which DebugMode
offers): it XORs the elements, so two elements flipped in the same bit cancel, and a permutation
of the elements hashes alike; both happen in real nondeterministic reductions.

Guarantees: equal tensors give equal digests. A difference in one element always changes the
sum: an element of 1, 2, 4 or 8 bytes lies inside one 64-bit word (its offset is a multiple of its
size), so one word changes, by ``d`` with ``0 < |d| < 2^64``, and ``d K_j`` is not 0 modulo 2^64
because ``K_j`` is odd. Differences in several words collide with probability about 2^-(64 - k)
for random keys, where 2^k divides every word's difference. Keys come from a fixed seed, so
digests are comparable across processes, machines and devices.

Memory: the keys of the largest tensor hashed so far are kept per device (1 byte per byte of
that tensor).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

_KEY_SEED = 0x5EED_D16E57
_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_MASK = (1 << 64) - 1
_FNV = 0x100000001B3  # the 64-bit FNV prime
_keys: dict[str, torch.Tensor] = {}
_np_keys = np.zeros(0, dtype=np.int64)
_codes: dict[tuple[torch.dtype, tuple[int, ...]], int] = {}


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
    if t.requires_grad:
        t = t.detach()
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.view(_INT[t.element_size()])


def tensor_sum(t: torch.Tensor) -> int | torch.Tensor:
    """Sum of ``w_j K_j`` modulo 2^64 over the tensor's 64-bit words (see the module docstring): a
    Python int for a CPU tensor (NumPy's integer dot product, single pass, no copy when the tensor
    is contiguous and a multiple of 8 bytes), a 0-dim int64 tensor on the tensor's device otherwise
    (read back later, in a batch)."""
    w = words(t)
    if w.numel() == 0:
        return 0
    if w.device.type == "cpu":
        raw = np.ascontiguousarray(w.numpy()).reshape(-1).view(np.uint8)  # copies only a strided tensor
        if raw.size % 8:
            raw = np.concatenate([raw, np.zeros(8 - raw.size % 8, dtype=np.uint8)])
        packed = raw.view("<i8")
        return int(np.dot(packed, _host_keys(packed.size)))  # int64 arithmetic wraps, silently: mod 2^64
    return device_sum(w)


def device_sum(w: torch.Tensor) -> torch.Tensor:
    """:func:`tensor_sum` with torch ops (any device; on a GPU, the only path), as a 0-dim tensor."""
    with torch.no_grad():
        raw = w.contiguous().view(-1).view(torch.uint8)
        if raw.numel() % 8:
            raw = torch.cat([raw, raw.new_zeros(8 - raw.numel() % 8)])
        packed = raw.view(torch.int64)  # little-endian on every device torch runs on
        return (packed * _device_keys(packed.numel(), packed.device)).sum()


def finish(total: int, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
    """The digest, a 64-bit integer: the sum with the shape and the dtype folded in."""
    code = _codes.get((dtype, shape))
    if code is None:
        text = f"{dtype}|{','.join(map(str, shape))}".encode()
        code = _codes[(dtype, shape)] = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
    return (((total & _MASK) ^ code) * _FNV + (code >> 7)) & _MASK


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
