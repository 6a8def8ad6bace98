"""``ImageSplit``: one split of one dataset, as float32 (B, C, H, W) batches in [0, 1].

Subclasses implement ``_read(indices)``; this base checks indices, iterates in order,
computes the content fingerprint and the flat ``describe()`` summary.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from repro.data import fingerprint as _fp
from repro.errors import InputError


class ImageSplit:
    """One split of a dataset.

    Attributes: ``name`` (dataset), ``split`` ("train"/"test"), ``recipe`` (the preprocessing
    recipe actually applied), ``shape`` ((C, H, W) of every image), ``labels`` (int64 array of
    length ``len(self)``, or ``None`` where the dataset has none).
    """

    def __init__(self, name: str, split: str, recipe: str, shape: tuple[int, int, int],
                 n: int, labels: np.ndarray | None = None, extra: dict[str, Any] | None = None):
        self.name = name
        self.split = split
        self.recipe = recipe
        self.shape = tuple(int(s) for s in shape)
        self._n = int(n)
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (self._n,):
                raise InputError(f"{name}/{split}: labels shape {labels.shape} != ({self._n},)")
        self.labels = labels
        self._extra = dict(extra or {})  # dataset-specific facts recorded by describe()
        self._stats: dict[str, Any] | None = None

    # ------------------------------------------------------------- to implement
    def _read(self, indices: np.ndarray) -> torch.Tensor:
        """float32 (B, C, H, W) in [0, 1] for valid int64 ``indices``."""
        raise NotImplementedError

    def _source_key(self) -> dict[str, Any] | None:
        """What determines the decoded content (paths, sizes, mtimes, ...); ``None`` = do not cache."""
        return None

    # ------------------------------------------------------------------ public
    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> torch.Tensor:
        """One image, float32 (C, H, W) in [0, 1] (so a split works as a torch Dataset)."""
        return self.batch([index])[0]

    def batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Images ``indices`` (ints in ``[0, len)``), float32 (B, C, H, W) in [0, 1], a fresh tensor."""
        idx = self._check_indices(indices)
        out = self._read(idx)
        expected = (len(idx), *self.shape)
        if tuple(out.shape) != expected or out.dtype != torch.float32:
            raise RuntimeError(f"{self.name}/{self.split}: reader returned {tuple(out.shape)} {out.dtype}, "
                               f"expected {expected} float32")
        return out

    def iter_batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The whole split in index order, ``batch_size`` images at a time (the last batch may be smaller)."""
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise InputError(f"invalid batch_size={batch_size!r}: must be an integer >= 1")
        for start in range(0, self._n, int(batch_size)):
            yield self.batch(np.arange(start, min(start + int(batch_size), self._n), dtype=np.int64))

    def fingerprint(self) -> str:
        """sha256 hex of the decoded split (float32 bytes in index order, plus shape); cached on disk."""
        return self._content_stats()["fingerprint"]

    def value_range(self) -> tuple[float, float]:
        """(min, max) pixel value over the split (computed with, and cached beside, the fingerprint)."""
        stats = self._content_stats()
        return stats["min"], stats["max"]

    def describe(self) -> dict[str, Any]:
        """Flat JSON-able summary: name, split, n, shape, recipe, fingerprint, min, max, and dataset facts."""
        lo, hi = self.value_range()
        out: dict[str, Any] = {
            "name": self.name, "split": self.split, "n": self._n, "shape": list(self.shape),
            "recipe": self.recipe, "fingerprint": self.fingerprint(), "min": lo, "max": hi,
            "has_labels": self.labels is not None,
        }
        out.update(self._extra)
        return out

    # ---------------------------------------------------------------- helpers
    def _content_stats(self) -> dict[str, Any]:
        if self._stats is None:
            key = self._source_key()
            if key is not None:
                key = {"name": self.name, "split": self.split, "recipe": self.recipe,
                       "shape": list(self.shape), "n": self._n, **key}
            self._stats = _fp.cached_stats(key, lambda: _fp.hash_batches(self.shape, self._n, self.iter_batches(256)))
        return self._stats

    def _check_indices(self, indices: Any) -> np.ndarray:
        if isinstance(indices, torch.Tensor):
            indices = indices.cpu().numpy()
        idx = np.asarray(indices)
        if idx.ndim != 1:
            raise InputError(f"{self.name}/{self.split}: indices must be 1-D, got shape {idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise InputError(f"{self.name}/{self.split}: indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self._n):
            bad = int(idx[(idx < 0) | (idx >= self._n)][0])
            raise InputError(f"{self.name}/{self.split}: index {bad} out of range [0, {self._n})")
        return idx

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={self._n}, shape={self.shape}, recipe={self.recipe!r})"


class ArraySplit(ImageSplit):
    """A split held in memory: uint8 images (scaled by 1/``scale``) or float32 images in [0, 1].

    ``images``: (N, C, H, W) numpy array. uint8 pixels are divided by ``scale`` (255 for
    CIFAR-10, as compare_gan: ``float32(x) / 255``) at batch time, so memory stays uint8.
    """

    def __init__(self, name: str, split: str, recipe: str, images: np.ndarray, *,
                 labels: np.ndarray | None = None, scale: float = 255.0,
                 source_key: dict[str, Any] | None = None, extra: dict[str, Any] | None = None):
        if images.ndim != 4:
            raise InputError(f"{name}/{split}: images must be (N, C, H, W), got shape {images.shape}")
        if images.dtype not in (np.uint8, np.float32):
            raise InputError(f"{name}/{split}: images must be uint8 or float32, got {images.dtype}")
        super().__init__(name, split, recipe, images.shape[1:], images.shape[0], labels, extra)
        self._images = images
        self._scale = float(scale)
        self._key = source_key

    def _read(self, indices: np.ndarray) -> torch.Tensor:
        chunk = torch.from_numpy(np.ascontiguousarray(self._images[indices]))
        if chunk.dtype == torch.uint8:
            return chunk.to(torch.float32) / self._scale
        return chunk.clone()

    def _source_key(self) -> dict[str, Any] | None:
        return self._key
