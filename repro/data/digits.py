"""``digits``: the embedded default, scikit-learn's 1,797 real 8x8 handwritten digits at 16x16.

Preprocessing (all fixed, nothing downloaded):

* pixels 0..16 (``sklearn.datasets.load_digits``) -> [0, 1] by ``/ 16`` in float32;
* 8x8 -> 16x16, one channel. Recipe ``bilinear16`` (default): ``torch.nn.functional.interpolate``
  bilinear, ``align_corners=False``, ``antialias=False`` (antialiasing only matters when
  downsampling). Bilinear is a convex combination of neighbours, so values stay in [0, 1]
  without clamping (bicubic would overshoot) and strokes stay smooth, closer to real
  handwriting than blocks. Recipe ``nearest16``: each pixel repeated 2x2 (exactly 17 grey levels).
  ``bilinear32`` / ``nearest32`` do the same at 32x32 (for 32-pixel architectures, e.g. the GPU audit).
* split: stratified and RNG-free, so it is identical on every machine and library version:
  within each class, in the dataset's order, every 5th image (class positions 4, 9, 14, ...)
  is test. That is 1,442 train / 355 test images (80.2% / 19.8%), labels kept.

Start-up: importing scikit-learn costs about a second of CPU per process, so the raw arrays are
cached as ``cache_dir()/digits/digits-<key>.npz`` (about 30 KB), where ``key`` is the sha256 of
scikit-learn's own data file (``sklearn/datasets/data/digits.csv.gz``, found without importing
scikit-learn): a scikit-learn release that changes the data gets a new key. A warm cache never
imports scikit-learn; a missing or unreadable cache entry is rebuilt from ``load_digits``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from repro.data.catalog import REGISTRY, DatasetSpec
from repro.data.split import ArraySplit
from repro.errors import InputError
from repro.io import atomic_path
from repro.paths import cache_dir

NAME = "digits"
RESOLUTION = 16  # of the default recipe
TEST_EVERY = 5  # every 5th image of each class is test: a 20% stratified split
RECIPES = {f"{mode}{size}": (mode, size) for size in (16, 32) for mode in ("bilinear", "nearest")}
DEFAULT_RECIPE = "bilinear16"


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float32 in 0..16, labels (1797,) int64), from the cache when warm."""
    path = cache_path()
    if path is not None:
        cached = _read_cache(path)
        if cached is not None:
            return cached
    images, labels = _check(*_from_sklearn())
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
                np.savez_compressed(fh, images=images.astype(np.uint8), labels=labels)
    return images, labels


def _from_sklearn() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)


def _check(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if (images.shape != (1797, 8, 8) or labels.shape != (1797,) or images.min() < 0 or images.max() > 16
            or not np.array_equal(images, np.round(images)) or labels.min() < 0 or labels.max() > 9):
        raise InputError(f"unexpected scikit-learn digits: shape {images.shape}, range [{images.min()}, "
                         f"{images.max()}], labels {labels.shape}")
    return images, labels


def source_file() -> Path | None:
    """scikit-learn's digits data file, located without importing scikit-learn (None if absent)."""
    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def cache_path() -> Path | None:
    """``cache_dir()/digits/digits-<sha256 of the source file, 16 hex>.npz``; None without a source file."""
    source = source_file()
    if source is None:
        return None
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return cache_dir() / NAME / f"{NAME}-{key}.npz"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when the entry is missing, unreadable or fails the checks."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"].astype(np.float32), npz["labels"].astype(np.int64)
        return _check(images, labels)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # absent, truncated, or not what we wrote
        return None


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Stratified deterministic split: within each class (dataset order) every 5th image is test."""
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test[members[TEST_EVERY - 1::TEST_EVERY]] = True
    return {"train": np.flatnonzero(~test), "test": np.flatnonzero(test)}


@functools.lru_cache(maxsize=4)
def _decoded(recipe: str) -> np.ndarray:
    images, _ = _raw()
    x = torch.from_numpy(images / np.float32(16.0)).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    mode, size = RECIPES[recipe]
    if mode == "bilinear":
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    else:
        y = F.interpolate(x, size=(size, size), mode="nearest")
    out = y.contiguous().numpy()
    out.setflags(write=False)  # shared by every split object; batch() returns copies
    return out


def open_digits(split: str, root: str = "", recipe: str = DEFAULT_RECIPE) -> ArraySplit:
    """The digits split ``split``: float32 (N, 1, S, S) in [0, 1] (S from the recipe), int64 labels 0..9."""
    if root:
        raise InputError("digits is embedded (scikit-learn's load_digits): it takes no root; pass root=''")
    images = _decoded(recipe)
    _, labels = _raw()
    idx = split_indices(labels)[split]
    return ArraySplit(NAME, split, recipe, images[idx], labels=labels[idx],
                      extra={"source": "sklearn.datasets.load_digits", "n_classes": 10,
                             "split_rule": f"stratified: every {TEST_EVERY}th image of each class is test"})


REGISTRY.register(NAME, DatasetSpec(name=NAME, open=open_digits, recipes=tuple(RECIPES), default_recipe=DEFAULT_RECIPE))
