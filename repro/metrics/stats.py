"""Streaming mean and covariance in float64 (Chan, Golub & LeVeque 1979, pairwise update).

Each batch contributes its own mean and centred scatter matrix, merged into the running ones:

    n = na + nb,  delta = mean_b - mean_a,
    mean = mean_a + delta * nb / n,
    M2 = M2_a + M2_b + outer(delta, delta) * na * nb / n,
    cov = M2 / (n - 1)                       (unbiased, like np.cov)

Memory is O(d^2) whatever the number of samples.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from repro.errors import InputError
from repro.io import atomic_path
from repro.metrics._checks import features

FORMAT_VERSION = 1


class StreamingStats:
    """Running count, mean (d,) and covariance (d, d) of feature vectors, in float64."""

    def __init__(self, dim: int):
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
            raise InputError(f"dim must be an integer >= 1, got {dim!r}")
        self.dim = int(dim)
        self.count = 0
        self._mean = np.zeros(self.dim, dtype=np.float64)
        self._m2 = np.zeros((self.dim, self.dim), dtype=np.float64)

    def _merge_moments(self, nb: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        na = self.count
        n = na + nb
        delta = mean_b - self._mean
        self._m2 += m2_b
        if na:  # the cross term vanishes for the first batch
            self._m2 += np.outer(delta, delta) * (na * nb / n)
        self._mean += delta * (nb / n)
        self.count = n

    def update(self, feats: np.ndarray) -> "StreamingStats":
        """Add a batch of features, shape (N, dim); N may be 1. Returns self."""
        x = features("features", feats, min_rows=1, dim=self.dim)
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        self._merge_moments(x.shape[0], mean_b, xc.T @ xc)
        return self

    def merge(self, other: "StreamingStats") -> "StreamingStats":
        """Add the samples summarised by ``other`` (same dim). Returns self."""
        if not isinstance(other, StreamingStats):
            raise InputError(f"can only merge another StreamingStats, got {type(other).__name__}")
        if other.dim != self.dim:
            raise InputError(f"cannot merge stats of dimension {other.dim} into dimension {self.dim}")
        if other.count:
            self._merge_moments(other.count, other._mean.copy(), other._m2)
        return self

    @property
    def mean(self) -> np.ndarray:
        """(dim,) float64 mean; needs at least one sample."""
        if self.count < 1:
            raise InputError("the mean needs at least 1 sample; these stats hold 0")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """(dim, dim) float64 unbiased covariance (divides by N - 1, like np.cov); needs N >= 2."""
        if self.count < 2:
            raise InputError(f"the covariance needs at least 2 samples; these stats hold {self.count}")
        m2 = self._m2 / (self.count - 1)
        return 0.5 * (m2 + m2.T)  # exact symmetry (update is symmetric up to matmul rounding)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
        """Write an ``.npz`` (atomically) with count, mean, scatter matrix and JSON ``metadata``."""
        meta = dict(metadata or {})
        meta.setdefault("n", self.count)
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            # a file handle, so numpy does not append ".npz" to the temporary name
            np.savez(fh, format_version=np.int64(FORMAT_VERSION), count=np.int64(self.count),
                     mean=self._mean, m2=self._m2, metadata=np.array(text))

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple["StreamingStats", dict[str, Any]]:
        """Read a file written by :meth:`save` -> (stats, metadata). No pickles are accepted."""
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise InputError(f"statistics file {path} has format {version}, expected {FORMAT_VERSION}")
                mean, m2, count = data["mean"], data["m2"], int(data["count"])
                meta = json.loads(str(data["metadata"]))
        except FileNotFoundError:
            raise InputError(f"statistics file not found: {path}") from None
        except (KeyError, OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise InputError(f"corrupt statistics file {path}: {exc}") from None
        if mean.ndim != 1 or m2.shape != (mean.shape[0], mean.shape[0]) or count < 0:
            raise InputError(f"corrupt statistics file {path}: mean {mean.shape}, m2 {m2.shape}, count {count}")
        stats = cls(mean.shape[0])
        stats.count, stats._mean, stats._m2 = count, mean.astype(np.float64), m2.astype(np.float64)
        return stats, meta

    def __repr__(self) -> str:
        return f"StreamingStats(dim={self.dim}, count={self.count})"


def stats_of(feats: np.ndarray) -> StreamingStats:
    """StreamingStats of one (N, d) feature array."""
    x = features("features", feats, min_rows=1)
    return StreamingStats(x.shape[1]).update(x)
