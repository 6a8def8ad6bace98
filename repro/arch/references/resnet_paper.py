"""The paper's ResNet CIFAR with its six ablation flags (Kurach et al. 2019, Appendix, Figure 7), 32x32.

Sources, and which detail comes from which:

* The six flags, from the paper's own words (Kurach et al. 2019, Appendix, Figure 7;
  docs/design.md, "The six ResNet differences"):
  SKIP "use the input as the output of the shortcut in the discriminator ResBlock; by default a
  conv layer with a 3x3 kernel"; CIN "c_in as the hidden channels of the discriminator ResBlock
  (c_out by default)"; OPT "in the first discriminator block: no ReLU first, a conv in the
  shortcut (avgpool then 1x1), c_out inside"; SUM "reduce sum for the discriminator output
  (reduce mean by default)"; TAN "tanh at the generator's output, the discriminator sees [-1, 1]
  (sigmoid and [0, 1] by default)"; EPS "batch-norm epsilon 2e-5 in the generator (TensorFlow's
  default 1e-5)".
* The default ("ResNet CIFAR with spectral norm and the non-saturating loss") is the study's own
  code, compare_gan ``resnet_cifar.py`` on ``resnet_ops.py`` (the paper's code release). The paper's
  text does not describe the generator's upsampling or shortcut; they are taken from that code:
  zero-insertion ``unpool`` (resnet_ops.py:35-56) and unpool + 3x3 conv shortcut
  (resnet_ops.py:112-134, 156-158); batch-norm decay 0.9 (example_configs/resnet_cifar10.gin:14).
* Where the text leaves a flag's detail open, this transcription says what it chose: SKIP on a
  block whose channels change (the first block without OPT: 3 -> 128) cannot use the input as is,
  so it uses a 1x1 conv there.

Written out in PyTorch layout (NCHW), independent of ``repro.gan``: batch norm from its formula
(batch statistics, the training mode), zero insertion by strided assignment, 2x2 average pooling as
the mean of four strided views. Discriminator normalization: none, or ``spectral_norm=True``
dividing every D weight by its exact largest singular value (SVD), the quantity spectral
normalization estimates (Miyato et al. 2018, Eq. 2); the paper's D has no batch or layer norm.
Widths: ch_g = 256, ch_d = 128 (resnet_cifar.py:90-96, 148-149); smaller values make tests fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.errors import InputError

FLAGS = ("skip", "cin", "opt", "sum", "tan", "eps")
RESOLUTION = 32
BN_DECAY = 0.9  # example_configs/resnet_cifar10.gin:14 (used by moving averages only: not exercised here)


# ----------------------------------------------------------------- primitives, written out
def relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def batch_norm(x, gamma, beta, eps):
    """(x - mean) / sqrt(var + eps) * gamma + beta; mean and biased var per channel over N, H, W."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)


def unpool(x):
    """Zero insertion x2: out[2i, 2j] = x[i, j], every other pixel 0 (compare_gan resnet_ops.unpool)."""
    n, c, h, w = x.shape
    out = torch.zeros(n, c, 2 * h, 2 * w, dtype=x.dtype, device=x.device)
    out[:, :, 0::2, 0::2] = x
    return out


def avgpool(x):
    """2x2 average pooling, stride 2: the mean of the four pixels of each 2x2 cell."""
    return (x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) / 4


def conv(x, w, b):
    """Stride-1 convolution with 'same' padding (k // 2) for odd k."""
    return F.conv2d(x, w, b, stride=1, padding=w.shape[-1] // 2)


def linear(x, w, b):
    return x @ w.t() + (b if b is not None else 0)


def sn(w, on):
    """W / sigma_max(W) with the exact SVD (W viewed as (c_out, rest)); identity when ``on`` is False."""
    if not on:
        return w
    return w / torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)


def _param(*shape):
    return nn.Parameter(torch.randn(*shape) * 0.1)


