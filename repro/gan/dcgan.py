"""SNDCGAN and DCGAN, as compare_gan describes them (Kurach et al. 2019, Section 3 / Appendix).

SNDCGAN (Miyato et al. 2018's "standard CNN", compare_gan ``sndcgan``):
  G: Linear z -> (R/8)x(R/8)x512, BN, ReLU; three 4x4 stride-2 transposed convs to 256, 128, 64
     channels with BN, ReLU; 3x3 stride-1 conv to C channels; sigmoid.
  D: conv3x3 s1 64; conv4x4 s2 128; conv3x3 s1 128; conv4x4 s2 256; conv3x3 s1 256;
     conv4x4 s2 512; conv3x3 s1 512; each followed by leaky ReLU (slope 0.1); flatten; linear -> 1.
DCGAN (Radford et al. 2016, compare_gan ``dcgan``):
  G: Linear z -> (R/16)x(R/16)x512, BN, ReLU; 5x5 stride-2 transposed convs to 256, 128, 64
     with BN, ReLU; a last 5x5 stride-2 transposed conv to C channels; sigmoid.
  D: 5x5 stride-2 convs to 64, 128, 256, 512, leaky ReLU (slope 0.2); flatten; linear -> 1.

D normalization (``cfg.d_norm``): every D conv and linear goes through ``d_conv``/``d_linear``
(spectral norm when ``sn``), and ``d_feature_norm`` (BN or LN) follows every D conv except the
first, which sees raw pixels (the DCGAN paper's and compare_gan's choice).
Padding: symmetric ('same' for stride 1; exact halving/doubling for stride 2). TensorFlow's
'SAME' pads stride-2 5x5 convs asymmetrically (1 before, 2 after): a known TF-vs-PyTorch detail.
Channel counts are multiplied by ``cfg.width`` (rounded half up, at least 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from repro.gan import normalization
from repro.gan.blocks import ConvLayer, ConvNormAct, Discriminator, FlattenLinear, Generator, LinearStem, OutputActivation
from repro.gan.resnet import scale_channels

if TYPE_CHECKING:
    from repro.config import TrainConfig

RESOLUTIONS = (16, 32, 64, 128)
G_BN_EPS = 1e-5
_NORM_LABEL = {"bn": "BN", "ln": "LN"}


def _check(resolution: int, divisor: int) -> None:
    if resolution not in RESOLUTIONS or resolution % divisor:
        raise ValueError(f"unsupported resolution {resolution}; supported: {', '.join(map(str, RESOLUTIONS))}")


def _d_layer(cfg: "TrainConfig", c_in: int, c_out: int, k: int, stride: int, slope: float, first: bool) -> nn.Module:
    conv = normalization.d_conv(cfg.d_norm, cfg.sn_impl, c_in, c_out, k, stride=stride, padding=k // 2 if stride == 1
                                else (k - stride + 1) // 2)
    # compare_gan's (SN)DCGAN batch norm: decay 0.999, eps 1e-3 (normalization.D_BATCH_NORM)
    norm = nn.Identity() if first else normalization.d_feature_norm(cfg.d_norm, c_out,
                                                                    **_bn_kwargs(normalization.D_BATCH_NORM["dcgan"]))
    label = "" if first else _NORM_LABEL.get(cfg.d_norm, "")
    return ConvNormAct(conv, norm, "lrelu", slope, norm_label=label)


def _bn_kwargs(row: dict) -> dict:
    if "bn_eps" in row:  # already d_feature_norm's keyword names
        return dict(row)
    return {"bn_eps": row["eps"], "bn_momentum": row["momentum"]}


def _g_up(c_in: int, c_out: int, k: int) -> nn.Module:
    # stride-2 transposed conv that exactly doubles: out = 2*in for k=4 (p=1) and k=5 (p=2, output_padding=1)
    pad, out_pad = (1, 0) if k == 4 else (2, 1)
    return ConvNormAct(nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=pad, output_padding=out_pad),
                       nn.BatchNorm2d(c_out, eps=G_BN_EPS), "relu", norm_label="BN")


def build_sndcgan(cfg: "TrainConfig") -> tuple[Generator, Discriminator]:
    _check(cfg.resolution, 8)
    s = lambda c: scale_channels(c, cfg.width)  # noqa: E731
    r8 = cfg.resolution // 8
    g_layers = [LinearStem(cfg.z_dim, s(512), r8, bn_eps=G_BN_EPS),
                _g_up(s(512), s(256), 4), _g_up(s(256), s(128), 4), _g_up(s(128), s(64), 4),
                ConvLayer(nn.Conv2d(s(64), cfg.channels, 3, padding=1)), OutputActivation("sigmoid")]
    d_spec = [(64, 3, 1), (128, 4, 2), (128, 3, 1), (256, 4, 2), (256, 3, 1), (512, 4, 2), (512, 3, 1)]
    d_layers, c = [], cfg.channels
    for i, (c_out, k, stride) in enumerate(d_spec):
        d_layers.append(_d_layer(cfg, c, s(c_out), k, stride, 0.1, first=i == 0))
        c = s(c_out)
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c * r8 * r8, 1)))
    rng = OutputActivation.RANGES["sigmoid"]
    return Generator(g_layers, cfg.z_dim, rng), Discriminator(d_layers, cfg.channels, cfg.resolution, rng)


def build_dcgan(cfg: "TrainConfig") -> tuple[Generator, Discriminator]:
    _check(cfg.resolution, 16)
    s = lambda c: scale_channels(c, cfg.width)  # noqa: E731
    r16 = cfg.resolution // 16
    g_layers = [LinearStem(cfg.z_dim, s(512), r16, bn_eps=G_BN_EPS),
                _g_up(s(512), s(256), 5), _g_up(s(256), s(128), 5), _g_up(s(128), s(64), 5),
                ConvLayer(nn.ConvTranspose2d(s(64), cfg.channels, 5, stride=2, padding=2, output_padding=1)),
                OutputActivation("sigmoid")]
    d_layers, c = [], cfg.channels
    for i, c_out in enumerate((64, 128, 256, 512)):
        d_layers.append(_d_layer(cfg, c, s(c_out), 5, 2, 0.2, first=i == 0))
        c = s(c_out)
    d_layers.append(FlattenLinear(normalization.d_linear(cfg.d_norm, cfg.sn_impl, c * r16 * r16, 1)))
    rng = OutputActivation.RANGES["sigmoid"]
    return Generator(g_layers, cfg.z_dim, rng), Discriminator(d_layers, cfg.channels, cfg.resolution, rng)
