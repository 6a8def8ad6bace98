"""Building blocks of the study's generators and discriminators (the ResNet blocks: ``resblocks``).

Every block that forms a row of a layer table (``repro arch``) says what it is through
``table_label() -> (layer, kernel, resample)``; the output shape of the row comes from a dry
forward pass (``repro.arch.layer_table``). Every row also says what it is made of through
``structure() -> dict``, computed from its submodules, which ``repro.arch.archdiff`` compares with
other variants and with the reference transcriptions in ``repro/arch/references/``.

Image tensors are NCHW throughout; kernels are written ``[kh, kw, stride]`` as in the seed's table.
Padding follows TensorFlow's 'SAME' rule, as compare_gan's ``conv2d``/``deconv2d`` do
(arch_ops.py:559-592): a stride-2 5x5 conv pads 1 before and 2 after, which PyTorch's symmetric
``padding`` cannot say, so :func:`same_conv` and :func:`same_deconv` add the asymmetric part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.errors import InputError
from repro.gan import normalization


# --------------------------------------------------------------------------- TF 'SAME' padding
def same_padding(kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) TensorFlow 'SAME' padding of a conv on a map whose size the stride divides."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


class PadThen(nn.Module):
    """``inner(F.pad(x, pads))``: a conv with asymmetric 'SAME' padding. ``pads`` = (left, right, top, bottom)."""

    def __init__(self, pads: tuple[int, int, int, int], inner: nn.Module):
        super().__init__()
        self.pads, self.inner = tuple(pads), inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(F.pad(x, self.pads))


class CropThen(nn.Module):
    """``deconv(x)`` without its last ``crop`` rows and columns: a transposed conv with 'SAME' output."""

    def __init__(self, deconv: nn.ConvTranspose2d, crop: int):
        super().__init__()
        self.deconv, self.crop = deconv, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.deconv(x)
        return y[:, :, :y.shape[2] - self.crop, :y.shape[3] - self.crop]


def same_conv(make_conv, kernel: int, stride: int) -> nn.Module:
    """A conv with TF 'SAME' padding; ``make_conv(padding)`` builds the (possibly spectrally normed) conv."""
    before, after = same_padding(kernel, stride)
    if before == after:
        return make_conv(before)
    return PadThen((before, after, before, after), make_conv(0))


def same_deconv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Module:
    """A transposed conv whose output is ``stride`` times its input, aligned as TF's ``conv2d_transpose``
    with 'SAME' padding (the adjoint of the 'SAME' conv): crop ``before`` at the start, the rest at the end."""
    before, after = same_padding(kernel, stride)
    deconv = nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=before)
    extra = kernel - stride - 2 * before  # torch crops `before` at both ends; TF keeps `after - before` more
    return CropThen(deconv, extra) if extra > 0 else deconv


def _padding(module: nn.Module) -> list[int]:
    """[before, after] of a conv row along H, as the TF 'SAME' forward conv it equals would pad."""
    if isinstance(module, PadThen):
        return [module.pads[2], module.pads[3]]
    conv = _find_conv(module)
    p, k, s = conv.padding[0], conv.kernel_size[0], conv.stride[0]
    if isinstance(conv, nn.ConvTranspose2d):  # the start crop is p; the forward conv pads k - s in all
        return [p, k - s - p]
    return [p, p]


# --------------------------------------------------------------------------- structure helpers
def conv_kind(module: nn.Module) -> str:
    """Structural name of a shortcut or layer: ``identity``, ``conv3x3``, ``avgpool, conv1x1`` ..."""
    if isinstance(module, nn.Identity):
        return "identity"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        kh, kw = module.kernel_size
        return f"conv{kh}x{kw}"
    pooled = getattr(module, "pools_first", False)  # resblocks.PoolThen
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) == 1:  # a wrapper (spectral norm, pool-then-conv) around one conv
        return ("avgpool, " if pooled else "") + conv_kind(convs[0])
    return type(module).__name__


def norm_kind(conv: nn.Module | None, feature_norm: nn.Module | None) -> str:
    """The normalization seen on a layer: spectral (on ``conv``'s weight, inside any wrapper), batch, layer or none."""
    if conv is not None and any(normalization.is_spectral_normed(m) for m in conv.modules()):
        return "spectral"
    if feature_norm is None or isinstance(feature_norm, nn.Identity):
        return "none"
    if isinstance(feature_norm, nn.modules.batchnorm._BatchNorm):
        return "batch"
    return "layer"


def bn_attrs(feature_norm: nn.Module) -> dict:
    """A batch norm's epsilon and TF-style decay (1 - torch momentum); {} for anything else."""
    if not isinstance(feature_norm, nn.modules.batchnorm._BatchNorm):
        return {}
    return {"bn_eps": feature_norm.eps, "bn_decay": 1.0 - feature_norm.momentum}


def _find_conv(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return m
    raise InputError(f"no convolution inside {type(module).__name__}")


def _conv_label(module: nn.Module, extra: list[str]):
    conv = _find_conv(module)
    transposed = isinstance(conv, nn.ConvTranspose2d)
    resample = "-" if conv.stride[0] == 1 else ("U" if transposed else "D")
    name = "Deconv" if transposed else "Conv"
    return (", ".join([name] + extra), (conv.kernel_size[0], conv.kernel_size[1], conv.stride[0]), resample)


def _conv_structure(module: nn.Module) -> dict:
    conv = _find_conv(module)
    transposed = isinstance(conv, nn.ConvTranspose2d)
    c_in, c_out = (conv.in_channels, conv.out_channels)
    return {"layer": "deconv" if transposed else "conv", "kernel": [conv.kernel_size[0], conv.kernel_size[1],
                                                                   conv.stride[0]],
            "in_channels": c_in, "out_channels": c_out, "padding": _padding(module)}


# --------------------------------------------------------------------------- containers
class Generator(nn.Module):
    """A generator: ``forward(z (N, z_dim)) -> images (N, C, R, R)`` in ``output_range``.

    ``layers`` is the sequence of table rows; the first takes ``z``.
    """

    def __init__(self, layers: list[nn.Module], z_dim: int, output_range: tuple[float, float]):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.z_dim = z_dim
        self.output_range = (float(output_range[0]), float(output_range[1]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise InputError(f"generator input z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        return self.layers(z)


class Discriminator(nn.Module):
    """A discriminator: ``forward(x (N, C, R, R)) -> logits (N,)``; x lies in ``input_range``."""

    def __init__(self, layers: list[nn.Module], channels: int, resolution: int, input_range: tuple[float, float]):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.channels = channels
        self.resolution = resolution
        self.input_range = (float(input_range[0]), float(input_range[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.resolution, self.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise InputError(f"discriminator input must have shape (N, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        return self.layers(x).reshape(x.shape[0])

    def structure(self) -> dict:
        return {"part": "input", "input_range": list(self.input_range)}


# --------------------------------------------------------------------------- rows
class LinearStem(nn.Module):
    """z (N, z_dim) -> Linear -> (N, C, S, S), with or without batch norm and ReLU. Table row ``Linear``.

    ``bn_over``: ``None`` (no BN: the ResNets, whose first block starts with BN), ``"channels"``
    (reshape, then BN per channel: compare_gan's DCGAN, dcgan.py:67-70) or ``"features"`` (BN per
    feature of the flat linear output, then reshape: compare_gan's SNDCGAN, sndcgan.py:59-62).
    """

    BN_OVER = ("channels", "features")

    def __init__(self, z_dim: int, channels: int, size: int, bn_eps: float | None = None,
                 bn_over: str | None = None):
        super().__init__()
        if (bn_eps is None) != (bn_over is None) or bn_over not in (None, *self.BN_OVER):
            raise InputError(f"invalid stem batch norm bn_over={bn_over!r}, bn_eps={bn_eps!r}; "
                             f"bn_over is one of {', '.join(self.BN_OVER)} with an eps, or both None")
        self.linear = nn.Linear(z_dim, channels * size * size)
        self.channels, self.size, self.bn_over = channels, size, bn_over
        if bn_over == "channels":
            self.bn = normalization.BatchNorm2d(channels, eps=bn_eps)
        elif bn_over == "features":
            self.bn = normalization.BatchNorm1d(channels * size * size, eps=bn_eps)
        else:
            self.bn = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z)
        if self.bn_over == "features":
            h = F.relu(self.bn(h))
        h = h.reshape(z.shape[0], self.channels, self.size, self.size)
        if self.bn_over == "channels":
            h = F.relu(self.bn(h))
        return h

    def table_label(self):
        return ("Linear" if self.bn is None else "Linear, BN, ReLU", None, "-")

    def structure(self) -> dict:
        out = {"part": "stem", "out_channels": self.channels, "size": self.size}
        if self.bn is not None:
            out.update(bn_over=self.bn_over, **bn_attrs(self.bn))
        return out


class BNReLU(nn.Module):
    """Generator tail: batch norm then ReLU. Table row ``BN, ReLU``."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.bn = normalization.BatchNorm2d(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x))

    def table_label(self):
        return ("BN, ReLU", None, "-")

    def structure(self) -> dict:
        return {"part": "tail", **bn_attrs(self.bn)}


class ConvLayer(nn.Module):
    """The generator's last convolution (or transposed conv). Table row ``Conv [k, k, s]``."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def table_label(self):
        return _conv_label(self.conv, [])

    def structure(self) -> dict:
        return {"part": "final_conv", **_conv_structure(self.conv)}


class OutputActivation(nn.Module):
    """The generator's last row: ``sigmoid`` and ``tanh_unit`` ((tanh(x) + 1) / 2, compare_gan's
    (SN)DCGAN) give images in [0, 1]; ``tanh`` in [-1, 1]."""

    RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "tanh_unit": (0.0, 1.0)}
    LABELS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "tanh_unit": "Tanh, (x+1)/2"}

    def __init__(self, kind: str):
        super().__init__()
        if kind not in self.RANGES:
            raise InputError(f"invalid output activation {kind!r}; valid choices: {', '.join(self.RANGES)}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return torch.sigmoid(x)
        t = torch.tanh(x)
        return t if self.kind == "tanh" else (t + 1.0) / 2.0

    def table_label(self):
        return (self.LABELS[self.kind], None, "-")

    def structure(self) -> dict:
        return {"part": "output", "activation": self.kind}


class InputRescale(nn.Module):
    """x * 2 - 1: compare_gan's SNDCGAN discriminator maps its [0, 1] input to [-1, 1] (sndcgan.py:105-108)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0

    def table_label(self):
        return ("x*2-1", None, "-")

    def structure(self) -> dict:
        return {"part": "input_map", "map": "x*2-1"}


class ConvNormAct(nn.Module):
    """conv (or transposed conv) -> [norm] -> activation: one row of the DCGAN-family tables.

    The row's resample is ``D`` for a strided conv, ``U`` for a strided transposed conv, else ``-``.
    ``act`` is ``"relu"`` or ``"lrelu"`` (leaky ReLU with negative ``slope``).
    """

    def __init__(self, conv: nn.Module, norm: nn.Module, act: str, slope: float = 0.0, norm_label: str = ""):
        super().__init__()
        if act not in ("relu", "lrelu"):
            raise InputError(f"invalid activation {act!r}; valid choices: relu, lrelu")
        self.conv, self.norm = conv, norm
        self.act, self.slope, self.norm_label = act, slope, norm_label

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(x))
        return F.relu(h) if self.act == "relu" else F.leaky_relu(h, self.slope)

    def table_label(self):
        return _conv_label(self.conv, ([self.norm_label] if self.norm_label else [])
                           + ["ReLU" if self.act == "relu" else "lReLU"])

    def structure(self) -> dict:
        return {"part": "block", **_conv_structure(self.conv), "norm": norm_kind(self.conv, self.norm),
                **bn_attrs(self.norm), "act": "relu" if self.act == "relu" else f"lrelu({self.slope:g})"}


class FlattenLinear(nn.Module):
    """(N, C, H, W) or (N, F) -> flatten -> linear -> (N, out). Table row ``Linear``."""

    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(x.shape[0], -1))

    def table_label(self):
        return ("Linear", None, "-")

    def structure(self) -> dict:
        inner = next(m for m in self.linear.modules() if isinstance(m, nn.Linear))
        return {"part": "logit", "bias": inner.bias is not None}


class GlobalPoolHead(nn.Module):
    """Discriminator head: ReLU -> global pool over H, W (mean or sum) -> (N, C). No normalization:
    compare_gan's head is ``relu``, ``reduce_mean``, linear (resnet_cifar.py:153-158).

    Table row ``ReLU, MP`` (mean pool, the paper's default) or ``ReLU, SP`` (sum, the SUM flag).
    """

    REDUCTIONS = ("mean", "sum")

    def __init__(self, reduce: str):
        super().__init__()
        if reduce not in self.REDUCTIONS:
            raise InputError(f"invalid pooling reduction {reduce!r}; valid choices: {', '.join(self.REDUCTIONS)}")
        self.reduce = reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x)
        return h.mean(dim=(2, 3)) if self.reduce == "mean" else h.sum(dim=(2, 3))

    def table_label(self):
        return (f"ReLU, {'MP' if self.reduce == 'mean' else 'SP'}", None, "-")

    def structure(self) -> dict:
        return {"part": "head", "pooling": self.reduce}


__all__ = ["same_padding", "same_conv", "same_deconv", "PadThen", "CropThen", "conv_kind", "norm_kind", "bn_attrs",
           "Generator", "Discriminator", "LinearStem", "BNReLU", "ConvLayer", "OutputActivation", "InputRescale", "ConvNormAct",
           "FlattenLinear", "GlobalPoolHead"]