def _kernel(w) -> str:
    return f"conv{w.shape[-2]}x{w.shape[-1]}"


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
    """BN ReLU unpool conv3x3 BN ReLU conv3x3 + conv3x3(unpool(x))."""

    upsampling = "unpool"

    def __init__(self, ch, eps):
        super().__init__()
        self.ch, self.eps = ch, eps
        self.bn1_gamma, self.bn1_beta = _param(ch), _param(ch)
        self.conv1_w, self.conv1_b = _param(ch, ch, 3, 3), _param(ch)
        self.bn2_gamma, self.bn2_beta = _param(ch), _param(ch)
        self.conv2_w, self.conv2_b = _param(ch, ch, 3, 3), _param(ch)
        self.sc_w, self.sc_b = _param(ch, ch, 3, 3), _param(ch)

    def up(self, x):
        return unpool(x)

    def forward(self, x):
        h = relu(batch_norm(x, self.bn1_gamma, self.bn1_beta, self.eps))
        h = conv(self.up(h), self.conv1_w, self.conv1_b)
        h = relu(batch_norm(h, self.bn2_gamma, self.bn2_beta, self.eps))
        h = conv(h, self.conv2_w, self.conv2_b)
        return h + conv(self.up(x), self.sc_w, self.sc_b)

    def structure(self):
        return {"part": "block", "resample": "U", "in_channels": self.ch, "out_channels": self.ch,
                "hidden_channels": self.conv1_w.shape[0], "upsampling": self.upsampling,
                "g_shortcut": _kernel(self.sc_w), "bn_eps": self.eps, "bn_decay": BN_DECAY}


class GTail(nn.Module):
    def __init__(self, ch, eps):
        super().__init__()
        self.eps = eps
        self.gamma, self.beta = _param(ch), _param(ch)

    def forward(self, x):
        return relu(batch_norm(x, self.gamma, self.beta, self.eps))

    def structure(self):
        return {"part": "tail", "bn_eps": self.eps, "bn_decay": BN_DECAY}


class GFinalConv(nn.Module):
    def __init__(self, ch, channels):
        super().__init__()
        self.w, self.b = _param(channels, ch, 3, 3), _param(channels)

    def forward(self, x):
        return conv(x, self.w, self.b)

    def structure(self):
        return {"part": "final_conv", "layer": "conv", "kernel": [3, 3, 1], "in_channels": self.w.shape[1],
                "out_channels": self.w.shape[0], "padding": [1, 1]}


class GOut(nn.Module):
    def __init__(self, activation):
        super().__init__()
        self.activation = activation

    def forward(self, h):
        return torch.sigmoid(h) if self.activation == "sigmoid" else torch.tanh(h)

    def structure(self):
        return {"part": "output", "activation": self.activation}


class Generator(nn.Module):
    """z (N, z_dim) -> (N, channels, 32, 32): sigmoid in [0, 1], with TAN tanh in [-1, 1]."""

    block = GBlock

    def __init__(self, z_dim=128, ch=256, channels=3, flags=()):
        super().__init__()
        flags = _check_flags(flags)
        eps = 2e-5 if "eps" in flags else 1e-5
        self.stem = GStem(z_dim, ch)
        self.blocks = nn.ModuleList([self.block(ch, eps) for _ in range(3)])
        self.tail = GTail(ch, eps)
        self.final = GFinalConv(ch, channels)
        self.out = GOut("tanh" if "tan" in flags else "sigmoid")
        self.output_range = (-1.0, 1.0) if "tan" in flags else (0.0, 1.0)

    def forward(self, z):
        h = self.stem(z)
        for block in self.blocks:
            h = block(h)
        return self.out(self.final(self.tail(h)))


