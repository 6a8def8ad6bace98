"""Decoding encoded images (Pillow) and the named recipes that bring them to size.

Every recipe works on the decoded 8-bit RGB image and returns uint8 (S, S, 3); pixels are
then ``float32(x) / 255``. Decoding to 8 bits:

* 8-bit modes (L, P, RGB, RGBA, CMYK, ...) go through Pillow's ``convert("RGB")``.
* 16-bit images keep their high byte (``v >> 8``, libpng's ``png_set_strip_16``): that is what
  Pillow itself does to 16-bit RGB PNGs, and we do the same for 16-bit greyscale, which Pillow's
  ``convert`` would instead clip at 255 (every value above 255 turns white).
* Floating-point and 32-bit integer images (TIFF modes ``F`` and ``I``) are refused: their value
  range is not standardised, so no conversion to 8 bits is right for every file.
* Images larger than Pillow's ``Image.MAX_IMAGE_PIXELS`` (a decompression-bomb guard, about
  89 Mpx) are refused before their pixels are decoded.

Recipes (``S`` = target side):

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

from repro.errors import InputError

KINDS = ("exact", "center_crop", "center_crop_resize")
EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".gif")
# the decoding rules are part of what a cached dataset fingerprint depends on
DECODER = f"Pillow {PIL.__version__}; 16-bit: high byte; float and 32-bit int: refused"
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class _Refused(InputError):
    """An image we refuse on purpose (not one Pillow failed to read)."""


@dataclass(frozen=True)
class Recipe:
    """``kind`` (one of :data:`KINDS`) to a square of side ``size`` pixels."""

    kind: str
    size: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"invalid recipe kind {self.kind!r}; valid kinds: {', '.join(KINDS)}")
        if self.size < 1:
            raise InputError(f"invalid recipe size {self.size}: must be >= 1")

    def apply(self, img: Image.Image, name: str) -> np.ndarray:
        """uint8 (size, size, 3) from the RGB image ``img``; ``name`` (file or key) goes in errors."""
        w, h = img.size
        s = self.size
        if self.kind == "exact":
            if (w, h) != (s, s):
                raise InputError(f"image {name} is {w}x{h}, recipe 'exact' needs {s}x{s}; it is refused, not "
                                 "cropped: choose a recipe that resizes (e.g. center_crop_resize) to convert it")
        elif self.kind == "center_crop":
            if w < s or h < s:
                raise InputError(f"image {name} is {w}x{h}, smaller than the {s}x{s} central crop of recipe "
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
    """Decode an encoded image (bytes, or a file path) to 8-bit RGB (rules in the module docstring).

    A corrupt or truncated file, a decompression bomb or a mode with no right 8-bit conversion is a
    ``ValueError`` naming ``name``.
    """
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            _check_pixels(img, name)
            img.load()
            return _to_rgb(img, name)
    except _Refused:
        raise
    except FileNotFoundError:
        raise InputError(f"image not found: {name}") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"image {name} refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise InputError(f"corrupt or truncated image {name}: {type(exc).__name__}: {exc}") from None


def _check_pixels(img: Image.Image, name: str) -> None:
    """Refuse, from the header, an image above Pillow's bomb limit (Pillow itself only warns
    between 1x and 2x the limit, and would decode it)."""
    w, h = img.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and w * h > limit:
        raise _Refused(f"image {name} is {w}x{h} = {w * h} pixels, above the decompression-bomb limit of "
                         f"{limit} pixels (PIL.Image.MAX_IMAGE_PIXELS); refused")


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    if img.mode in _SIXTEEN_BIT or (img.mode == "I" and img.format == "PNG"):  # older Pillow: 16-bit PNG as I
        high = (np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(high, mode="L").convert("RGB")
    if img.mode in ("F", "I") or img.mode.startswith(("F;", "I;")):
        raise _Refused(f"image {name} has mode {img.mode!r} ({'floating-point' if img.mode.startswith('F') else '32-bit integer'} "
                         "pixels), whose value range is not standardised; refused rather than clipped: convert it "
                         "to 8 or 16 bits per channel first")
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise _Refused(f"image {name} has mode {img.mode!r}, which cannot be converted to RGB: {exc}") from None


def image_size(path: str, name: str) -> tuple[int, int]:
    """(width, height) from the header only (a decompression bomb is refused here already)."""
    try:
        with Image.open(path) as img:
            _check_pixels(img, name)
            return img.size
    except _Refused:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"image {name} refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"corrupt or unreadable image {name}: {type(exc).__name__}: {exc}") from None


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) arrays -> float32 (B, 3, H, W) in [0, 1] (``x / 255``)."""
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return stacked.to(torch.float32) / 255.0
