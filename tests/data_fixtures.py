"""Small on-disk fixtures for the dataset tests: fake CIFAR-10 (both formats), image folders, a tiny LMDB."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def fake_cifar(n_per_batch: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{file stem: (uint8 images (n, 3072), int labels (n,))} for data_batch_1..5 and test_batch."""
    rng = np.random.default_rng(seed)
    stems = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {s: (rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8),
                rng.integers(0, 10, size=n_per_batch)) for s in stems}


def write_cifar_binary(root: Path, batches) -> Path:
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for stem, (data, labels) in batches.items():
        records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
        (folder / f"{stem}.bin").write_bytes(records.tobytes())
    return folder


def write_cifar_python(root: Path, batches, protocol: int = 2) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for stem, (data, labels) in batches.items():
        payload = {b"batch_label": b"fake", b"labels": [int(v) for v in labels], b"data": data,
                   b"filenames": [f"{i}.png".encode() for i in range(len(labels))]}
        (folder / stem).write_bytes(pickle.dumps(payload, protocol=protocol))
    return folder


def random_rgb(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def encode(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


def write_image_folder(root: Path, names: list[str], h: int, w: int, seed: int = 0) -> dict[str, np.ndarray]:
    """PNG files ``names`` (relative paths) of random h x w RGB pixels; returns {name: pixels}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        arr = random_rgb(rng, h, w)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(arr))
        out[name] = arr
    return out


def write_lmdb(folder: Path, items: dict[bytes, bytes]) -> Path:
    lmdb = pytest.importorskip("lmdb")
    folder.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(folder), map_size=64 << 20)
    with env.begin(write=True) as txn:
        for key, value in items.items():
            txn.put(key, value)
    env.close()
    return folder