# ----------------------------------------------------------------- discriminator
class DBlock(nn.Module):
    """Pre-activation block: ReLU conv3x3 ReLU conv3x3 [pool] + shortcut [pool].

    Shortcut: a 3x3 conv (default); with SKIP the input itself, a 1x1 conv where the channels change.
    Hidden channels: c_out (default), c_in with CIN.
    """

    def __init__(self, c_in, c_out, down, use_sn, skip, cin):
        super().__init__()
        self.c_in, self.c_out, self.down, self.use_sn, self.cin = c_in, c_out, down, use_sn, cin
        hidden = c_in if cin else c_out
        self.conv1_w, self.conv1_b = _param(hidden, c_in, 3, 3), _param(hidden)
        self.conv2_w, self.conv2_b = _param(c_out, hidden, 3, 3), _param(c_out)
        self.sc_w = self.sc_b = None
        if not skip or c_in != c_out:
            k = 1 if skip else 3
            self.sc_w, self.sc_b = _param(c_out, c_in, k, k), _param(c_out)

    def forward(self, x):
        h = conv(relu(x), sn(self.conv1_w, self.use_sn), self.conv1_b)
        h = conv(relu(h), sn(self.conv2_w, self.use_sn), self.conv2_b)
        s = x if self.sc_w is None else conv(x, sn(self.sc_w, self.use_sn), self.sc_b)
        if self.down:
            h, s = avgpool(h), avgpool(s)
        return h + s

    def structure(self):
        return {"part": "block", "form": "pre-activation", "resample": "D" if self.down else "-",
                "in_channels": self.c_in, "out_channels": self.c_out, "leading_activation": "relu",
                "shortcut": "identity" if self.sc_w is None else _kernel(self.sc_w),
                "hidden_rule": "c_in" if self.cin else "c_out", "hidden_channels": self.conv1_w.shape[0],
                "norm": "spectral" if self.use_sn else "none", "input_norm": "none"}


class DOptimizedBlock(nn.Module):
    """OPT: conv3x3 ReLU conv3x3 avgpool + conv1x1(avgpool(x)); no leading ReLU, c_out inside."""

    def __init__(self, c_in, c_out, use_sn):
        super().__init__()
        self.c_in, self.c_out, self.use_sn = c_in, c_out, use_sn
        self.conv1_w, self.conv1_b = _param(c_out, c_in, 3, 3), _param(c_out)
        self.conv2_w, self.conv2_b = _param(c_out, c_out, 3, 3), _param(c_out)
        self.sc_w, self.sc_b = _param(c_out, c_in, 1, 1), _param(c_out)

    def forward(self, x):
        h = conv(x, sn(self.conv1_w, self.use_sn), self.conv1_b)
        h = conv(relu(h), sn(self.conv2_w, self.use_sn), self.conv2_b)
        return avgpool(h) + conv(avgpool(x), sn(self.sc_w, self.use_sn), self.sc_b)

    def structure(self):
        return {"part": "block", "form": "optimized", "resample": "D", "in_channels": self.c_in,
                "out_channels": self.c_out, "leading_activation": "none", "shortcut": "avgpool, conv1x1",
                "hidden_rule": "c_out", "hidden_channels": self.c_out, "norm": "spectral" if self.use_sn else "none",
                "input_norm": "none"}


class DHead(nn.Module):
    def __init__(self, pooling):
        super().__init__()
        self.pooling = pooling

    def forward(self, h):
        h = relu(h)
        return h.mean(dim=(2, 3)) if self.pooling == "mean" else h.sum(dim=(2, 3))

    def structure(self):
        return {"part": "head", "pooling": self.pooling}


class DLogit(nn.Module):
    def __init__(self, ch, use_sn, bias=True):
        super().__init__()
        self.use_sn = use_sn
        self.w = _param(1, ch)
        self.b = _param(1) if bias else None

    def forward(self, h):
        return linear(h, sn(self.w, self.use_sn), self.b).reshape(-1)

    def structure(self):
        return {"part": "logit", "bias": self.b is not None}


