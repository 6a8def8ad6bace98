"""``lsun_bedroom``: LSUN bedroom from the standard LMDB export or a folder, streamed from disk.

Layout (``root`` or ``$REPRO_LSUN_BEDROOM_ROOT``): the LMDB folder written by the LSUN tools
(``ROOT/data.mdb``, or ``ROOT/bedroom_train_lmdb/data.mdb``; values are encoded images, webp
in the official export, decoded with Pillow), or else a folder of image files (recursive,
sorted by relative path).

Split: the paper's test split has 30,588 images. compare_gan took it through a TFDS subsplit
whose membership depends on TFDS's sharding and cannot be rebuilt from the raw export, so this
loader documents its own deterministic choice: the **last 30,588 entries in key order** (LMDB
keys are sorted bytes; LSUN keys are content hashes, so the tail is an arbitrary, fixed subset)
are test, all earlier entries train (3,033,042 - 30,588 = 3,002,454 for the full export). A
smaller local copy must say so: set ``$REPRO_LSUN_BEDROOM_TEST_SIZE``; the size used is
recorded in ``describe()["test_size"]``.

Recipes (``S`` = 128): ``compare_gan`` (default): central 128x128 crop, no downscaling, as
compare_gan's ``resize_image_with_crop_or_pad``; ``center_crop_resize``: central square crop,
then Pillow bilinear to 128x128 (the crop-256-then-resize recipe of other codebases).

Memory: pixels are decoded per batch; the LMDB key index is built once into a NumPy file in
the cache and memory-mapped, so resident memory does not grow with the dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.data import fingerprint as _fp
from repro.data.catalog import REGISTRY, DatasetSpec
from repro.data.files import FileSplit, list_images
from repro.data.images import DECODER, Recipe, decode, to_tensor
from repro.data.roots import env_int, resolve_root
from repro.data.split import ImageSplit
from repro.errors import InputError
from repro.io import atomic_path
from repro.paths import cache_dir

NAME = "lsun_bedroom"
ENV_VAR = "REPRO_LSUN_BEDROOM_ROOT"
TEST_SIZE_ENV = "REPRO_LSUN_BEDROOM_TEST_SIZE"
TEST_SIZE = 30588  # the paper's LSUN-bedroom test split
FULL_SIZE = 3033042  # images in the official bedroom_train_lmdb
RESOLUTION = 128
RECIPES = {"compare_gan": Recipe("center_crop", RESOLUTION), "center_crop_resize": Recipe("center_crop_resize", RESOLUTION)}
LAYOUT = ("ROOT/data.mdb (+ lock.mdb), or ROOT/bedroom_train_lmdb/data.mdb: the LSUN LMDB export whose values are "
          "encoded images; or a folder ROOT/**/*.webp|jpg|png")


def _lmdb():
    try:
        import lmdb
    except ImportError:
        raise InputError(f"{NAME}: reading an LMDB export needs the 'lmdb' package (pip install 'repro[lmdb]'), "
                         "or export the images to a folder") from None
    return lmdb


def find_lmdb(root: Path) -> Path | None:
    for folder in (root, root / "bedroom_train_lmdb"):
        if (folder / "data.mdb").is_file():
            return folder
    return None


_ENVS: dict[tuple[int, str], Any] = {}  # py-lmdb allows one open environment per path per process


def open_env(folder: Path):
    """The process's read-only environment for ``folder`` (opened once per process, also after a fork)."""
    lmdb = _lmdb()
    key = (os.getpid(), str(folder))
    if key not in _ENVS:
        try:  # read-only, no lock file writes, no readahead: random access over a file far larger than RAM
            _ENVS[key] = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False, max_readers=256)
        except lmdb.Error as exc:
            raise InputError(f"corrupt or unreadable LMDB {folder / 'data.mdb'}: {type(exc).__name__}: {exc}") from None
    return _ENVS[key]


def key_index(folder: Path) -> np.ndarray:
    """All keys of the LMDB in key order, as a memory-mapped NumPy bytes array (built once, cached)."""
    stats = _fp.file_stats([folder / "data.mdb"])
    digest = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
    path = Path(cache_dir()) / "lsun_keys" / f"{digest}.npy"
    if not path.is_file():
        lmdb = _lmdb()
        env = open_env(folder)
        try:
            with env.begin() as txn:
                n = txn.stat()["entries"]
                width = 1
                for key in txn.cursor().iternext(keys=True, values=False):  # pass 1: the widest key
                    width = max(width, len(key))
                    if key.endswith(b"\0"):
                        raise InputError(f"{NAME}: LMDB key {key!r} in {folder} ends with a NUL byte; not supported")
                with atomic_path(path) as tmp:
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=f"S{width}", shape=(n,))
                    for i, key in enumerate(txn.cursor().iternext(keys=True, values=False)):  # pass 2: fill, O(1) RAM
                        out[i] = key
                    out.flush()
                    del out
        except lmdb.Error as exc:
            raise InputError(f"corrupt or unreadable LMDB {folder / 'data.mdb'}: {type(exc).__name__}: {exc}") from None
    return np.load(path, mmap_mode="r")


