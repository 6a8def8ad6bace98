"""Building blocks of the study's generators and discriminators.

Every block that forms a row of a layer table (``repro arch``) says what it is through
``table_label() -> (layer, kernel, resample)``; the output shape of the row comes from a dry
forward pass (``repro.gan.layer_table``). Blocks whose details differ between the paper and the
GitHub ResNet expose ``structure() -> dict`` computed from their submodules, which
``repro.archdiff`` compares (see DESIGN.md, "The six ResNet differences").

Image tensors are NCHW throughout; kernels are written ``[kh, kw, stride]`` as in the seed's table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.gan import normalization

def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling (N, C, H, W) -> (N, C, 2H, 2W).

    Written as broadcast + reshape: its backward is a plain sum, deterministic on every device
    (no scatter/atomic adds).
    """
    n, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling, stride 2: (N, C, H, W) -> (N, C, H/2, W/2)."""
    return F.avg_pool2d(x, kernel_size=2, stride=2)


def conv_kind(module: nn.Module) -> str:
    """Structural name of a shortcut or layer: ``identity``, ``conv3x3``, ``avgpool, conv1x1`` ..."""
    if isinstance(module, nn.Identity):
        return "identity"
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return f"conv{kh}x{kw}"
    if isinstance(module, PoolThen):
        return f"avgpool, {conv_kind(module.inner)}"
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) == 1:  # a wrapper (e.g. a spectral-norm module) around one conv
        return conv_kind(convs[0])
    return type(module).__name__


def d_norm_kind(conv: nn.Module, feature_norm: nn.Module | None) -> str:
    """The discriminator normalization seen on a layer: spectral, batch, layer or none."""
    if normalization.is_spectral_normed(conv):
        return "spectral"
    if feature_norm is None or isinstance(feature_norm, nn.Identity):
        return "none"
    if isinstance(feature_norm, nn.modules.batchnorm._BatchNorm):
        return "batch"
    return "layer"


class PoolThen(nn.Module):
    """``inner(avgpool2x2(x))``: the optimized first block's shortcut (pool, then 1x1 conv)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(downsample2x(x))


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
            raise ValueError(f"generator input z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
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
            raise ValueError(f"discriminator input must have shape (N, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        return self.layers(x).reshape(x.shape[0])

    def structure(self) -> dict:
        return {"part": "input", "input_range": list(self.input_range)}


# --------------------------------------------------------------------------- generic rows
class LinearStem(nn.Module):
    """z (N, z_dim) -> Linear -> reshape (N, C, S, S) [-> BN -> ReLU]. Table row ``Linear``."""

    def __init__(self, z_dim: int, channels: int, size: int, bn_eps: float | None = None):
        super().__init__()
        self.linear = nn.Linear(z_dim, channels * size * size)
        self.channels, self.size = channels, size
        # DCGAN-style generators normalise right after the projection; the ResNet ones leave
        # that to the first residual block's leading BN.
        self.bn = nn.BatchNorm2d(channels, eps=bn_eps) if bn_eps is not None else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).reshape(z.shape[0], self.channels, self.size, self.size)
        if self.bn is not None:
            h = F.relu(self.bn(h))
        return h

    def table_label(self):
        return ("Linear" if self.bn is None else "Linear, BN, ReLU", None, "-")

    def structure(self) -> dict:
        out = {"part": "stem", "out_channels": self.channels, "size": self.size}
        if self.bn is not None:
            out["bn_eps"] = self.bn.eps
        return out


class BNReLU(nn.Module):
    """Generator tail: batch norm then ReLU. Table row ``BN, ReLU``."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(x))

    def table_label(self):
        return ("BN, ReLU", None, "-")

    def structure(self) -> dict:
        return {"part": "tail", "bn_eps": self.bn.eps}


class ConvLayer(nn.Module):
    """One convolution (kernel k, stride s, 'same'-style padding). Table row ``Conv [k, k, s]``."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def table_label(self):
        return _conv_label(self.conv, [])


class OutputActivation(nn.Module):
    """The generator's last row: ``sigmoid`` (range [0, 1]) or ``tanh`` (range [-1, 1])."""

    RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}

    def __init__(self, kind: str):
        super().__init__()
        if kind not in self.RANGES:
            raise ValueError(f"invalid output activation {kind!r}; valid choices: {', '.join(self.RANGES)}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) if self.kind == "sigmoid" else torch.tanh(x)

    def table_label(self):
        return (self.kind.capitalize(), None, "-")

    def structure(self) -> dict:
        return {"part": "output", "activation": self.kind}


class ConvNormAct(nn.Module):
    """conv (or transposed conv) -> [norm] -> activation: one row of the DCGAN-family tables.

    The row's resample is ``D`` for a strided conv, ``U`` for a strided transposed conv, else ``-``.
    ``act`` is ``"relu"`` or ``"lrelu"`` (leaky ReLU with negative ``slope``).
    """

    def __init__(self, conv: nn.Module, norm: nn.Module, act: str, slope: float = 0.0, norm_label: str = ""):
        super().__init__()
        if act not in ("relu", "lrelu"):
            raise ValueError(f"invalid activation {act!r}; valid choices: relu, lrelu")
        self.conv, self.norm = conv, norm
        self.act, self.slope, self.norm_label = act, slope, norm_label

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(x))
        return F.relu(h) if self.act == "relu" else F.leaky_relu(h, self.slope)

    def table_label(self):
        return _conv_label(self.conv, ([self.norm_label] if self.norm_label else [])
                           + ["ReLU" if self.act == "relu" else "lReLU"])


