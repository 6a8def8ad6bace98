"""SNDCGAN and DCGAN as compare_gan writes them (compare_gan/architectures/sndcgan.py, dcgan.py).

SNDCGAN (Miyato et al. 2018's "standard CNN"; sndcgan.py:36-127):
  G: Linear z -> (R/8)^2 x 512, BN over that flat vector (one scale and shift per feature), ReLU,
     reshape to (R/8)x(R/8)x512; three 4x4 stride-2 transposed convs to 256, 128, 64 channels,
     each BN, ReLU; a 3x3 stride-1 transposed conv to C channels; (tanh(x) + 1) / 2.
  D: x * 2 - 1; conv3x3 s1 64; conv4x4 s2 128; conv3x3 s1 128; conv4x4 s2 256; conv3x3 s1 256;
     conv4x4 s2 512; conv3x3 s1 512; each leaky ReLU (slope 0.1); flatten; linear -> 1.
     compare_gan's SNDCGAN discriminator has no batch or layer norm (sndcgan.py:103-126; the 2018
     code asserted d_norm in {none, sn}): ``d_norm`` bn / ln here are beyond the study.
DCGAN (Radford et al. 2016; dcgan.py:39-129):
  G: Linear z -> (R/16)x(R/16)x512, BN per channel, ReLU; 5x5 stride-2 transposed convs to 256,
     128, 64 with BN, ReLU; a last 5x5 stride-2 transposed conv to C channels; 0.5 tanh(x) + 0.5.
  D: 5x5 stride-2 convs to 64, 128, 256, 512, leaky ReLU (slope 0.2), BN after every conv but the
     first (only with d_norm bn; compare_gan has no layer norm here); flatten; linear -> 1.

D normalization (``cfg.d_norm``): every D conv and linear goes through ``d_conv``/``d_linear``
(spectral norm when ``sn``); ``d_feature_norm`` (BN or LN) follows every D conv except the first.
Batch norm: eps 1e-5, decay 0.9 (normalization.D_BN_EPS, D_BN_MOMENTUM). Padding is TF 'SAME'
(``blocks.same_conv``/``same_deconv``): a stride-2 5x5 conv pads 1 before and 2 after.
Channel counts are multiplied by ``cfg.width`` (rounded half up, at least 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from repro import choices
from repro.errors import InputError
from repro.gan import normalization
from repro.gan.blocks import (
    ConvLayer,
    ConvNormAct,
    Discriminator,
    FlattenLinear,
    Generator,
    InputRescale,
    LinearStem,
    OutputActivation,
    same_conv,
    same_deconv,
)
from repro.gan.resnet import scale_channels

if TYPE_CHECKING:
    from repro.config import TrainConfig

RESOLUTIONS = choices.RESOLUTIONS["sndcgan"]
G_BN_EPS = 1e-5  # compare_gan's gin configs: standardize_batch.epsilon = 1e-5 (sndcgan_celebahq128.gin)
_NORM_LABEL = {"bn": "BN", "ln": "LN"}


def _check(resolution: int, divisor: int) -> None:
    if resolution not in RESOLUTIONS or resolution % divisor:
        raise InputError(f"unsupported resolution {resolution}; supported: {', '.join(map(str, RESOLUTIONS))}")


def _d_layer(cfg: "TrainConfig", c_in: int, c_out: int, k: int, stride: int, slope: float, first: bool) -> nn.Module:
    conv = same_conv(lambda pad: normalization.d_conv(cfg.d_norm, cfg.sn_impl, c_in, c_out, k, stride=stride,
                                                      padding=pad), k, stride)
    norm = nn.Identity() if first else normalization.d_feature_norm(cfg.d_norm, c_out)
    label = "" if first else _NORM_LABEL.get(cfg.d_norm, "")
    return ConvNormAct(conv, norm, "lrelu", slope, norm_label=label)


def _g_up(c_in: int, c_out: int, k: int) -> nn.Module:
    return ConvNormAct(same_deconv(c_in, c_out, k, 2), normalization.BatchNorm2d(c_out, eps=G_BN_EPS), "relu", norm_label="BN")


def build_sndcgan(cfg: "TrainConfig") -> tuple[Generator, Discriminator]:
    _check(cfg.resolution, 8)
    s = lambda c: scale_channels(c, cfg.width)  # noqa: E731
    r8 = cfg.resolution // 8
    g_layers = [LinearStem(cfg.z_dim, s(512), r8, bn_eps=G_BN_EPS, bn_over="features"),
                _g_up(s(512), s(256), 4), _g_up(s(256), s(128), 4), _g_up(s(128), s(64), 4),
                ConvLayer(same_deconv(s(64), cfg.channels, 3, 1)), OutputActivation("tanh_unit")]
    d_spec = [(64, 3, 1), (128, 4, 2), (128, 3, 1), (256, 4, 2), (256, 3, 1), (512, 4, 2), (512, 3, 1)]
    d_layers, c = [InputRescale()], cfg.channels
    for i, (c_out, k, stride) in enumerate(d_spec):
        d_layers.append(_d_layer(cfg, c, s(c_out), k, stride, 0.1, first=i == 0))
        c = s(c_out)
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c * r8 * r8, 1)))
    rng = OutputActivation.RANGES["tanh_unit"]
    return Generator(g_layers, cfg.z_dim, rng), Discriminator(d_layers, cfg.channels, cfg.resolution, rng)


def build_dcgan(cfg: "TrainConfig") -> tuple[Generator, Discriminator]:
    _check(cfg.resolution, 16)
    s = lambda c: scale_channels(c, cfg.width)  # noqa: E731
    r16 = cfg.resolution // 16
    g_layers = [LinearStem(cfg.z_dim, s(512), r16, bn_eps=G_BN_EPS, bn_over="channels"),
                _g_up(s(512), s(256), 5), _g_up(s(256), s(128), 5), _g_up(s(128), s(64), 5),
                ConvLayer(same_deconv(s(64), cfg.channels, 5, 2)), OutputActivation("tanh_unit")]
    d_layers, c = [], cfg.channels
    for i, c_out in enumerate((64, 128, 256, 512)):
        d_layers.append(_d_layer(cfg, c, s(c_out), 5, 2, 0.2, first=i == 0))
        c = s(c_out)
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c * r16 * r16, 1)))
    rng = OutputActivation.RANGES["tanh_unit"]
    return Generator(g_layers, cfg.z_dim, rng), Discriminator(d_layers, cfg.channels, cfg.resolution, rng)
