"""The one interface of a feature extractor: images in [0, 1] -> (features, logits) in float64."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch
from torch import nn

from repro.errors import InputError


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Extractor:
    """A frozen network in eval mode that maps images to (features, logits).

    Attributes:
        name: registry name; dim: feature dimension; num_classes: logit dimension;
        weights_sha256: sha256 hex of the weights file (identifies the network exactly);
        input_shape: (C, H, W) the network accepts, or None when any size is resized.
    """

    name: str = ""
    dim: int = 0
    num_classes: int = 0
    weights_sha256: str = ""
    input_shape: tuple[int, int, int] | None = None

    def __init__(self, net: nn.Module, batch_size: int = 64, device: str | torch.device = "cpu"):
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.batch_size = int(batch_size)

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
            raise InputError(f"images must be a (N, C, H, W) tensor, got {shape}")
        if images.shape[0] < 1:
            raise InputError("images is empty (N = 0)")
        if not torch.is_floating_point(images):
            raise InputError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
        if not torch.isfinite(images).all():
            raise InputError("images contain non-finite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < -1e-6 or hi > 1 + 1e-6:  # float32 sigmoid / division rounding only
            raise InputError(f"images must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
        self.check_shape(images)
        return images

    def check_shape(self, images: torch.Tensor) -> None:
        """Refuse image shapes the network cannot take (default: exactly ``input_shape``)."""
        if self.input_shape is not None and tuple(images.shape[1:]) != self.input_shape:
            raise InputError(f"{self.name} expects images of shape (N, {', '.join(map(str, self.input_shape))}), "
                             f"got {tuple(images.shape)}")

    def forward_batch(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) in [0, 1] on self.device -> (features (B, dim), logits (B, num_classes))."""
        raise NotImplementedError

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W) float in [0, 1] -> (features (N, dim), logits (N, num_classes)), float64."""
        images = self.check_images(images)
        self.net.eval()
        feats, logits = [], []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size].to(self.device, torch.float32)
            f, lg = self.forward_batch(batch)
            feats.append(f.double().cpu().numpy())
            logits.append(lg.double().cpu().numpy())
        return np.concatenate(feats), np.concatenate(logits)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "dim": self.dim, "num_classes": self.num_classes,
                "weights_sha256": self.weights_sha256,
                "input_shape": list(self.input_shape) if self.input_shape else None}