class FlattenLinear(nn.Module):
    """(N, C, H, W) or (N, F) -> flatten -> linear -> (N, out). Table row ``Linear``."""

    def __init__(self, linear: nn.Module):
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(x.shape[0], -1))

    def table_label(self):
        return ("Linear", None, "-")


class GlobalPoolHead(nn.Module):
    """Discriminator head: [norm] -> ReLU -> global pool over H, W (mean or sum) -> (N, C).

    Table row ``ReLU, MP`` (mean pool, the paper's default) or ``ReLU, SP`` (sum, the SUM flag).
    """

    REDUCTIONS = ("mean", "sum")

    def __init__(self, norm: nn.Module, reduce: str):
        super().__init__()
        if reduce not in self.REDUCTIONS:
            raise ValueError(f"invalid pooling reduction {reduce!r}; valid choices: {', '.join(self.REDUCTIONS)}")
        self.norm, self.reduce = norm, reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(x))
        return h.mean(dim=(2, 3)) if self.reduce == "mean" else h.sum(dim=(2, 3))

    def table_label(self):
        pool = "MP" if self.reduce == "mean" else "SP"
        prefix = "" if isinstance(self.norm, nn.Identity) else "Norm, "
        return (f"{prefix}ReLU, {pool}", None, "-")

    def structure(self) -> dict:
        return {"part": "head", "pooling": self.reduce}


def _conv_label(module: nn.Module, extra: list[str]):
    conv = _find_conv(module)
    transposed = isinstance(conv, nn.ConvTranspose2d)
    resample = "-" if conv.stride[0] == 1 else ("U" if transposed else "D")
    name = "Deconv" if transposed else "Conv"
    return (", ".join([name] + extra), (conv.kernel_size[0], conv.kernel_size[1], conv.stride[0]), resample)


