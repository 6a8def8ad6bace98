"""Decoding encoded images (Pillow) and the named recipes that bring them to size.

Every recipe works on the decoded 8-bit RGB image and returns uint8 (S, S, 3); pixels are
then ``float32(x) / 255``. Recipes (``S`` = target side):

* ``exact``: the image must already be S x S; anything else is refused (the error names the
  file and the recipes that would resize it). Nothing is cropped or resized.
* ``center_crop`` (compare_gan's ``tf.image.resize_image_with_crop_or_pad``, crop branch):
  the central S x S window, offsets ``(H - S) // 2`` and ``(W - S) // 2``, no downscaling.
  An image smaller than S on either side is refused (TF would zero-pad; LSUN never needs it).
* ``center_crop_resize``: the central square of side ``min(H, W)`` (same offset rule), then
  Pillow ``Image.resize((S, S), Image.Resampling.BILINEAR)`` in 8 bits. That is the filter
  torchvision's ``Resize`` applies to PIL images (antialiased when downscaling), the common
  recipe of PyTorch GAN code that center-crops then resizes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import PIL
import torch
from PIL import Image

KINDS = ("exact", "center_crop", "center_crop_resize")
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".gif")
DECODER = f"Pillow {PIL.__version__}"


@dataclass(frozen=True)
class Recipe:
    """``kind`` (one of :data:`KINDS`) to a square of side ``size`` pixels."""

    kind: str
    size: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"invalid recipe kind {self.kind!r}; valid kinds: {', '.join(KINDS)}")
        if self.size < 1:
            raise ValueError(f"invalid recipe size {self.size}: must be >= 1")

    def apply(self, img: Image.Image, name: str) -> np.ndarray:
        """uint8 (size, size, 3) from the RGB image ``img``; ``name`` (file or key) goes in errors."""
        w, h = img.size
        s = self.size
        if self.kind == "exact":
            if (w, h) != (s, s):
                raise ValueError(f"image {name} is {w}x{h}, recipe 'exact' needs {s}x{s}; it is refused, not "
                                 "cropped: choose a recipe that resizes (e.g. center_crop_resize) to convert it")
        elif self.kind == "center_crop":
            if w < s or h < s:
                raise ValueError(f"image {name} is {w}x{h}, smaller than the {s}x{s} central crop of recipe "
                                 "'center_crop' (no upscaling or padding is done)")
            left, top = (w - s) // 2, (h - s) // 2
            img = img.crop((left, top, left + s, top + s))
        else:
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != s:
                img = img.resize((s, s), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
        if arr.shape != (s, s, 3):  # pragma: no cover - guarded above
            raise RuntimeError(f"recipe {self.kind} produced {arr.shape} for {name}")
        return arr


def decode(data: bytes | str, name: str) -> Image.Image:
    """Decode an encoded image (bytes, or a file path) to 8-bit RGB; corrupt or truncated -> ``ValueError`` naming it."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"image not found: {name}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"corrupt or truncated image {name}: {type(exc).__name__}: {exc}") from None


def image_size(path: str, name: str) -> tuple[int, int]:
    """(width, height) from the header only."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"corrupt or unreadable image {name}: {type(exc).__name__}: {exc}") from None


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) arrays -> float32 (B, 3, H, W) in [0, 1] (``x / 255``)."""
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return stacked.to(torch.float32) / 255.0
