"""``EpochSampler``: deterministic shuffled batches, resumable mid-epoch exactly.

Epoch ``e`` visits the permutation ``Generator(PCG64(SeedSequence([seed, e]))).permutation(n)``
in consecutive slices of ``batch_size`` (drop_last: the final ``n % batch_size`` indices of
each epoch are skipped). Each epoch's order is a pure function of (seed, epoch), so the whole
state is four integers: nothing global is touched and a restored sampler continues with
exactly the indices the original would have produced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repro.errors import InputError

STATE_VERSION = 1


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"invalid {name}={value!r}: must be an integer >= {minimum}")
    return int(value)


class EpochSampler:
    """Shuffled batches of indices into a split of ``n`` images, from the sampler's own generator.

    ``n``: split size; ``batch_size``: indices per batch (<= n); ``seed``: the run seed (>= 0).
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n = _check_int("n", n, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.seed = _check_int("seed", seed, 0)
        if self.batch_size > self.n:
            raise InputError(f"invalid batch_size={batch_size}: larger than the split (n={n}); with drop_last "
                             "an epoch would hold no batch")
        self.epoch = 0
        self.position = 0  # next index into this epoch's permutation
        self._perm: np.ndarray | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        """The int64 order of epoch ``epoch`` (a pure function of seed and epoch)."""
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, int(epoch)])))
        return rng.permutation(self.n).astype(np.int64)

    def next_indices(self) -> np.ndarray:
        """The next batch: int64 array of ``batch_size`` distinct indices in [0, n)."""
        if self.position + self.batch_size > self.n:  # drop_last: start the next epoch
            self.epoch += 1
            self.position = 0
            self._perm = None
        if self._perm is None:
            self._perm = self.permutation(self.epoch)
        out = self._perm[self.position:self.position + self.batch_size].copy()
        self.position += self.batch_size
        return out

    def state_dict(self) -> dict[str, int]:
        """JSON-serialisable state: {version, n, batch_size, seed, epoch, position}."""
        return {"version": STATE_VERSION, "n": self.n, "batch_size": self.batch_size, "seed": self.seed,
                "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; a state for another n, batch size or seed is refused."""
        if not isinstance(state, dict):
            raise InputError(f"sampler state must be a dict, got {type(state).__name__}")
        expected = ("version", "n", "batch_size", "seed", "epoch", "position")
        missing = [k for k in expected if k not in state]
        unknown = sorted(set(state) - set(expected))
        if missing or unknown:
            raise InputError(f"invalid sampler state: missing {missing}, unknown {unknown}; expected keys {list(expected)}")
        if state["version"] != STATE_VERSION:
            raise InputError(f"sampler state version {state['version']!r} not supported (expected {STATE_VERSION})")
        for key in ("n", "batch_size", "seed"):
            if state[key] != getattr(self, key):
                raise InputError(f"sampler state is for {key}={state[key]!r}, this sampler has {key}={getattr(self, key)!r}")
        epoch = _check_int("epoch", state["epoch"], 0)
        position = _check_int("position", state["position"], 0)
        if position > self.n:
            raise InputError(f"invalid position={position}: beyond the split (n={self.n})")
        self.epoch, self.position, self._perm = epoch, position, None

    def __repr__(self) -> str:
        return f"EpochSampler(n={self.n}, batch_size={self.batch_size}, seed={self.seed}, epoch={self.epoch}, position={self.position})"
