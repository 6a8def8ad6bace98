"""The ResNet blocks of the study (compare_gan ``resnet_ops.ResNetBlock``) and of the SNGAN code.

Both expose ``structure()`` for ``repro.arch.archdiff``; docs/design.md, "The six ResNet differences",
names the paper's flags, and ``resnet_code`` (``compare_gan`` | ``sngan``) the details the paper
did not list (see ``repro.gan.resnet``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.errors import InputError
from repro.gan import normalization
from repro.gan.blocks import _find_conv, bn_attrs, conv_kind, norm_kind
from repro.gan.resample import UPSAMPLERS, downsample2x

G_SHORTCUTS = ("conv3x3", "conv1x1", "identity")
SKIP_RULES = ("channels", "channels_or_downsample")


class PoolThen(nn.Module):
    """``inner(avgpool2x2(x))``: the optimized first block's shortcut (pool, then 1x1 conv)."""

    pools_first = True

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(downsample2x(x))


class GResBlock(nn.Module):
    """Generator block: BN ReLU [up] conv3x3(c_in -> c_out) BN ReLU conv3x3(c_out -> c_out), plus shortcut.

    compare_gan (resnet_ops.py:109-182, ``is_gen_block=True``): ``upsample="unpool"`` (zero
    insertion) in the first conv, and the shortcut is ``unpool`` then a 3x3 conv (``_get_conv``'s
    default kernel, even without resampling). SNGAN (gen_models/resblocks.py:17-56):
    ``upsample="nearest"`` and a 1x1 conv shortcut after upsampling, the identity when the block
    neither resamples nor changes channels. ``upsample=None``: no resampling (compare_gan's ResNet19
    blocks beyond the image size, resnet5.py:79-85). (N, c_in, S, S) -> (N, c_out, 2S or S, 2S or S).
    """

    def __init__(self, c_in: int, c_out: int, bn_eps: float, *, upsample: str | None = "unpool",
                 shortcut: str = "conv3x3"):
        super().__init__()
        if upsample is not None and upsample not in UPSAMPLERS:
            raise InputError(f"invalid upsample {upsample!r}; valid choices: {', '.join(UPSAMPLERS)}, None")
        if shortcut not in G_SHORTCUTS:
            raise InputError(f"invalid generator shortcut {shortcut!r}; valid choices: {', '.join(G_SHORTCUTS)}")
        if shortcut == "identity" and (c_in != c_out or upsample is not None):
            raise InputError("an identity shortcut needs c_in == c_out and no upsampling")
        self.c_in, self.c_out, self.upsample = c_in, c_out, upsample
        self.bn1 = normalization.BatchNorm2d(c_in, eps=bn_eps)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = normalization.BatchNorm2d(c_out, eps=bn_eps)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        k = {"conv3x3": 3, "conv1x1": 1}.get(shortcut)
        self.shortcut = nn.Identity() if k is None else nn.Conv2d(c_in, c_out, k, padding=k // 2)

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return UPSAMPLERS[self.upsample](x) if self.upsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self._up(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(self._up(x))

    def table_label(self):
        return ("ResBlock", (3, 3, 1), "U" if self.upsample else "-")

    def structure(self) -> dict:
        return {"part": "block", "resample": "U" if self.upsample else "-", "in_channels": self.c_in,
                "out_channels": self.c_out, "hidden_channels": self.conv1.out_channels,
                "upsampling": self.upsample or "-", "g_shortcut": conv_kind(self.shortcut),
                "bn_eps": self.bn1.eps if self.bn1.eps == self.bn2.eps else f"{self.bn1.eps}/{self.bn2.eps}",
                "bn_decay": bn_attrs(self.bn1)["bn_decay"]}


class DResBlock(nn.Module):
    """Discriminator block, pre-activation or optimized (docs/design.md, "The six ResNet differences").

    pre-activation (compare_gan resnet_ops.py:136-182, ``is_gen_block=False``):
      [norm] ReLU conv3x3(c_in->h) [norm] ReLU conv3x3(h->c_out) [avgpool 2x2], plus the shortcut
      ``conv3x3`` (default), pooled after the conv when downsampling. The first norm acts on the
      block's input, in the first block on the raw image, as compare_gan does.
      With SKIP the shortcut is the input itself, a 1x1 conv where ``skip_rule`` says it must be
      learnable: ``"channels"`` (the paper's description: only where the channels change) or
      ``"channels_or_downsample"`` (the SNGAN code, dis_models/resblocks.py:20).
    optimized (OPT, first block only): conv3x3(c_in->c_out) [norm] ReLU conv3x3 [avgpool];
      no leading ReLU, shortcut avgpool then 1x1 conv, hidden channels = c_out.
    ``hidden_rule`` is ``"c_out"`` (default) or ``"c_in"`` (CIN).
    (N, c_in, S, S) -> (N, c_out, ceil(S/2) or S, ceil(S/2) or S).
    """

    def __init__(self, c_in: int, c_out: int, *, downsample: bool, norm: str, sn_impl: str,
                 optimized: bool = False, skip: bool = False, skip_rule: str = "channels",
                 hidden_rule: str = "c_out"):
        super().__init__()
        if hidden_rule not in ("c_out", "c_in"):
            raise InputError(f"invalid hidden_rule {hidden_rule!r}; valid choices: c_out, c_in")
        if skip_rule not in SKIP_RULES:
            raise InputError(f"invalid skip_rule {skip_rule!r}; valid choices: {', '.join(SKIP_RULES)}")
        self.c_in, self.c_out, self.downsample, self.optimized = c_in, c_out, downsample, optimized
        self.hidden_rule = "c_out" if optimized else hidden_rule  # OPT puts c_out inside
        hidden = c_out if self.hidden_rule == "c_out" else c_in
        if optimized:
            self.pre = nn.Identity()  # no leading activation
        else:
            self.pre = nn.Sequential(normalization.d_feature_norm(norm, c_in), nn.ReLU())
        self.conv1 = normalization.d_conv(norm, sn_impl, c_in, hidden, 3, padding=1)
        self.norm2 = normalization.d_feature_norm(norm, hidden)
        self.conv2 = normalization.d_conv(norm, sn_impl, hidden, c_out, 3, padding=1)
        learnable = c_in != c_out or (skip_rule == "channels_or_downsample" and downsample)
        if optimized:
            self.shortcut = PoolThen(normalization.d_conv(norm, sn_impl, c_in, c_out, 1))
        elif skip:
            self.shortcut = normalization.d_conv(norm, sn_impl, c_in, c_out, 1) if learnable else nn.Identity()
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
        leading = [m for m in self.pre.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
        first_norm = self.pre[0] if isinstance(self.pre, nn.Sequential) else None
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
            "norm": norm_kind(self.conv1, self.norm2),
            "input_norm": norm_kind(None, first_norm),
            **bn_attrs(self.norm2),
        }


__all__ = ["G_SHORTCUTS", "SKIP_RULES", "PoolThen", "GResBlock", "DResBlock"]
