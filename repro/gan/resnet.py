"""The one parametrised ResNet: the paper's ResNet CIFAR (``resnet``) and ResNet19 (``resnet19``).

Both are the same code driven by a :class:`Schedule` (data): the generator's stem channels and
blocks (output channels, upsampling), and the discriminator's blocks (output channels, downsampling).

* ``resnet``: compare_gan's ``resnet_cifar`` (resnet_cifar.py:59-167), defined there at 32x32
  only: G projects z to 4x4x256 and stacks three up-blocks of 256 channels; D stacks four blocks
  of 128 channels, the first two downsampling. Other resolutions are this package's extension
  (G: log2(R/4) up-blocks; D: downsample to 8x8, then the two blocks that keep it).
* ``resnet19``: compare_gan's ``resnet5`` (resnet5.py:36-145; the seed's "ResNet19" table at
  128x128; the 19 is its discriminator's weight layers, 6 blocks x 3 convs + 1 linear, the 2018
  code's N_DISCRIMINATOR_LAYERS[RESNET5_ARCH], src/gans/consts.py:55-60). G: z -> 4x4x512,
  then always five blocks to 64 x (8, 4, 4, 2, 1) channels, the first log2(R/4) upsampling and
  the rest keeping the size (resnet5.py:79-85). D: always six downsampling blocks to
  64 x (1, 2, 4, 4, 8, 8) channels (B0, then B1-B5: resnet5.py:125-138);
  TF's 'SAME' pooling keeps a 1x1 map 1x1, so at 32x32 the last two blocks run at 1x1.

The six flags (``skip cin opt sum tan eps``) change the blocks as the table of docs/design.md,
"The six ResNet differences", says.
``resnet_code`` sets the details the paper did not list (:data:`RESNET_CODES`).
Channel counts are multiplied by ``cfg.width`` and rounded half up, never below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from repro import choices
from repro.errors import InputError
from repro.gan import normalization
from repro.gan.blocks import (
    BNReLU,
    ConvLayer,
    Discriminator,
    FlattenLinear,
    Generator,
    GlobalPoolHead,
    LinearStem,
    OutputActivation,
)
from repro.gan.resblocks import DResBlock, GResBlock

if TYPE_CHECKING:
    from repro.config import TrainConfig

RESOLUTIONS = choices.RESOLUTIONS["resnet"]
STEM_SIZE = 4  # the generator's linear layer outputs a 4x4 map
BN_EPS = {False: 1e-5, True: 2e-5}  # compare_gan's gin configs (standardize_batch.epsilon) vs the EPS flag (Chainer)

# compare_gan resnet5.py:39 and :99 (ch=64 and the channel multipliers)
RESNET19_CH = 64
RESNET19_G_MULT = (8, 8, 4, 4, 2, 1)
RESNET19_D_MULT = (1, 2, 4, 4, 8, 8)
RESNET_CIFAR_G_CHANNELS = 256
RESNET_CIFAR_D_CHANNELS = 128
RESNET_CIFAR_D_FINAL_SIZE = 8  # downsample to 8x8, then two blocks at 8x8


@dataclass(frozen=True)
class ResNetCode:
    """The details of a ResNet the paper's six flags do not cover, as one codebase writes them."""

    g_upsample: str  # how G's blocks upsample: unpool (zero insertion) | nearest
    g_shortcut: str  # G's learned shortcut conv: conv3x3 | conv1x1
    g_identity_shortcut: bool  # G block that neither resamples nor changes channels: identity shortcut
    d_skip_rule: str  # with SKIP, where a D shortcut stays a learned 1x1 conv (resblocks.SKIP_RULES)
    d_logit_bias: bool  # the final linear layer of D has a bias


RESNET_CODES = {
    # compare_gan (the study's code): resnet_ops.py:112-134 (unpool, _get_conv's 3x3 default),
    # arch_ops.linear use_bias=True; it has no SKIP, so the paper's description stands there.
    "compare_gan": ResNetCode("unpool", "conv3x3", False, "channels", True),
    # the SNGAN authors' code (pfnet-research/sngan_projection): gen_models/resblocks.py:8-10, 24, 37-38
    # (nearest unpooling_2d, 1x1 shortcut when upsampling or channels change); dis_models/resblocks.py:20
    # (learned shortcut also when downsampling); dis_models/snresnet_32.py (final SNLinear nobias=True).
    "sngan": ResNetCode("nearest", "conv1x1", True, "channels_or_downsample", False),
}


