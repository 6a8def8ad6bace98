"""Datasets with the study's exact preprocessing (docs/datasets.md).

``load(name, split, root=, recipe=)`` returns an :class:`ImageSplit` whose ``batch()`` gives
float32 (B, C, H, W) tensors in [0, 1]. Registered datasets: ``digits`` (embedded default,
16x16x1), ``cifar10``, ``celeba_hq_128``, ``lsun_bedroom`` and ``folder``. Real datasets are
read from a local root (the ``root`` argument or the dataset's environment variable); nothing
is downloaded. :class:`EpochSampler` draws shuffled, resumable batches of indices.
"""

from repro.data.catalog import REGISTRY, SPLITS, DatasetSpec, load
from repro.data.sampler import EpochSampler
from repro.data.split import ArraySplit, ImageSplit

# Importing a dataset module registers it; the order is the order the CLI lists them.
# celeba registers celeba_hq_128, lsun registers lsun_bedroom
from repro.data import digits, cifar10, celeba, lsun, folder  # noqa: E402,F401  isort: skip

__all__ = ["REGISTRY", "SPLITS", "DatasetSpec", "load", "EpochSampler", "ImageSplit", "ArraySplit"]
