"""The popular GitHub (SNGAN-style) ResNet for CIFAR, 32x32: the paper's six differences all on.

A literal transcription from DESIGN.md's table "The six ResNet differences", independent of
``repro.gan`` (it shares only the written-out primitives of ``resnet_paper``):

Generator: as the paper's, but batch-norm eps 2e-5 (EPS) and tanh output in [-1, 1] (TAN).
Discriminator (x in [-1, 1], TAN):
    block 1, optimized (OPT): conv3x3(C -> ch) ReLU conv3x3(ch -> ch) avgpool
                              + conv1x1(avgpool(x))                 (no leading ReLU)
    blocks 2-4, pre-activation with hidden channels = c_in (CIN):
        ReLU conv3x3(c_in -> c_in) ReLU conv3x3(c_in -> c_out) [avgpool]
        + x itself [avgpool]  (SKIP; a 1x1 conv would appear only where c_in != c_out: never here)
    ReLU, SUM over H and W (SUM), Linear -> 1.
Block 2 downsamples, blocks 3 and 4 keep 8x8 (as in the paper's ResNet CIFAR).
Note (a fact of this architecture, not a choice): with every D block at ch channels, CIN changes
nothing after the optimized first block, where c_in = c_out.
"""

from __future__ import annotations

from torch import nn

from reference_impls import resnet_paper as paper
from reference_impls.resnet_paper import _param, avgpool, conv, relu, sn

BN_EPS = 2e-5
RESOLUTION = 32


class Generator(paper.Generator):
    """z (N, z_dim) -> (N, channels, 32, 32) in [-1, 1]."""

    output_activation = "tanh"
    bn_eps = BN_EPS


class DOptimizedBlock(nn.Module):
    def __init__(self, c_in, c_out, use_sn):
        super().__init__()
        self.c_in, self.c_out, self.use_sn = c_in, c_out, use_sn
        self.conv1_w, self.conv1_b = _param(c_out, c_in, 3, 3), _param(c_out)
        self.conv2_w, self.conv2_b = _param(c_out, c_out, 3, 3), _param(c_out)
        self.sc_w, self.sc_b = _param(c_out, c_in, 1, 1), _param(c_out)

    def forward(self, x):
        h = conv(x, sn(self.conv1_w, self.use_sn), self.conv1_b)  # no ReLU before the first conv
        h = conv(relu(h), sn(self.conv2_w, self.use_sn), self.conv2_b)
        return avgpool(h) + conv(avgpool(x), sn(self.sc_w, self.use_sn), self.sc_b)

    def structure(self):
        return {"part": "block", "form": "optimized", "resample": "D", "in_channels": self.c_in,
                "out_channels": self.c_out, "leading_activation": "none", "shortcut": "avgpool, conv1x1",
                "hidden_rule": "c_out", "hidden_channels": self.c_out, "norm": "spectral" if self.use_sn else "none"}


class DBlock(nn.Module):
    """Pre-activation, hidden = c_in, identity shortcut (c_in == c_out in this network)."""

    def __init__(self, ch, down, use_sn):
        super().__init__()
        self.ch, self.down, self.use_sn = ch, down, use_sn
        self.conv1_w, self.conv1_b = _param(ch, ch, 3, 3), _param(ch)  # c_in -> c_in
        self.conv2_w, self.conv2_b = _param(ch, ch, 3, 3), _param(ch)  # c_in -> c_out

    def forward(self, x):
        h = conv(relu(x), sn(self.conv1_w, self.use_sn), self.conv1_b)
        h = conv(relu(h), sn(self.conv2_w, self.use_sn), self.conv2_b)
        s = x
        if self.down:
            h, s = avgpool(h), avgpool(s)
        return h + s

    def structure(self):
        return {"part": "block", "form": "pre-activation", "resample": "D" if self.down else "-",
                "in_channels": self.ch, "out_channels": self.ch, "leading_activation": "relu",
                "shortcut": "identity", "hidden_rule": "c_in", "hidden_channels": self.ch,
                "norm": "spectral" if self.use_sn else "none"}


class Discriminator(paper.Discriminator):
    """x (N, channels, 32, 32) in [-1, 1] -> logits (N,)."""

    input_range = (-1.0, 1.0)
    pooling = "sum"

    def __init__(self, ch=128, channels=3, spectral_norm=False):
        nn.Module.__init__(self)
        self.blocks = nn.ModuleList([DOptimizedBlock(channels, ch, spectral_norm), DBlock(ch, True, spectral_norm),
                                     DBlock(ch, False, spectral_norm), DBlock(ch, False, spectral_norm)])
        self.head = paper.DHead(ch, spectral_norm, self.pooling)


def package_name_map(n_g_blocks=3, n_d_blocks=4):
    """{package name: reference name} for repro's ``resnet`` with all six flags, ``d_norm="none"``.

    The generator maps as in the paper's; D's first block has its shortcut conv inside a
    pool-then-conv wrapper (``shortcut.inner``), the other blocks have no shortcut parameters.
    """
    g, _ = paper.package_name_map(n_g_blocks, n_d_blocks)
    d = {"layers.0.shortcut.inner.weight": "blocks.0.sc_w", "layers.0.shortcut.inner.bias": "blocks.0.sc_b"}
    for i in range(n_d_blocks):
        p, r = f"layers.{i}.", f"blocks.{i}."
        d.update({p + "conv1.weight": r + "conv1_w", p + "conv1.bias": r + "conv1_b",
                  p + "conv2.weight": r + "conv2_w", p + "conv2.bias": r + "conv2_b"})
    d.update({f"layers.{n_d_blocks + 1}.linear.weight": "head.w", f"layers.{n_d_blocks + 1}.linear.bias": "head.b"})
    return g, d


transplant = paper.transplant
