"""The popular GitHub ResNet for CIFAR: the SNGAN authors' code (pfnet-research/sngan_projection), 32x32.

The paper's six flags move its ResNet toward this code; this transcription is the code itself,
written from its source (file:line at each block), independent of ``repro.gan`` (it shares only the
written-out primitives of ``resnet_paper``):

* Generator, gen_models/resnet_32.py:8-47 (unconditional, configs/sn_cifar10_unconditional.yml):
  ``l1`` Linear(z_dim, 4*4*ch) with bias (:17), reshaped (N, ch, 4, 4) (:40); three ``Block(ch, ch,
  upsample=True)`` (:18-20); ``b5`` BatchNormalization, ReLU, ``c5`` 3x3 conv to 3 channels,
  tanh (:21-22, :44-46). Block, gen_models/resblocks.py:17-58: b1 ReLU upsample c1(3x3) b2 ReLU
  c2(3x3) (:40-48), shortcut ``c_sc`` = 1x1 conv after upsampling, learnable because the block
  upsamples (:25, :37-38, :50-55). Upsampling is ``F.unpooling_2d(x, 2, outsize=(2h, 2w))``
  (:8-10), which copies each pixel over its 2x2 cell: nearest neighbour. Batch norm is
  Chainer's ``L.BatchNormalization`` with its defaults, eps 2e-5 and decay 0.9.
* Discriminator, dis_models/snresnet_32.py:8-30: ``OptimizedBlock(3, ch)``, ``Block(ch, ch,
  downsample=True)``, two ``Block(ch, ch)`` (:13-16); ReLU, sum over H and W (:27-29); ``l5`` =
  SNLinear(ch, 1, nobias=True) (:17, :30). OptimizedBlock, dis_models/resblocks.py:52-75: c1(3x3)
  ReLU c2(3x3) avgpool + c_sc(1x1)(avgpool(x)). Block, :12-49: ReLU c1 ReLU c2 [avgpool], hidden
  channels = in_channels (:21); the shortcut is learnable, a 1x1 conv then avgpool, when the
  channels change **or the block downsamples** (:20, :38-46), else the input itself. Every
  D layer is spectrally normalized (SNConvolution2D, SNLinear). Images are scaled to [-1, 1]
  (datasets/cifar10.py:18).

Not structure, and so not in ``structure()``: z ~ N(0, 1) (``distribution="normal"``,
resnet_32.py:9), GlorotUniform initialisation (resblocks.py:21-22), hinge loss, Adam(2e-4, 0.0,
0.9), n_dis 5 (configs/sn_cifar10_unconditional.yml). See :data:`PROTOCOL`.
"""

from __future__ import annotations

from torch import nn

from repro.arch.references.resnet_paper import _kernel, _param, avgpool, batch_norm, conv, linear, relu, sn, transplant

BN_EPS = 2e-5  # chainer.links.BatchNormalization default eps
BN_DECAY = 0.9  # chainer.links.BatchNormalization default decay
RESOLUTION = 32
PROTOCOL = {
    "z": "normal(0, 1) (gen_models/resnet_32.py:9)",
    "init": "GlorotUniform(sqrt(2)) in blocks, GlorotUniform() in shortcuts and linear layers "
            "(gen_models/resblocks.py:21-22, resnet_32.py:17)",
    "loss": "hinge (configs/sn_cifar10_unconditional.yml)",
    "adam": "lr 0.0002, beta1 0.0, beta2 0.9, n_dis 5 (configs/sn_cifar10_unconditional.yml)",
}