def _find_conv(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return m
    raise ValueError(f"no convolution inside {type(module).__name__}")


# --------------------------------------------------------------------------- ResNet blocks
class GResBlock(nn.Module):
    """Generator up-block: BN ReLU up(nearest x2) conv3x3 BN ReLU conv3x3, plus shortcut.

    Shortcut: upsample then a 1x1 conv (a learned shortcut whenever the block resamples, as both
    compare_gan's and SNGAN's generator blocks have it). (N, c_in, S, S) -> (N, c_out, 2S, 2S).
    """

    def __init__(self, c_in: int, c_out: int, bn_eps: float):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.bn1 = nn.BatchNorm2d(c_in, eps=bn_eps)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c_out, eps=bn_eps)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(upsample2x(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(upsample2x(x))

    def table_label(self):
        return ("ResBlock", (3, 3, 1), "U")

    def structure(self) -> dict:
        return {"part": "block", "resample": "U", "in_channels": self.c_in, "out_channels": self.c_out,
                "hidden_channels": self.conv1.out_channels, "shortcut": conv_kind(self.shortcut),
                "bn_eps": self.bn1.eps if self.bn1.eps == self.bn2.eps else f"{self.bn1.eps}/{self.bn2.eps}"}


class DResBlock(nn.Module):
    """Discriminator block, pre-activation or optimized (DESIGN.md, "The six ResNet differences").

    pre-activation: [norm] ReLU conv3x3(c_in->h) [norm] ReLU conv3x3(h->c_out) [avgpool 2x2];
      shortcut ``conv3x3`` (default), or with SKIP the input itself (a 1x1 conv only where the
      channels change); pooled when downsampling, after the conv.
    optimized (OPT, first block only): conv3x3(c_in->c_out) [norm] ReLU conv3x3 [avgpool];
      no leading ReLU, shortcut avgpool then 1x1 conv, hidden channels = c_out.
    ``hidden_rule`` is ``"c_out"`` (default) or ``"c_in"`` (CIN). ``pre_norm`` is False for the
    block that reads the raw image (no normalization of the input pixels).
    (N, c_in, S, S) -> (N, c_out, S/2 or S, S/2 or S).
    """

    def __init__(self, c_in: int, c_out: int, *, downsample: bool, norm: str, sn_impl: str,
                 optimized: bool = False, skip: bool = False, hidden_rule: str = "c_out", pre_norm: bool = True):
        super().__init__()
        if hidden_rule not in ("c_out", "c_in"):
            raise ValueError(f"invalid hidden_rule {hidden_rule!r}; valid choices: c_out, c_in")
        self.c_in, self.c_out, self.downsample, self.optimized = c_in, c_out, downsample, optimized
        self.hidden_rule = "c_out" if optimized else hidden_rule  # OPT puts c_out inside
        hidden = c_out if self.hidden_rule == "c_out" else c_in
        if optimized:
            self.pre = nn.Identity()  # no leading activation
        else:
            self.pre = nn.Sequential(normalization.d_feature_norm(norm, c_in) if pre_norm else nn.Identity(),
                                     nn.ReLU())
        self.conv1 = normalization.d_conv(norm, sn_impl, c_in, hidden, 3, padding=1)
        self.norm2 = normalization.d_feature_norm(norm, hidden)
        self.conv2 = normalization.d_conv(norm, sn_impl, hidden, c_out, 3, padding=1)
        if optimized:
            self.shortcut = PoolThen(normalization.d_conv(norm, sn_impl, c_in, c_out, 1))
        elif skip:
            self.shortcut = (nn.Identity() if c_in == c_out
                             else normalization.d_conv(norm, sn_impl, c_in, c_out, 1))
        else:
            self.shortcut = normalization.d_conv(norm, sn_impl, c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.pre(x))
        h = self.conv2(F.relu(self.norm2(h)))
        if self.downsample:
            h = downsample2x(h)
        s = self.shortcut(x)
        if self.downsample and not isinstance(self.shortcut, PoolThen):  # PoolThen pooled before its conv
            s = downsample2x(s)
        return h + s

    def table_label(self):
        return ("ResBlock", (3, 3, 1), "D" if self.downsample else "-")

    def structure(self) -> dict:
        leading = [type(m).__name__ for m in self.pre.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
        return {
            "part": "block",
            "form": "optimized" if isinstance(self.pre, nn.Identity) and isinstance(self.shortcut, PoolThen)
            else "pre-activation",
            "resample": "D" if self.downsample else "-",
            "in_channels": self.c_in,
            "out_channels": self.c_out,
            "leading_activation": "relu" if leading else "none",
            "shortcut": conv_kind(self.shortcut),
            "hidden_rule": self.hidden_rule,
            "hidden_channels": _find_conv(self.conv1).out_channels,
            "norm": d_norm_kind(self.conv1, self.norm2),
        }
