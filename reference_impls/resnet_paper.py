"""The paper's ResNet CIFAR (Kurach et al. 2019, Appendix; all six flags off), 32x32, written out.

A literal, slow transcription from DESIGN.md, independent of ``repro.gan``: every operation
is spelled out (batch norm from its formula, nearest upsampling by repetition, 2x2 average
pooling as the mean of four strided views). Discriminator normalization: none by default;
``spectral_norm=True`` divides every D weight by its exact largest singular value (SVD), the
quantity spectral normalization estimates (Miyato et al. 2018, Eq. 2).

Generator (z: (N, z_dim) -> (N, C, 32, 32) in [0, 1]):
    Linear z -> 4x4xch (reshape channels-first)
    3 x ResBlock up:  BN ReLU upsample(x2) conv3x3 BN ReLU conv3x3 + [upsample -> conv1x1](x)
    BN ReLU, conv3x3 -> C, sigmoid.  Batch norm with batch statistics, eps 1e-5.
Discriminator (x: (N, C, 32, 32) in [0, 1] -> logits (N,)):
    4 x ResBlock of ch channels, the first two downsampling; each is pre-activation
        ReLU conv3x3(c_in -> c_out) ReLU conv3x3(c_out -> c_out) [avgpool]
        + [conv3x3(x) then avgpool]         (3x3 conv shortcut; hidden channels = c_out)
    ReLU, mean over H and W, Linear -> 1.
Widths: ch_g = 256, ch_d = 128 in the paper; smaller values make tests fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5
RESOLUTION = 32


# ----------------------------------------------------------------- primitives, written out
def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def batch_norm(x, gamma, beta, eps):
    """(x - mean) / sqrt(var + eps) * gamma + beta; mean and biased var per channel over N, H, W."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)


