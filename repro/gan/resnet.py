"""The one parametrised ResNet: the paper's ResNet CIFAR (``resnet``) and ResNet19 (``resnet19``).

Both are the same code driven by a :class:`Schedule` (data): the generator's stem channels and
up-block output channels, and the discriminator's blocks (output channels, downsampling).

How each scales with the resolution R (a power of two, 16..128):

* ``resnet`` (Kurach et al. 2019, ResNet CIFAR; 32x32 is the paper's size): G projects z to
  4x4x256 and stacks log2(R/4) up-blocks of 256 channels (3 at 32px). D stacks blocks of 128
  channels that downsample until the map is 8x8, then two blocks that keep it (at 32px: down,
  down, -, -, the paper's four blocks).
* ``resnet19`` (the seed's table at 128px): channels are a function of the feature map's size,
  read from the 128px table. G: 4x4x512 stem, then up-blocks to sizes 8..R with channels
  8:512, 16:256, 32:256, 64:128, 128:64. D: down-blocks from R/2 to 2x2 with channels
  64:64, 32:128, 16:256, 8:256, 4:512, 2:512, so D always ends at 2x2x512 and G always starts
  at 4x4x512; smaller images drop the rows at the large-map end of each table.

The six flags (``skip cin opt sum tan eps``) change the blocks as DESIGN.md's table says.
Channel counts are multiplied by ``cfg.width`` and rounded half up, never below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from repro.gan import normalization
from repro.gan.blocks import (BNReLU, ConvLayer, Discriminator, DResBlock, FlattenLinear, Generator, GlobalPoolHead,
                              GResBlock, LinearStem, OutputActivation)

if TYPE_CHECKING:
    from repro.config import TrainConfig

RESOLUTIONS = (16, 32, 64, 128)
STEM_SIZE = 4  # the generator's linear layer outputs a 4x4 map
BN_EPS = {False: 1e-5, True: 2e-5}  # TensorFlow's default vs the EPS flag (GitHub / Chainer)

# ResNet19 (seed table, 128px): channels by feature-map size.
RESNET19_G_CHANNELS = {4: 512, 8: 512, 16: 256, 32: 256, 64: 128, 128: 64}
RESNET19_D_CHANNELS = {64: 64, 32: 128, 16: 256, 8: 256, 4: 512, 2: 512}
RESNET_CIFAR_G_CHANNELS = 256
RESNET_CIFAR_D_CHANNELS = 128
RESNET_CIFAR_D_FINAL_SIZE = 8  # downsample to 8x8, then two blocks at 8x8


@dataclass(frozen=True)
class Schedule:
    """Channels at the paper's widths. ``d_blocks``: (out_channels, downsample) per block."""

    g_stem: int
    g_blocks: tuple[int, ...]
    d_blocks: tuple[tuple[int, bool], ...]


def _check(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unsupported resolution {resolution}; supported: {', '.join(map(str, RESOLUTIONS))}")
    return int(math.log2(resolution))


def resnet_cifar_schedule(resolution: int) -> Schedule:
    """The paper's ResNet CIFAR at ``resolution`` (see the module docstring)."""
    log_r = _check(resolution)
    n_up = log_r - int(math.log2(STEM_SIZE))
    n_down = log_r - int(math.log2(RESNET_CIFAR_D_FINAL_SIZE))
    d = tuple((RESNET_CIFAR_D_CHANNELS, True) for _ in range(n_down)) + ((RESNET_CIFAR_D_CHANNELS, False),) * 2
    return Schedule(RESNET_CIFAR_G_CHANNELS, (RESNET_CIFAR_G_CHANNELS,) * n_up, d)


def resnet19_schedule(resolution: int) -> Schedule:
    """ResNet19 at ``resolution``: the seed's 128px table, channels keyed by map size."""
    _check(resolution)
    g_sizes = [STEM_SIZE * 2 ** i for i in range(1, int(math.log2(resolution // STEM_SIZE)) + 1)]
    d_sizes = [resolution // 2 ** i for i in range(1, int(math.log2(resolution // 2)) + 1)]
    return Schedule(RESNET19_G_CHANNELS[STEM_SIZE], tuple(RESNET19_G_CHANNELS[s] for s in g_sizes),
                    tuple((RESNET19_D_CHANNELS[s], True) for s in d_sizes))


def scale_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def build_resnet(cfg: "TrainConfig", schedule: Schedule) -> tuple[Generator, Discriminator]:
    """Build (G, D) from ``schedule`` and the config's width, channels, z_dim, d_norm, sn_impl, flags."""
    flags = set(cfg.flags)
    w = cfg.width
    eps = BN_EPS["eps" in flags]
    out_act = OutputActivation("tanh" if "tan" in flags else "sigmoid")
    value_range = OutputActivation.RANGES[out_act.kind]

    # ---- generator
    c = scale_channels(schedule.g_stem, w)
    g_layers = [LinearStem(cfg.z_dim, c, STEM_SIZE)]
    for c_out in schedule.g_blocks:
        g_layers.append(GResBlock(c, scale_channels(c_out, w), eps))
        c = scale_channels(c_out, w)
    g_layers += [BNReLU(c, eps), ConvLayer(nn.Conv2d(c, cfg.channels, 3, padding=1)), out_act]
    generator = Generator(g_layers, cfg.z_dim, value_range)

    # ---- discriminator
    c = cfg.channels
    d_layers = []
    for i, (c_out, down) in enumerate(schedule.d_blocks):
        c_out = scale_channels(c_out, w)
        d_layers.append(DResBlock(
            c, c_out, downsample=down, norm=cfg.d_norm, sn_impl=cfg.sn_impl,
            optimized=(i == 0 and "opt" in flags), skip="skip" in flags,
            hidden_rule="c_in" if "cin" in flags else "c_out",
            pre_norm=i > 0,  # the first block reads raw pixels: no normalization there
        ))
        c = c_out
    d_layers.append(GlobalPoolHead(normalization.d_feature_norm(cfg.d_norm, c), "sum" if "sum" in flags else "mean"))
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c, 1)))
    discriminator = Discriminator(d_layers, cfg.channels, cfg.resolution, value_range)
    return generator, discriminator


def build_resnet_cifar(cfg: "TrainConfig"):
    return build_resnet(cfg, resnet_cifar_schedule(cfg.resolution))


def build_resnet19(cfg: "TrainConfig"):
    return build_resnet(cfg, resnet19_schedule(cfg.resolution))
