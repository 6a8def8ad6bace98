"""Named evaluation protocols: a FID is comparable with another only under the same protocol.

As stylegan2-ada names its metrics after what they fix (``fid50k_full``: 50k generated images
against the full dataset), a protocol here fixes the feature extractor (and so its resize), the
image encoding both image sets go through, the real reference split and the number of generated
samples. ``metrics.json`` records the protocol's name, or ``custom`` (with ``protocol_base``) when
an option departed from it.

Quantisation: real images come from 8-bit files; generated images are continuous. TTUR's
``fid.py`` reads both sets from PNG files, torch-fidelity's Inception takes only uint8 input, and
stylegan2-ada converts generated images with ``(x * 127.5 + 128).clamp(0, 255).to(torch.uint8)``
(metrics/metric_utils.py, line 244: round half up). A protocol with ``quantize="uint8"`` rounds
*both* sets to the nearest of the 256 levels k / 255 before extraction, as writing them to PNG
would: a no-op for real images decoded from 8-bit files (tests/test_protocols.py), and for the
digits data (sklearn's 0..16 pixels resized, not 8-bit) the same rounding on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from repro.errors import InputError
from repro.registry import Registry

if TYPE_CHECKING:  # torch is imported where it is used: the CLI builds its parser without it
    import torch

QUANTIZE_MODES = ("uint8", "none")
# Evaluation defaults shared by the Python API and the CLI (repro.metrics.evaluate explains them).
DEFAULT_EVAL_SEEDS = 10  # evaluation-noise std known to about +-24% (1 / sqrt(2 (k - 1)))
N_BOOT = 200  # bootstrap replicates: the 2.5% and 97.5% quantiles rest on 5 replicates each


@dataclass(frozen=True)
class Protocol:
    """What a FID under this name fixes.

    name: registry name (recorded in metrics.json as ``protocol``).
    extractor: feature extractor (``repro.metrics.extractors`` name); the weights file's sha256 is
        recorded beside it.
    resize: how images reach the extractor's input size (documentation: the extractor does it).
    quantize: "uint8" (both image sets rounded to 8-bit levels) or "none".
    split: the real reference split.
    num_samples: generated samples; None = as many as the split has images (all of them are used).
    comparable_with: the published numbers computed the same way (docs/metrics.md, "Protocols").
    """

    name: str
    extractor: str
    resize: str
    quantize: str
    split: str
    num_samples: int | None
    comparable_with: str


PROTOCOLS: Registry[Protocol] = Registry("protocol")


def _register(p: Protocol) -> None:
    if p.quantize not in QUANTIZE_MODES:
        raise InputError(f"protocol {p.name}: quantize must be one of {QUANTIZE_MODES}, got {p.quantize!r}")
    PROTOCOLS.register(p.name, p)


_register(Protocol(
    name="fid_ttur_test",
    extractor="inception-v3-fid",
    resize="TF1 ResizeBilinear to 299x299 (align_corners=False, no half-pixel centres), as the TTUR graph",
    quantize="uint8",
    split="test",
    num_samples=None,
    comparable_with="TTUR fid.py, torch-fidelity and clean-fid mode='legacy_tensorflow' on the same real split "
                    "and sample count (Kurach et al. / compare_gan: test split, as many samples as test images)",
))
_register(Protocol(
    name="fid_digits_cnn_test",
    extractor="digits-cnn",
    resize="none: 16x16 input (32x32 area-averaged to 16x16)",
    quantize="uint8",
    split="test",
    num_samples=None,
    comparable_with="only repro numbers with the same digits-cnn weights (sha256 in metrics.json): "
                    "no published number uses this extractor",
))

# clean-fid's `clean` mode (PIL bicubic resize of float images, its own TorchScript Inception) is
# not offered: neither the resize nor the network file are implemented or tested here.


def get_protocol(name: str) -> Protocol:
    """The protocol ``name`` (a ``ValueError`` lists the valid names for an unknown one)."""
    return PROTOCOLS.get(name)


def protocol_for(dataset: str, extractor: str = "auto") -> str:
    """The default protocol's name: by extractor when one is named, else by dataset (digits ->
    the digits-cnn protocol, anything else -> the TTUR Inception protocol)."""
    if extractor == "auto":
        return "fid_digits_cnn_test" if dataset == "digits" else "fid_ttur_test"
    for name in PROTOCOLS:
        if PROTOCOLS.get(name).extractor == extractor:
            return name
    raise InputError(f"no protocol uses extractor {extractor!r}; protocols and their extractors: "
                     + ", ".join(f"{n} ({PROTOCOLS.get(n).extractor})" for n in PROTOCOLS))


def quantize_uint8(images: "torch.Tensor") -> "torch.Tensor":
    """Round images in [0, 1] to the nearest 8-bit level: floor(255 x + 0.5) / 255, float32.

    (N, C, H, W) float in [0, 1] -> same shape, float32, values in {0, 1/255, ..., 1}. Round half up
    as stylegan2-ada's conversion; idempotent; the identity on images decoded as uint8 / 255.
    """
    import torch

    if not torch.is_floating_point(images):
        raise InputError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
    levels = torch.floor(images.to(torch.float32) * 255.0 + 0.5).clamp_(0.0, 255.0)
    return levels / 255.0