@dataclass(frozen=True)
class Schedule:
    """Channels at the paper's widths. ``g_blocks`` / ``d_blocks``: (out_channels, resample) per block."""

    g_stem: int
    g_blocks: tuple[tuple[int, bool], ...]
    d_blocks: tuple[tuple[int, bool], ...]


def _check(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise InputError(f"unsupported resolution {resolution}; supported: {', '.join(map(str, RESOLUTIONS))}")
    return int(math.log2(resolution))


def resnet_cifar_schedule(resolution: int) -> Schedule:
    """compare_gan's ResNet CIFAR at ``resolution`` (see the module docstring)."""
    log_r = _check(resolution)
    n_up = log_r - int(math.log2(STEM_SIZE))
    n_down = log_r - int(math.log2(RESNET_CIFAR_D_FINAL_SIZE))
    d = tuple((RESNET_CIFAR_D_CHANNELS, True) for _ in range(n_down)) + ((RESNET_CIFAR_D_CHANNELS, False),) * 2
    return Schedule(RESNET_CIFAR_G_CHANNELS, ((RESNET_CIFAR_G_CHANNELS, True),) * n_up, d)


def resnet19_schedule(resolution: int) -> Schedule:
    """compare_gan's ResNet19 (``resnet5``) at ``resolution``: five G blocks, six D blocks at any size."""
    n_up = _check(resolution) - int(math.log2(STEM_SIZE))
    g = tuple((RESNET19_CH * m, i < n_up) for i, m in enumerate(RESNET19_G_MULT[1:]))
    d = tuple((RESNET19_CH * m, True) for m in (1, *RESNET19_D_MULT[1:]))
    return Schedule(RESNET19_CH * RESNET19_G_MULT[0], g, d)


def scale_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def build_resnet(cfg: "TrainConfig", schedule: Schedule) -> tuple[Generator, Discriminator]:
    """Build (G, D) from ``schedule`` and the config's width, channels, z_dim, d_norm, sn_impl, flags, resnet_code."""
    flags = set(cfg.flags)
    code = RESNET_CODES[cfg.resnet_code]
    w = cfg.width
    eps = BN_EPS["eps" in flags]
    out_act = OutputActivation("tanh" if "tan" in flags else "sigmoid")
    value_range = OutputActivation.RANGES[out_act.kind]

    # ---- generator
    c = scale_channels(schedule.g_stem, w)
    g_layers = [LinearStem(cfg.z_dim, c, STEM_SIZE)]
    for c_out, up in schedule.g_blocks:
        c_out = scale_channels(c_out, w)
        identity = code.g_identity_shortcut and not up and c == c_out
        g_layers.append(GResBlock(c, c_out, eps, upsample=code.g_upsample if up else None,
                                  shortcut="identity" if identity else code.g_shortcut))
        c = c_out
    g_layers += [BNReLU(c, eps), ConvLayer(nn.Conv2d(c, cfg.channels, 3, padding=1)), out_act]
    generator = Generator(g_layers, cfg.z_dim, value_range)

    # ---- discriminator
    c = cfg.channels
    d_layers = []
    for i, (c_out, down) in enumerate(schedule.d_blocks):
        c_out = scale_channels(c_out, w)
        d_layers.append(DResBlock(
            c, c_out, downsample=down, norm=cfg.d_norm, sn_impl=cfg.sn_impl,
            optimized=(i == 0 and "opt" in flags), skip="skip" in flags, skip_rule=code.d_skip_rule,
            hidden_rule="c_in" if "cin" in flags else "c_out",
        ))
        c = c_out
    d_layers.append(GlobalPoolHead("sum" if "sum" in flags else "mean"))
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c, 1, bias=code.d_logit_bias)))
    discriminator = Discriminator(d_layers, cfg.channels, cfg.resolution, value_range)
    return generator, discriminator


def build_resnet_cifar(cfg: "TrainConfig"):
    return build_resnet(cfg, resnet_cifar_schedule(cfg.resolution))


def build_resnet19(cfg: "TrainConfig"):
    return build_resnet(cfg, resnet19_schedule(cfg.resolution))