def upsample(x):
    """Nearest neighbour x2: each pixel repeated twice along H and along W."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def avgpool(x):
    """2x2 average pooling, stride 2: the mean of the four pixels of each 2x2 cell."""
    return (x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) / 4


def conv(x, w, b):
    """Stride-1 convolution with 'same' padding (k // 2) for odd k."""
    return F.conv2d(x, w, b, stride=1, padding=w.shape[-1] // 2)


def linear(x, w, b):
    return x @ w.t() + b


def sn(w, on):
    """W / sigma_max(W) with the exact SVD (W viewed as (c_out, rest)); identity when ``on`` is False."""
    if not on:
        return w
    return w / torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)


def _param(*shape):
    return nn.Parameter(torch.randn(*shape) * 0.1)


# ----------------------------------------------------------------- generator
class GStem(nn.Module):
    def __init__(self, z_dim, ch):
        super().__init__()
        self.ch = ch
        self.w, self.b = _param(ch * 16, z_dim), _param(ch * 16)

    def forward(self, z):
        return linear(z, self.w, self.b).reshape(z.shape[0], self.ch, 4, 4)

    def structure(self):
        return {"part": "stem", "out_channels": self.ch, "size": 4}


class GBlock(nn.Module):
    def __init__(self, ch, eps):
        super().__init__()
        self.ch, self.eps = ch, eps
        self.bn1_gamma, self.bn1_beta = _param(ch), _param(ch)
        self.conv1_w, self.conv1_b = _param(ch, ch, 3, 3), _param(ch)
        self.bn2_gamma, self.bn2_beta = _param(ch), _param(ch)
        self.conv2_w, self.conv2_b = _param(ch, ch, 3, 3), _param(ch)
        self.sc_w, self.sc_b = _param(ch, ch, 1, 1), _param(ch)

    def forward(self, x):
        h = relu(batch_norm(x, self.bn1_gamma, self.bn1_beta, self.eps))
        h = conv(upsample(h), self.conv1_w, self.conv1_b)
        h = relu(batch_norm(h, self.bn2_gamma, self.bn2_beta, self.eps))
        h = conv(h, self.conv2_w, self.conv2_b)
        return h + conv(upsample(x), self.sc_w, self.sc_b)

    def structure(self):
        return {"part": "block", "resample": "U", "in_channels": self.ch, "out_channels": self.ch,
                "hidden_channels": self.ch, "shortcut": "conv1x1", "bn_eps": self.eps}


class GTail(nn.Module):
    def __init__(self, ch, eps):
        super().__init__()
        self.eps = eps
        self.gamma, self.beta = _param(ch), _param(ch)

    def forward(self, x):
        return relu(batch_norm(x, self.gamma, self.beta, self.eps))

    def structure(self):
        return {"part": "tail", "bn_eps": self.eps}


class GOut(nn.Module):
    def __init__(self, ch, channels, activation):
        super().__init__()
        self.activation = activation
        self.w, self.b = _param(channels, ch, 3, 3), _param(channels)

    def forward(self, x):
        h = conv(x, self.w, self.b)
        return torch.sigmoid(h) if self.activation == "sigmoid" else torch.tanh(h)

    def structure(self):
        return {"part": "output", "activation": self.activation}


class Generator(nn.Module):
    """z (N, z_dim) -> (N, channels, 32, 32)."""

    output_activation = "sigmoid"
    bn_eps = BN_EPS

    def __init__(self, z_dim=128, ch=256, channels=3):
        super().__init__()
        self.stem = GStem(z_dim, ch)
        self.blocks = nn.ModuleList([GBlock(ch, self.bn_eps) for _ in range(3)])
        self.tail = GTail(ch, self.bn_eps)
        self.out = GOut(ch, channels, self.output_activation)

    def forward(self, z):
        h = self.stem(z)
        for block in self.blocks:
            h = block(h)
        return self.out(self.tail(h))


# ----------------------------------------------------------------- discriminator
class DBlock(nn.Module):
    """Pre-activation block: ReLU conv3x3 ReLU conv3x3 [pool] + conv3x3 shortcut [pool]."""

    def __init__(self, c_in, c_out, down, use_sn):
        super().__init__()
        self.c_in, self.c_out, self.down, self.use_sn = c_in, c_out, down, use_sn
        self.conv1_w, self.conv1_b = _param(c_out, c_in, 3, 3), _param(c_out)
        self.conv2_w, self.conv2_b = _param(c_out, c_out, 3, 3), _param(c_out)
        self.sc_w, self.sc_b = _param(c_out, c_in, 3, 3), _param(c_out)

    def forward(self, x):
        h = conv(relu(x), sn(self.conv1_w, self.use_sn), self.conv1_b)
        h = conv(relu(h), sn(self.conv2_w, self.use_sn), self.conv2_b)
        s = conv(x, sn(self.sc_w, self.use_sn), self.sc_b)
        if self.down:
            h, s = avgpool(h), avgpool(s)
        return h + s

    def structure(self):
        return {"part": "block", "form": "pre-activation", "resample": "D" if self.down else "-",
                "in_channels": self.c_in, "out_channels": self.c_out, "leading_activation": "relu",
                "shortcut": "conv3x3", "hidden_rule": "c_out", "hidden_channels": self.c_out,
                "norm": "spectral" if self.use_sn else "none"}


class DHead(nn.Module):
    def __init__(self, ch, use_sn, pooling):
        super().__init__()
        self.use_sn, self.pooling = use_sn, pooling
        self.w, self.b = _param(1, ch), _param(1)

    def forward(self, h):
        h = relu(h)
        h = h.mean(dim=(2, 3)) if self.pooling == "mean" else h.sum(dim=(2, 3))
        return linear(h, sn(self.w, self.use_sn), self.b).reshape(-1)

    def structure(self):
        return {"part": "head", "pooling": self.pooling}


class Discriminator(nn.Module):
    """x (N, channels, 32, 32) in [0, 1] -> logits (N,)."""

    input_range = (0.0, 1.0)
    pooling = "mean"

    def __init__(self, ch=128, channels=3, spectral_norm=False):
        super().__init__()
        self.blocks = nn.ModuleList([DBlock(channels, ch, True, spectral_norm), DBlock(ch, ch, True, spectral_norm),
                                     DBlock(ch, ch, False, spectral_norm), DBlock(ch, ch, False, spectral_norm)])
        self.head = DHead(ch, spectral_norm, self.pooling)

    def forward(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


# ----------------------------------------------------------------- weights from the package
def package_name_map(n_g_blocks=3, n_d_blocks=4):
    """{package state_dict name: reference parameter name} for repro's ``resnet`` (flags off,
    ``d_norm="none"``): G = ``layers`` [stem, 3 blocks, BN-ReLU tail, conv, act];
    D = ``layers`` [4 blocks, pool head, linear]."""
    g = {"layers.0.linear.weight": "stem.w", "layers.0.linear.bias": "stem.b"}
    for i in range(n_g_blocks):
        p, r = f"layers.{i + 1}.", f"blocks.{i}."
        g.update({p + "bn1.weight": r + "bn1_gamma", p + "bn1.bias": r + "bn1_beta",
                  p + "conv1.weight": r + "conv1_w", p + "conv1.bias": r + "conv1_b",
                  p + "bn2.weight": r + "bn2_gamma", p + "bn2.bias": r + "bn2_beta",
                  p + "conv2.weight": r + "conv2_w", p + "conv2.bias": r + "conv2_b",
                  p + "shortcut.weight": r + "sc_w", p + "shortcut.bias": r + "sc_b"})
    t = n_g_blocks + 1
    g.update({f"layers.{t}.bn.weight": "tail.gamma", f"layers.{t}.bn.bias": "tail.beta",
              f"layers.{t + 1}.conv.weight": "out.w", f"layers.{t + 1}.conv.bias": "out.b"})
    d = {}
    for i in range(n_d_blocks):
        p, r = f"layers.{i}.", f"blocks.{i}."
        d.update({p + "conv1.weight": r + "conv1_w", p + "conv1.bias": r + "conv1_b",
                  p + "conv2.weight": r + "conv2_w", p + "conv2.bias": r + "conv2_b",
                  p + "shortcut.weight": r + "sc_w", p + "shortcut.bias": r + "sc_b"})
    d.update({f"layers.{n_d_blocks + 1}.linear.weight": "head.w", f"layers.{n_d_blocks + 1}.linear.bias": "head.b"})
    return g, d


def transplant(package_net: nn.Module, reference_net: nn.Module, name_map: dict) -> None:
    """Copy every mapped parameter; every reference parameter must be covered exactly once, and
    every package parameter must be mapped (a ``ValueError`` names what is missing)."""
    ref_params = dict(reference_net.named_parameters())
    pkg_params = dict(package_net.named_parameters())
    unmapped = sorted(set(pkg_params) - set(name_map))
    uncovered = sorted(set(ref_params) - set(name_map.values()))
    if unmapped or uncovered:
        raise ValueError(f"weight transplant incomplete: package params not mapped {unmapped}; "
                         f"reference params not covered {uncovered}")
    with torch.no_grad():
        for src, dst in name_map.items():
            if pkg_params[src].shape != ref_params[dst].shape:
                raise ValueError(f"shape mismatch {src} {tuple(pkg_params[src].shape)} -> "
                                 f"{dst} {tuple(ref_params[dst].shape)}")
            ref_params[dst].copy_(pkg_params[src])
