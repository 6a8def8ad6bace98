"""``inception-v3-fid``: the TTUR FID Inception-v3 from a local weights file (nothing is downloaded).

Preprocessing follows the FID graph: images in [0, 1] are taken to pixel values (x 255), a
grayscale image is repeated to 3 channels, resized to 299x299 with TensorFlow 1.x bilinear
resampling (``ResizeBilinear``, align_corners=False, no half-pixel centres: source coordinate =
destination index x in/out, which differs from ``F.interpolate``), then scaled as
(pixel - 128) / 128. The extractor does not quantise: the evaluation protocol rounds both image
sets to 8-bit levels before they get here (``repro.metrics.protocols``).

Logits: by default the *unbiased* logits pool3 @ W^T, as the original Inception Score code
(openai/improved-gan) computes them from the graph's softmax weights; ``logits="biased"`` adds
the fc bias.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

from repro.errors import InputError
from repro.io import torch_load
from repro.metrics.extractors.base import Extractor, sha256_file
from repro.metrics.extractors.inception_net import FEATURE_DIM, NUM_CLASSES, FIDInceptionV3
from repro.registry import check_choice

log = logging.getLogger(__name__)

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV = "REPRO_INCEPTION_WEIGHTS"
# torch.hub names checkpoints <name>-<first 8+ hex digits of the file's sha256>.<ext>; this prefix
# comes from the published file name. The full sha256 could not be verified here (no network,
# no copy of the file), so only the prefix is checked, and a mismatch is a warning.
WEIGHTS_SHA256_PREFIX = "6726825d"
WEIGHTS_SHA256 = None  # unknown / unverified: see above
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
WEIGHTS_ORIGIN = f"the pytorch-fid release 'fid_weights' ({WEIGHTS_URL}), a port of the TF graph inception-2015-12-05"
RESOLUTION = 299
LOGIT_MODES = ("unbiased", "biased")


def _hub_checkpoint() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_weights(weights: str | os.PathLike | None = None) -> Path:
    """The weights path: the ``weights`` option, else $REPRO_INCEPTION_WEIGHTS, else the torch hub cache."""
    candidates = []
    if weights:
        candidates.append(("weights option", Path(weights)))
    elif os.environ.get(WEIGHTS_ENV):
        candidates.append((f"${WEIGHTS_ENV}", Path(os.environ[WEIGHTS_ENV])))
    else:
        candidates.append(("torch hub cache", _hub_checkpoint()))
    source, path = candidates[0]
    if not path.is_file():
        raise InputError(
            f"inception-v3-fid weights not found at {path} (from the {source}). Expected file "
            f"{WEIGHTS_FILE} (sha256 starts with {WEIGHTS_SHA256_PREFIX}; the full sha256 is unverified "
            f"here), from {WEIGHTS_ORIGIN}. Nothing is downloaded: put it at {_hub_checkpoint()}, "
            f"or set {WEIGHTS_ENV}=/path/to/{WEIGHTS_FILE}, or pass weights=PATH.")
    return path


def expected_state_shapes() -> dict[str, tuple[int, ...]]:
    """Parameter and buffer names -> shapes of the FID network (``num_batches_tracked`` excluded)."""
    net = FIDInceptionV3()
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def load_state(net: FIDInceptionV3, state: dict) -> None:
    """Load ``state`` by name; missing, unexpected or mis-shaped entries are a ``ValueError``."""
    if not isinstance(state, dict):
        raise InputError(f"inception weights must be a state dict, got {type(state).__name__}")
    expected = expected_state_shapes()
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.") and not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or bad:
        raise InputError(f"inception state dict does not match the FID Inception-v3: missing {missing[:5]} "
                         f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), "
                         f"wrong shapes {bad[:5]} ({len(bad)})")
    net.load_state_dict(state, strict=False)  # num_batches_tracked is unused in eval mode


def resize_bilinear_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF 1.x ``ResizeBilinear`` (align_corners=False, half_pixel_centers=False) of (N, C, H, W).

    Output pixel i samples the input at i * (in / out): the top-left corners are aligned and the
    last row/column is clamped, unlike ``F.interpolate(align_corners=False)`` (half-pixel centres).
    """

    def axis(t: torch.Tensor, dim: int) -> torch.Tensor:
        n_in = t.shape[dim]
        if n_in == size:
            return t
        scale = torch.tensor(n_in / size, dtype=torch.float32)  # TF computes the scale in float32
        src = torch.arange(size, dtype=torch.float32) * scale
        lo = torch.floor(src).long()
        hi = torch.clamp(lo + 1, max=n_in - 1)
        frac = (src - lo.float()).to(t.dtype)
        shape = [1] * t.ndim
        shape[dim] = size
        a, b = t.index_select(dim, lo.to(t.device)), t.index_select(dim, hi.to(t.device))
        return a + (b - a) * frac.to(t.device).view(shape)

    return axis(axis(x, 2), 3)


class InceptionFID(Extractor):
    name = "inception-v3-fid"
    dim = FEATURE_DIM
    num_classes = NUM_CLASSES
    input_shape = None  # any size and 1 or 3 channels: resized to 3x299x299

    def __init__(self, net: FIDInceptionV3, weights_sha256: str, logits: str = "unbiased", **kwargs):
        super().__init__(net, **kwargs)
        self.weights_sha256 = weights_sha256
        self.logits = check_choice("logits", logits, LOGIT_MODES)

    def check_images(self, images: torch.Tensor) -> torch.Tensor:
        images = super().check_images(images)
        if images.shape[1] not in (1, 3):
            raise InputError(f"inception-v3-fid takes 1 or 3 channels, got {images.shape[1]}")
        return images

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, H, W) in [0, 1] -> (B, 3, 299, 299) scaled as the FID graph's input."""
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        x = resize_bilinear_tf1(x * 255.0, RESOLUTION)
        return (x - 128.0) / 128.0

    def forward_batch(self, images: torch.Tensor):
        feats, logits = self.net(self.preprocess(images))
        if self.logits == "unbiased":
            logits = feats @ self.net.fc.weight.T
        return feats, logits


def load_inception_fid(weights: str | os.PathLike | None = None, *, state_dict: dict | None = None,
                       batch_size: int = 32, device: str = "cpu", logits: str = "unbiased") -> InceptionFID:
    """Build ``inception-v3-fid`` from a local file (or from ``state_dict``, e.g. in tests).

    ``weights_sha256`` is the sha256 of the file; with ``state_dict`` it is "unverified-state-dict".
    """
    net = FIDInceptionV3()
    if state_dict is not None:
        load_state(net, state_dict)
        sha = "unverified-state-dict"
    else:
        path = find_weights(weights)
        sha = sha256_file(path)
        if not sha.startswith(WEIGHTS_SHA256_PREFIX):
            warnings.warn(f"{path}: sha256 {sha[:16]}... does not start with {WEIGHTS_SHA256_PREFIX} "
                          f"(the prefix in the standard name {WEIGHTS_FILE}); scores may not be comparable",
                          stacklevel=2)

        load_state(net, torch_load(path, what="inception-v3-fid weights"))
        log.info(f"inception-v3-fid weights {path} (sha256 {sha[:16]}...)")
    return InceptionFID(net, sha, logits=logits, batch_size=batch_size, device=device)