class Discriminator(nn.Module):
    """x (N, channels, 32, 32) in [0, 1] ([-1, 1] with TAN) -> logits (N,).

    Four blocks of ch channels, the first two downsampling (resnet_cifar.py:144-151); ReLU, mean
    (SUM: sum) over H and W, linear -> 1 (resnet_cifar.py:153-158).
    """

    def __init__(self, ch=128, channels=3, spectral_norm=False, flags=()):
        super().__init__()
        flags = _check_flags(flags)
        skip, cin = "skip" in flags, "cin" in flags
        first = (DOptimizedBlock(channels, ch, spectral_norm) if "opt" in flags
                 else DBlock(channels, ch, True, spectral_norm, skip, cin))
        self.blocks = nn.ModuleList([first] + [DBlock(ch, ch, down, spectral_norm, skip, cin)
                                               for down in (True, False, False)])
        self.head = DHead("sum" if "sum" in flags else "mean")
        self.logit = DLogit(ch, spectral_norm)
        self.input_range = (-1.0, 1.0) if "tan" in flags else (0.0, 1.0)

    def forward(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return self.logit(self.head(h))

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


def _check_flags(flags) -> set:
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise InputError(f"unknown flag(s) {', '.join(unknown)}; valid flags: {', '.join(FLAGS)}")
    return set(flags)


# ----------------------------------------------------------------- weights from the package
def package_name_map(generator: nn.Module, discriminator: nn.Module) -> tuple[dict, dict]:
    """{package parameter name: reference parameter name} for repro's ``resnet`` at 32x32 with
    ``d_norm="none"``. The package's layers: G [stem, 3 blocks, BN-ReLU tail, conv, act];
    D [4 blocks, pool head, linear]. Shortcut parameters exist where the reference has them."""
    g = {"layers.0.linear.weight": "stem.w", "layers.0.linear.bias": "stem.b"}
    for i in range(len(generator.blocks)):
        p, r = f"layers.{i + 1}.", f"blocks.{i}."
        g.update({p + "bn1.weight": r + "bn1_gamma", p + "bn1.bias": r + "bn1_beta",
                  p + "conv1.weight": r + "conv1_w", p + "conv1.bias": r + "conv1_b",
                  p + "bn2.weight": r + "bn2_gamma", p + "bn2.bias": r + "bn2_beta",
                  p + "conv2.weight": r + "conv2_w", p + "conv2.bias": r + "conv2_b",
                  p + "shortcut.weight": r + "sc_w", p + "shortcut.bias": r + "sc_b"})
    t = len(generator.blocks) + 1
    g.update({f"layers.{t}.bn.weight": "tail.gamma", f"layers.{t}.bn.bias": "tail.beta",
              f"layers.{t + 1}.conv.weight": "final.w", f"layers.{t + 1}.conv.bias": "final.b"})
    d = {}
    for i, block in enumerate(discriminator.blocks):
        p, r = f"layers.{i}.", f"blocks.{i}."
        d.update({p + "conv1.weight": r + "conv1_w", p + "conv1.bias": r + "conv1_b",
                  p + "conv2.weight": r + "conv2_w", p + "conv2.bias": r + "conv2_b"})
        if block.sc_w is not None:
            sc = "shortcut.inner." if isinstance(block, DOptimizedBlock) else "shortcut."
            d.update({p + sc + "weight": r + "sc_w", p + sc + "bias": r + "sc_b"})
    n = len(discriminator.blocks) + 1
    d[f"layers.{n}.linear.weight"] = "logit.w"
    if discriminator.logit.b is not None:
        d[f"layers.{n}.linear.bias"] = "logit.b"
    return g, d


def transplant(package_net: nn.Module, reference_net: nn.Module, name_map: dict) -> None:
    """Copy every mapped parameter; every reference parameter must be covered exactly once, and
    every package parameter must be mapped (a ``ValueError`` names what is missing)."""
    ref_params = dict(reference_net.named_parameters())
    pkg_params = dict(package_net.named_parameters())
    unmapped = sorted(set(pkg_params) - set(name_map))
    uncovered = sorted(set(ref_params) - set(name_map.values()))
    missing = sorted(set(name_map) - set(pkg_params))
    if unmapped or uncovered or missing:
        raise InputError(f"weight transplant incomplete: package params not mapped {unmapped}; "
                         f"reference params not covered {uncovered}; mapped but absent {missing}")
    with torch.no_grad():
        for src, dst in name_map.items():
            if pkg_params[src].shape != ref_params[dst].shape:
                raise InputError(f"shape mismatch {src} {tuple(pkg_params[src].shape)} -> "
                                 f"{dst} {tuple(ref_params[dst].shape)}")
            ref_params[dst].copy_(pkg_params[src])