class LmdbSplit(ImageSplit):
    """Entries ``[start, stop)`` (key order) of an LMDB of encoded images, decoded per batch."""

    def __init__(self, split: str, recipe_name: str, recipe: Recipe, folder: Path, keys: np.ndarray,
                 start: int, stop: int, extra: dict[str, Any]):
        super().__init__(NAME, split, recipe_name, (3, recipe.size, recipe.size), stop - start,
                         extra={"root": str(folder), "format": "lmdb", "decoder": DECODER, **extra})
        self._folder, self._keys, self._start, self._recipe = folder, keys, start, recipe

    def __getstate__(self) -> dict[str, Any]:  # send the index's file name to DataLoader workers, not its contents
        state = dict(self.__dict__)
        if isinstance(self._keys, np.memmap) and self._keys.filename:
            state["_keys"] = ("mmap", str(self._keys.filename))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("_keys"), tuple):
            state["_keys"] = np.load(state["_keys"][1], mmap_mode="r")
        self.__dict__.update(state)

    def _read(self, indices: np.ndarray) -> torch.Tensor:
        if not len(indices):
            return torch.empty((0, *self.shape), dtype=torch.float32)
        images = []
        with open_env(self._folder).begin(buffers=False) as txn:  # per process, so DataLoader workers reopen it
            for i in indices:
                key = bytes(self._keys[self._start + int(i)])
                value = txn.get(key)
                name = f"{self._folder / 'data.mdb'}[key {key.decode('latin1')}]"
                if value is None:
                    raise InputError(f"corrupt LMDB: entry missing for {name} (the LMDB changed after its key index was built?)")
                images.append(self._recipe.apply(decode(bytes(value), name), name))
        return to_tensor(images)

    def _source_key(self) -> dict[str, Any]:
        return {"lmdb": _fp.file_stats([self._folder / "data.mdb"]), "start": self._start,
                "recipe_spec": [self._recipe.kind, self._recipe.size], "decoder": DECODER}


def _test_size(n: int, root: Path) -> int:
    test_size = env_int(TEST_SIZE_ENV, TEST_SIZE)
    if n <= test_size:
        raise InputError(f"{NAME}: {root} holds only {n} images, not more than the test split of {test_size} "
                         f"(the paper's is {TEST_SIZE} of {FULL_SIZE}). For a smaller local copy set "
                         f"${TEST_SIZE_ENV} to a size below {n}; it is recorded in describe()['test_size']")
    return test_size


def open_lsun_bedroom(split: str, root: str = "", recipe: str = "compare_gan") -> ImageSplit:
    """LSUN-bedroom split ``split``: float32 (N, 3, 128, 128) in [0, 1], streamed from disk."""
    base = resolve_root(NAME, root, ENV_VAR, LAYOUT)
    folder = find_lmdb(base)
    rule = "the last {k} entries in key order are test"
    if folder is not None:
        keys = key_index(folder)
        n = int(keys.shape[0])
        k = _test_size(n, folder)
        start, stop = (0, n - k) if split == "train" else (n - k, n)
        extra = {"split_rule": rule.format(k=k), "test_size": k, "total_n": n, "expected_total_n": FULL_SIZE}
        return LmdbSplit(split, recipe, RECIPES[recipe], folder, keys, start, stop, extra)
    files = list_images(base)
    if not files:
        raise InputError(f"{NAME}: neither an LMDB (data.mdb) nor image files under {base}. Expected layout: {LAYOUT}")
    k = _test_size(len(files), base)
    chosen = files[:-k] if split == "train" else files[-k:]
    return FileSplit(NAME, split, recipe, RECIPES[recipe], base, chosen,
                     extra={"format": "folder", "split_rule": rule.format(k=k).replace("key", "path"),
                            "test_size": k, "total_n": len(files), "expected_total_n": FULL_SIZE})


REGISTRY.register(NAME, DatasetSpec(name=NAME, open=open_lsun_bedroom, recipes=tuple(RECIPES), default_recipe="compare_gan",
                                    env_var=ENV_VAR))
