"""Real-data statistics under an extractor, in a content-addressed cache.

The key hashes everything the statistics depend on: extractor name and weights sha256, dataset
name, split, preprocessing recipe, the split's fingerprint (sha256 over the decoded images) and
the image quantisation of the protocol ("uint8" or "none", see ``repro.metrics.protocols``).
A changed network, dataset, recipe or encoding therefore never reuses stale statistics.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from repro.data import load
from repro.io import atomic_path
from repro.metrics.extractors.base import Extractor
from repro.metrics.protocols import QUANTIZE_MODES, quantize_uint8
from repro.metrics.stats import StreamingStats
from repro.paths import cache_dir
from repro.registry import check_choice

STATS_VERSION = 2  # 2: the key records the quantisation


def stats_key(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:20]


def _encode(batch, quantize: str):
    check_choice("quantize", quantize, QUANTIZE_MODES)
    return quantize_uint8(batch) if quantize == "uint8" else batch


def split_stats(extractor: Extractor, split, batch_size: int = 256, quantize: str = "uint8") -> StreamingStats:
    """Stream ``split`` (an ImageSplit) through ``extractor`` -> StreamingStats of its features."""
    stats = StreamingStats(extractor.dim)
    for batch in split.iter_batches(batch_size):
        stats.update(extractor.extract(_encode(batch, quantize))[0])
    return stats


def _meta_and_path(extractor: Extractor, dataset: str, split: str, root: str, recipe: str, suffix: str,
                   quantize: str):
    check_choice("quantize", quantize, QUANTIZE_MODES)
    data = load(dataset, split, root=root, recipe=recipe)
    meta = {"version": STATS_VERSION, "extractor": extractor.name, "extractor_sha256": extractor.weights_sha256,
            "dataset": dataset, "split": split, "recipe": data.recipe, "dataset_fingerprint": data.fingerprint(),
            "n": len(data), "quantize": quantize}
    path = cache_dir() / "stats" / f"{dataset}-{split}-{extractor.name}-{stats_key(meta)}{suffix}"
    return data, meta, path


def real_features(extractor: Extractor, dataset: str, split: str = "test", *, root: str = "", recipe: str = "",
                  use_cache: bool = True, batch_size: int = 256,
                  quantize: str = "uint8") -> tuple[np.ndarray, dict[str, Any]]:
    """All features (N, dim) float64 of ``dataset``/``split`` (KID and the bootstrap need them).

    ``quantize``: "uint8" rounds the images to 8-bit levels first (the protocols' encoding), "none"
    uses them as decoded. Cached beside the statistics as ``...-features.npy`` under the same key.
    """
    data, meta, path = _meta_and_path(extractor, dataset, split, root, recipe, "-features.npy", quantize)
    if use_cache and path.is_file():
        feats = np.load(path, allow_pickle=False)
        if feats.shape == (len(data), extractor.dim):
            return feats, meta
    feats = np.concatenate([extractor.extract(_encode(b, quantize))[0] for b in data.iter_batches(batch_size)])
    if use_cache:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats, allow_pickle=False)
    return feats, meta


def real_stats(extractor: Extractor, dataset: str, split: str = "test", *, root: str = "", recipe: str = "",
               use_cache: bool = True, batch_size: int = 256,
               quantize: str = "uint8") -> tuple[StreamingStats, dict[str, Any]]:
    """Statistics of ``dataset``/``split`` under ``extractor`` -> (stats, metadata); ``quantize`` as
    in :func:`real_features`.

    Loaded from ``cache_dir()/stats/<dataset>-<split>-<extractor>-<key>.npz`` when present,
    otherwise computed and saved there (atomically) with the metadata recorded in the file.
    """
    data, meta, path = _meta_and_path(extractor, dataset, split, root, recipe, ".npz", quantize)
    if use_cache and path.is_file():
        stats, saved = StreamingStats.load(path)
        if all(saved.get(k) == v for k, v in meta.items()) and stats.count == len(data):
            return stats, saved
    features_file = path.with_name(path.stem + "-features.npy")
    if use_cache and features_file.is_file():  # features extracted for KID: no second pass
        feats = np.load(features_file, allow_pickle=False)
        stats = StreamingStats(extractor.dim)
        for start in range(0, len(feats), batch_size):
            stats.update(feats[start:start + batch_size])
    else:
        stats = split_stats(extractor, data, batch_size, quantize)
    if use_cache:
        stats.save(path, meta)
    return stats, {**meta, "path": str(Path(path))}
