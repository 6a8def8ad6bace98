"""``digits-cnn``: a small classifier trained deterministically on the digits train split.

Network (input 1x16x16 in [0, 1]):
    conv3x3(1->32) ReLU maxpool2 -> conv3x3(32->64) ReLU maxpool2 -> flatten(64*4*4)
    -> Linear(1024->64) ReLU  [= the 64-d features] -> Linear(64->10)  [= the logits]
64 features keep the covariance well determined from the 355 test images (FID's bias grows
with d / N); they are taken after the ReLU, like Inception's pool3.

Training is a pure function of the recipe below and the train split: parameters initialised
from an explicit ``torch.Generator``, batches shuffled by an explicit NumPy generator, one CPU
thread, ``torch.use_deterministic_algorithms(True)``; the previous global settings (threads,
deterministic flag, global RNG) are restored afterwards. The weights are cached under
``cache_dir()/extractors/digits-cnn-<key>.pt`` where key hashes the recipe and the train split's
fingerprint; the file is written atomically from an in-memory ``torch.save`` (the bytes do not
depend on the file name), and its sha256 identifies the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repro.data import load
from repro.errors import InputError
from repro.io import torch_load, write_bytes, write_json
from repro.metrics.extractors.base import Extractor, sha256_file
from repro.paths import cache_dir

log = logging.getLogger(__name__)

FEATURE_DIM = 64
NUM_CLASSES = 10
INPUT_SHAPE = (1, 16, 16)
MIN_TEST_ACCURACY = 0.95

# Everything that determines the trained weights (besides the data and the torch build).
RECIPE: dict[str, Any] = {
    "version": 1, "arch": "conv32-conv64-fc64-fc10", "seed": 0, "epochs": 10, "batch_size": 32,
    "optimizer": "adam", "lr": 2e-3, "weight_decay": 0.0, "threads": 1, "dataset": "digits", "split": "train",
}


class DigitsNet(nn.Module):
    """(N, 1, 16, 16) -> (features (N, 64), logits (N, 10))."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """He-uniform weights and zero biases, drawn from ``generator`` only."""
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
                nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        feats = F.relu(self.fc1(torch.flatten(x, 1)))
        return feats, self.fc2(feats)


def _new_net(generator: torch.Generator) -> DigitsNet:
    with torch.random.fork_rng(devices=[]):  # module construction draws default inits: keep them off the global RNG
        net = DigitsNet()
    net.reset_parameters(generator)
    return net


@contextlib.contextmanager
def _deterministic_cpu(threads: int) -> Iterator[None]:
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


def accuracy(net: DigitsNet, images: torch.Tensor, labels: np.ndarray) -> float:
    with torch.no_grad():
        net.eval()
        pred = torch.cat([net(images[i:i + 256])[1].argmax(1) for i in range(0, len(images), 256)])
    return float((pred.numpy() == labels).mean())


def train_digits_cnn(recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train on the digits train split -> {"state_dict", "recipe", "train_fingerprint",
    "test_fingerprint", "test_accuracy", "train_seconds"}. Bitwise repeatable on one machine."""
    recipe = dict(RECIPE if recipe is None else recipe)
    train, test = load(recipe["dataset"], "train"), load(recipe["dataset"], "test")
    if tuple(train.shape) != INPUT_SHAPE or train.labels is None:
        raise InputError(f"digits-cnn needs labelled {INPUT_SHAPE} images, the train split has {train.shape}")
    x_train = train.batch(np.arange(len(train)))
    y_train = torch.from_numpy(np.asarray(train.labels, dtype=np.int64))
    start = time.perf_counter()
    with _deterministic_cpu(recipe["threads"]):
        gen = torch.Generator().manual_seed(recipe["seed"])
        rng = np.random.Generator(np.random.PCG64(recipe["seed"]))
        net = _new_net(gen)
        opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
        bs = recipe["batch_size"]
        for _ in range(recipe["epochs"]):
            net.train()
            order = rng.permutation(len(x_train))
            for i in range(0, len(order) - bs + 1, bs):  # drop_last: every step sees a full batch
                idx = torch.from_numpy(order[i:i + bs])
                loss = F.cross_entropy(net(x_train[idx])[1], y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        acc = accuracy(net, test.batch(np.arange(len(test))), np.asarray(test.labels))
    return {"state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}, "recipe": recipe,
            "train_fingerprint": train.fingerprint(), "test_fingerprint": test.fingerprint(),
            "test_accuracy": acc, "train_seconds": time.perf_counter() - start}


def recipe_key(recipe: dict[str, Any], train_fingerprint: str) -> str:
    """Content address of a trained network: sha256 of the recipe and the train split's fingerprint."""
    text = json.dumps({"recipe": recipe, "train_fingerprint": train_fingerprint}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_path(recipe: dict[str, Any] | None = None) -> Path:
    recipe = dict(RECIPE if recipe is None else recipe)
    key = recipe_key(recipe, load(recipe["dataset"], "train").fingerprint())
    return cache_dir() / "extractors" / f"digits-cnn-{key}.pt"


def save_trained(result: dict[str, Any], path: str | Path) -> str:
    """Write the weights file atomically (plus ``<path>.json`` with its sha256) -> sha256 hex."""
    buf = io.BytesIO()
    torch.save({k: result[k] for k in ("state_dict", "recipe", "train_fingerprint", "test_fingerprint",
                                       "test_accuracy")}, buf)
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    write_bytes(path, data)
    write_json(Path(str(path) + ".json"), {"name": "digits-cnn", "sha256": sha, "test_accuracy": result["test_accuracy"],
                                           "recipe": result["recipe"], "train_fingerprint": result["train_fingerprint"],
                                           "train_seconds": round(result["train_seconds"], 3)})
    return sha


def train_and_save(out: str | Path | None = None) -> tuple[Path, str, float]:
    """Train with :data:`RECIPE`, save to ``out`` (default: the content-addressed cache path).

    Returns (path, sha256, test accuracy). Refuses to save a network under the 95% floor.
    """
    result = train_digits_cnn()
    if result["test_accuracy"] < MIN_TEST_ACCURACY:
        raise InputError(f"digits-cnn reached only {result['test_accuracy']:.4f} test accuracy "
                         f"(< {MIN_TEST_ACCURACY}); not saved")
    key = recipe_key(result["recipe"], result["train_fingerprint"])
    path = Path(out) if out else cache_dir() / "extractors" / f"digits-cnn-{key}.pt"
    return path, save_trained(result, path), result["test_accuracy"]


class DigitsCNN(Extractor):
    name = "digits-cnn"
    dim = FEATURE_DIM
    num_classes = NUM_CLASSES
    input_shape = INPUT_SHAPE

    def __init__(self, net: DigitsNet, weights_sha256: str, test_accuracy: float, **kwargs):
        super().__init__(net, **kwargs)
        self.weights_sha256 = weights_sha256
        self.test_accuracy = test_accuracy

    def check_shape(self, images: torch.Tensor) -> None:
        c, h, w = images.shape[1:]
        if c != 1 or h != w or h % INPUT_SHAPE[1]:
            raise InputError(f"digits-cnn expects (N, 1, S, S) images with S a multiple of {INPUT_SHAPE[1]} "
                             f"(16, 32, ...), got {tuple(images.shape)}")

    def forward_batch(self, images: torch.Tensor):
        k = images.shape[-1] // INPUT_SHAPE[1]
        if k > 1:  # 32x32 digits (recipe bilinear32): area-average to the network's 16x16, real and fake alike
            images = F.avg_pool2d(images, k)
        return self.net(images)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "test_accuracy": self.test_accuracy}


def load_digits_cnn(weights: str | Path | None = None, *, batch_size: int = 256, device: str = "cpu") -> DigitsCNN:
    """Load from ``weights`` or the cache; train (and cache) first when the cache lacks it."""
    if weights is None:
        path = default_path()
        if not path.is_file():
            log.info(f"training the digits-cnn extractor (cached at {path})")
            path, _, acc = train_and_save(path)
            log.info(f"digits-cnn test accuracy {acc:.4f}")
    else:
        path = Path(weights)
    blob = torch_load(path, what="digits-cnn weights")
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise InputError(f"{path} is not a digits-cnn weights file (no state_dict)")
    net = DigitsNet()
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"{path}: digits-cnn state dict does not match the network: {exc}") from None
    return DigitsCNN(net, sha256_file(path), float(blob.get("test_accuracy", float("nan"))),
                     batch_size=batch_size, device=device)
