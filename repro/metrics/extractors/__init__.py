"""Feature extractors in a registry: ``get(name, **options) -> Extractor``.

- ``digits-cnn``: a small classifier trained deterministically on the digits train split
  (64-d penultimate features, 10 logits); trained and cached on first use.
- ``inception-v3-fid``: the FID Inception-v3 (TF 2015-12-05 graph; 2048-d pool3, 1008 logits)
  from a local weights file.
"""

from __future__ import annotations

from typing import Any, Callable

from repro.metrics.extractors.base import Extractor
from repro.metrics.extractors.digits_cnn import load_digits_cnn
from repro.metrics.extractors.inception_v3 import load_inception_fid
from repro.registry import Registry

REGISTRY: Registry[Callable[..., Extractor]] = Registry("extractor")


def _digits_cnn(**options: Any) -> Extractor:
    return load_digits_cnn(**options)


def _inception(**options: Any) -> Extractor:
    return load_inception_fid(**options)


REGISTRY.register("digits-cnn", _digits_cnn)
REGISTRY.register("inception-v3-fid", _inception)


def get(name: str, **options: Any) -> Extractor:
    """Build the extractor ``name`` (a ``ValueError`` lists the valid names for an unknown one)."""
    return REGISTRY.get(name)(**options)


__all__ = ["REGISTRY", "Extractor", "get"]