def upsample(x):
    """Chainer's unpooling_2d(x, 2): each pixel copied over its 2x2 cell (nearest neighbour)."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


# ----------------------------------------------------------------- generator
class GStem(nn.Module):
    """l1: Linear(z_dim, 4*4*ch), reshape (N, ch, 4, 4) (resnet_32.py:17, :39-40)."""

    def __init__(self, z_dim, ch):
        super().__init__()
        self.ch = ch
        self.w, self.b = _param(ch * 16, z_dim), _param(ch * 16)

    def forward(self, z):
        return linear(z, self.w, self.b).reshape(z.shape[0], self.ch, 4, 4)

    def structure(self):
        return {"part": "stem", "out_channels": self.ch, "size": 4}


class GBlock(nn.Module):
    """gen_models/resblocks.py:17-58 with upsample=True: residual b1 ReLU up c1 b2 ReLU c2; shortcut c_sc(up(x))."""

    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.b1_gamma, self.b1_beta = _param(ch), _param(ch)
        self.c1_w, self.c1_b = _param(ch, ch, 3, 3), _param(ch)
        self.b2_gamma, self.b2_beta = _param(ch), _param(ch)
        self.c2_w, self.c2_b = _param(ch, ch, 3, 3), _param(ch)
        self.c_sc_w, self.c_sc_b = _param(ch, ch, 1, 1), _param(ch)  # :37-38, ksize=1

    def forward(self, x):
        h = relu(batch_norm(x, self.b1_gamma, self.b1_beta, BN_EPS))  # :42-43
        h = conv(upsample(h), self.c1_w, self.c1_b)  # :44
        h = relu(batch_norm(h, self.b2_gamma, self.b2_beta, BN_EPS))  # :45-46
        h = conv(h, self.c2_w, self.c2_b)  # :47
        return h + conv(upsample(x), self.c_sc_w, self.c_sc_b)  # :50-53, :57-58

    def structure(self):
        return {"part": "block", "resample": "U", "in_channels": self.ch, "out_channels": self.ch,
                "hidden_channels": self.c1_w.shape[0], "upsampling": "nearest", "g_shortcut": _kernel(self.c_sc_w),
                "bn_eps": BN_EPS, "bn_decay": BN_DECAY}


class GTail(nn.Module):
    """b5, ReLU (resnet_32.py:21, :44-45)."""

    def __init__(self, ch):
        super().__init__()
        self.gamma, self.beta = _param(ch), _param(ch)

    def forward(self, x):
        return relu(batch_norm(x, self.gamma, self.beta, BN_EPS))

    def structure(self):
        return {"part": "tail", "bn_eps": BN_EPS, "bn_decay": BN_DECAY}


class GFinalConv(nn.Module):
    """c5: 3x3 conv, pad 1, to 3 channels (resnet_32.py:22)."""

    def __init__(self, ch, channels):
        super().__init__()
        self.w, self.b = _param(channels, ch, 3, 3), _param(channels)

    def forward(self, x):
        return conv(x, self.w, self.b)

    def structure(self):
        return {"part": "final_conv", "layer": "conv", "kernel": [3, 3, 1], "in_channels": self.w.shape[1],
                "out_channels": self.w.shape[0], "padding": [1, 1]}


class GOut(nn.Module):
    def forward(self, h):
        return h.tanh()  # resnet_32.py:46

    def structure(self):
        return {"part": "output", "activation": "tanh"}


class Generator(nn.Module):
    """z (N, z_dim) -> (N, channels, 32, 32) in [-1, 1]."""

    output_range = (-1.0, 1.0)

    def __init__(self, z_dim=128, ch=256, channels=3):
        super().__init__()
        self.stem = GStem(z_dim, ch)
        self.blocks = nn.ModuleList([GBlock(ch) for _ in range(3)])
        self.tail = GTail(ch)
        self.final = GFinalConv(ch, channels)
        self.out = GOut()

    def forward(self, z):
        h = self.stem(z)
        for block in self.blocks:
            h = block(h)
        return self.out(self.final(self.tail(h)))


# ----------------------------------------------------------------- discriminator
class DOptimizedBlock(nn.Module):
    """dis_models/resblocks.py:52-75."""

    def __init__(self, c_in, c_out, use_sn):
        super().__init__()
        self.c_in, self.c_out, self.use_sn = c_in, c_out, use_sn
        self.c1_w, self.c1_b = _param(c_out, c_in, 3, 3), _param(c_out)
        self.c2_w, self.c2_b = _param(c_out, c_out, 3, 3), _param(c_out)
        self.c_sc_w, self.c_sc_b = _param(c_out, c_in, 1, 1), _param(c_out)

    def forward(self, x):
        h = conv(x, sn(self.c1_w, self.use_sn), self.c1_b)  # :63-65, no activation first
        h = conv(relu(h), sn(self.c2_w, self.use_sn), self.c2_b)  # :66-67
        return avgpool(h) + conv(avgpool(x), sn(self.c_sc_w, self.use_sn), self.c_sc_b)  # :68, :71-75

    def structure(self):
        return {"part": "block", "form": "optimized", "resample": "D", "in_channels": self.c_in,
                "out_channels": self.c_out, "leading_activation": "none", "shortcut": "avgpool, conv1x1",
                "hidden_rule": "c_out", "hidden_channels": self.c1_w.shape[0],
                "norm": "spectral" if self.use_sn else "none", "input_norm": "none"}


class DBlock(nn.Module):
    """dis_models/resblocks.py:12-49: hidden = c_in; learnable 1x1 shortcut iff c_in != c_out or downsample."""

    def __init__(self, c_in, c_out, down, use_sn):
        super().__init__()
        self.c_in, self.c_out, self.down, self.use_sn = c_in, c_out, down, use_sn
        self.c1_w, self.c1_b = _param(c_in, c_in, 3, 3), _param(c_in)  # :21, :23
        self.c2_w, self.c2_b = _param(c_out, c_in, 3, 3), _param(c_out)  # :24
        self.learnable_sc = c_in != c_out or down  # :20
        if self.learnable_sc:
            self.c_sc_w, self.c_sc_b = _param(c_out, c_in, 1, 1), _param(c_out)  # :25-26

    def forward(self, x):
        h = conv(relu(x), sn(self.c1_w, self.use_sn), self.c1_b)  # :28-31
        h = conv(relu(h), sn(self.c2_w, self.use_sn), self.c2_b)  # :32-33
        s = conv(x, sn(self.c_sc_w, self.use_sn), self.c_sc_b) if self.learnable_sc else x  # :38-46
        if self.down:
            h, s = avgpool(h), avgpool(s)  # :34-35, :41-42 (the conv before the pooling)
        return h + s

    def structure(self):
        return {"part": "block", "form": "pre-activation", "resample": "D" if self.down else "-",
                "in_channels": self.c_in, "out_channels": self.c_out, "leading_activation": "relu",
                "shortcut": _kernel(self.c_sc_w) if self.learnable_sc else "identity", "hidden_rule": "c_in",
                "hidden_channels": self.c1_w.shape[0], "norm": "spectral" if self.use_sn else "none",
                "input_norm": "none"}


class DHead(nn.Module):
    def forward(self, h):
        return relu(h).sum(dim=(2, 3))  # snresnet_32.py:27-29

    def structure(self):
        return {"part": "head", "pooling": "sum"}


class DLogit(nn.Module):
    """l5: SNLinear(ch, 1, nobias=True) (snresnet_32.py:17, :30)."""

    def __init__(self, ch, use_sn):
        super().__init__()
        self.use_sn = use_sn
        self.w = _param(1, ch)

    def forward(self, h):
        return linear(h, sn(self.w, self.use_sn), None).reshape(-1)

    def structure(self):
        return {"part": "logit", "bias": False}


class Discriminator(nn.Module):
    """x (N, channels, 32, 32) in [-1, 1] -> logits (N,). ``spectral_norm``: exact-SVD spectral norm
    on every layer (the code's SNConvolution2D / SNLinear estimate it by power iteration)."""

    input_range = (-1.0, 1.0)

    def __init__(self, ch=128, channels=3, spectral_norm=False):
        super().__init__()
        self.blocks = nn.ModuleList([DOptimizedBlock(channels, ch, spectral_norm), DBlock(ch, ch, True, spectral_norm),
                                     DBlock(ch, ch, False, spectral_norm), DBlock(ch, ch, False, spectral_norm)])
        self.head = DHead()
        self.logit = DLogit(ch, spectral_norm)

    def forward(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return self.logit(self.head(h))

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


# ----------------------------------------------------------------- weights from the package
def package_name_map(generator: nn.Module, discriminator: nn.Module) -> tuple[dict, dict]:
    """{package name: reference name} for repro's ``resnet`` with all six flags and
    ``resnet_code="sngan"``, ``d_norm="none"``."""
    g = {"layers.0.linear.weight": "stem.w", "layers.0.linear.bias": "stem.b"}
    for i in range(len(generator.blocks)):
        p, r = f"layers.{i + 1}.", f"blocks.{i}."
        g.update({p + "bn1.weight": r + "b1_gamma", p + "bn1.bias": r + "b1_beta",
                  p + "conv1.weight": r + "c1_w", p + "conv1.bias": r + "c1_b",
                  p + "bn2.weight": r + "b2_gamma", p + "bn2.bias": r + "b2_beta",
                  p + "conv2.weight": r + "c2_w", p + "conv2.bias": r + "c2_b",
                  p + "shortcut.weight": r + "c_sc_w", p + "shortcut.bias": r + "c_sc_b"})
    t = len(generator.blocks) + 1
    g.update({f"layers.{t}.bn.weight": "tail.gamma", f"layers.{t}.bn.bias": "tail.beta",
              f"layers.{t + 1}.conv.weight": "final.w", f"layers.{t + 1}.conv.bias": "final.b"})
    d = {"layers.0.shortcut.inner.weight": "blocks.0.c_sc_w", "layers.0.shortcut.inner.bias": "blocks.0.c_sc_b"}
    for i, block in enumerate(discriminator.blocks):
        p, r = f"layers.{i}.", f"blocks.{i}."
        d.update({p + "conv1.weight": r + "c1_w", p + "conv1.bias": r + "c1_b",
                  p + "conv2.weight": r + "c2_w", p + "conv2.bias": r + "c2_b"})
        if isinstance(block, DBlock) and block.learnable_sc:
            d.update({p + "shortcut.weight": r + "c_sc_w", p + "shortcut.bias": r + "c_sc_b"})
    d[f"layers.{len(discriminator.blocks) + 1}.linear.weight"] = "logit.w"
    return g, d


__all__ = ["PROTOCOL", "Generator", "Discriminator", "package_name_map", "transplant"]
