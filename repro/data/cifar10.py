"""``cifar10``: CIFAR-10 from a local copy, binary or python format; 50k train / 10k test, pixels / 255.

Layout (``root`` or ``$REPRO_CIFAR10_ROOT``), either format, found in the root itself or in
its standard subfolder::

    cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin, test_batch.bin   (binary)
    cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch                (python)

Binary records are 3,073 bytes: one label byte, then 1,024 red, 1,024 green and 1,024 blue
bytes of a 32x32 image in row-major order. The python batches are pickles of
``{"data": uint8 (10000, 3072) in the same order, "labels": [int]}``, read with the restricted
unpickler of :mod:`repro.data.safe_pickle`, never ``pickle.load``. Where both formats exist the
binary one is used (it involves no pickle). Recipe ``div255`` (the only one): ``float32(x) / 255``
as compare_gan. A truncated or corrupt file is a ``ValueError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.data import fingerprint as _fp
from repro.data.catalog import REGISTRY, DatasetSpec
from repro.data.roots import resolve_root
from repro.data.safe_pickle import load_data_pickle
from repro.data.split import ArraySplit
from repro.errors import InputError

NAME = "cifar10"
ENV_VAR = "REPRO_CIFAR10_ROOT"
RECORD = 3073  # 1 label byte + 3 x 32 x 32 pixel bytes
PIXELS = 3072
EXPECTED_N = {"train": 50000, "test": 10000}
FORMATS = {
    "binary": ("cifar-10-batches-bin", {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}),
    "python": ("cifar-10-batches-py", {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}),
}
LAYOUT = ("ROOT/cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin} (binary version) or "
          "ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch} (python version); ROOT may also be that subfolder itself")


def find_format(root: Path) -> tuple[str, Path]:
    """(format, folder) of the CIFAR-10 copy under ``root``; the binary format is preferred."""
    for fmt, (subdir, files) in FORMATS.items():
        for folder in (root / subdir, root):
            if (folder / files["test"][0]).is_file() or (folder / files["train"][0]).is_file():
                return fmt, folder
    raise InputError(f"{NAME}: no CIFAR-10 batches found under {root}. Expected layout: {LAYOUT}")


def read_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels (N,) of one binary batch file."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read CIFAR-10 file {path}: {exc}") from None
    if raw.size == 0 or raw.size % RECORD:
        raise InputError(f"corrupt or truncated CIFAR-10 file {path}: {raw.size} bytes is not a positive multiple "
                         f"of {RECORD} (1 label byte + {PIXELS} pixel bytes per image)")
    records = raw.reshape(-1, RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32), _check_labels(records[:, 0], path)


def read_python(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels (N,) of one python-format batch (restricted unpickler)."""
    obj = load_data_pickle(path)
    if not isinstance(obj, dict):
        raise InputError(f"corrupt CIFAR-10 file {path}: expected a dict, got {type(obj).__name__}")
    entries = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = entries.get("data"), entries.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(f"corrupt CIFAR-10 file {path}: 'data' must be a uint8 array (N, {PIXELS}), got {desc}")
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != data.shape[0]:
        raise InputError(f"corrupt CIFAR-10 file {path}: 'labels' must be a list of {data.shape[0]} ints")
    try:
        label_arr = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise InputError(f"corrupt CIFAR-10 file {path}: 'labels' must be ints") from None
    return data.reshape(-1, 3, 32, 32), _check_labels(label_arr, path)


def _check_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"corrupt CIFAR-10 file {path}: labels outside 0..9 (found {labels.min()}..{labels.max()})")
    return labels


def open_cifar10(split: str, root: str = "", recipe: str = "div255") -> ArraySplit:
    """CIFAR-10 split ``split``: float32 (N, 3, 32, 32) in [0, 1] (``x / 255``), int64 labels 0..9."""
    base = resolve_root(NAME, root, ENV_VAR, LAYOUT)
    fmt, folder = find_format(base)
    paths = [folder / f for f in FORMATS[fmt][1][split]]
    for p in paths:
        if not p.is_file():
            raise InputError(f"{NAME}: missing file {p} ({fmt} format). Expected layout: {LAYOUT}")
    reader = read_binary if fmt == "binary" else read_python
    parts = [reader(p) for p in paths]
    images = np.concatenate([im for im, _ in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([lab for _, lab in parts])
    n = images.shape[0]
    return ArraySplit(NAME, split, recipe, images, labels=labels, scale=255.0,
                      source_key={"files": _fp.file_stats(paths)},
                      extra={"root": str(folder), "format": fmt, "expected_n": EXPECTED_N[split],
                             "complete": n == EXPECTED_N[split], "n_classes": 10})


REGISTRY.register(NAME, DatasetSpec(name=NAME, open=open_cifar10, recipes=("div255",), default_recipe="div255",
                                    env_var=ENV_VAR))
