"""Content fingerprints of decoded splits, cached so that large datasets are hashed once.

fingerprint = sha256( b"repro-data-v1\\n" + b"N,C,H,W\\n" + float32 little-endian bytes of every
image in index order ). It depends on the decoded pixels only, so two roots with the same
content (or two recipes that give the same pixels) share it: an audit can tell "same data"
from "same path". The value range (min, max) is computed in the same pass.

The cache (``repro.paths.cache_dir() / "data_fingerprints"``) is keyed by a hash of what
determines the content: dataset, split, recipe, shape, count and the source files' paths,
sizes and mtimes. Entries are written atomically (``repro.io.write_json``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from repro.io import write_json
from repro.paths import cache_dir

FORMAT = "repro-data-v1"
CACHE_SUBDIR = "data_fingerprints"


def hash_batches(shape: tuple[int, int, int], n: int, batches: Iterable[torch.Tensor]) -> dict[str, Any]:
    """Fingerprint and value range of ``n`` images of ``shape`` given as float32 (B, C, H, W) batches."""
    h = hashlib.sha256()
    h.update(f"{FORMAT}\n{n},{shape[0]},{shape[1]},{shape[2]}\n".encode())
    lo, hi, seen = float("inf"), float("-inf"), 0
    for batch in batches:
        arr = batch.detach().cpu().contiguous().numpy().astype("<f4", copy=False)
        h.update(arr.tobytes())
        if arr.size:
            lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
        seen += arr.shape[0]
    if seen != n:
        raise RuntimeError(f"fingerprint: expected {n} images, got {seen}")
    return {"fingerprint": h.hexdigest(), "min": lo if seen else None, "max": hi if seen else None}


def file_stats(paths: Iterable[str | os.PathLike]) -> list[list[Any]]:
    """[[path, size, mtime_ns], ...] for the cache key (a changed file changes the key)."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def cache_key(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps({"format": FORMAT, **key}, sort_keys=True, default=str).encode()).hexdigest()


def cached_stats(key: dict[str, Any] | None, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()`` once per ``key`` (stored under the cache dir); ``key=None`` computes without caching."""
    if key is None:
        return compute()
    key = json.loads(json.dumps(key, sort_keys=True, default=str))  # paths -> str, so the entry is plain JSON
    path = Path(cache_dir()) / CACHE_SUBDIR / f"{cache_key(key)}.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and isinstance(stored.get("fingerprint"), str) and len(stored["fingerprint"]) == 64:
            return {"fingerprint": stored["fingerprint"], "min": stored.get("min"), "max": stored.get("max")}
    except (OSError, ValueError):  # missing or corrupt cache entry: recompute and overwrite
        pass
    stats = compute()
    write_json(path, {**stats, "key": key})
    return stats
