"""x2 resampling of feature maps (N, C, H, W), each deterministic on every device.

* :func:`unpool2x`: compare_gan's generator upsampling (``resnet_ops.unpool``, resnet_ops.py:35-56):
  zero insertion, every input pixel goes to the top-left corner of its 2x2 cell and the other
  three are 0 ([[1, 2], [3, 4]] -> [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]).
* :func:`upsample_nearest2x`: the SNGAN authors' (``F.unpooling_2d`` in Chainer, which copies
  each pixel over its 2x2 cell: pfnet-research/sngan_projection gen_models/resblocks.py:8-10).
* :func:`downsample2x`: 2x2 average pooling, stride 2, with TensorFlow's 'SAME' rule
  (``tf.nn.pool(..., "AVG", "SAME", strides=[2, 2])``, resnet_ops.py:131-133): windows that
  run past the edge average the pixels they cover, so a 1x1 map stays itself (compare_gan's
  ResNet19 discriminator halves a 32x32 image six times: ..., 2x2, 1x1, 1x1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from repro.errors import InputError

RESAMPLERS = ("unpool", "nearest")


class _Unpool2x(torch.autograd.Function):
    """Zero insertion. Forward: strided assignment into zeros; backward: strided slice of the
    gradient. Both are plain copies (no scatter, no atomic adds), so both are deterministic and
    the backward is itself differentiable (double backward works)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        out = x.new_zeros((n, c, 2 * h, 2 * w))
        out[:, :, 0::2, 0::2] = x
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad[:, :, 0::2, 0::2]


def unpool2x(x: torch.Tensor) -> torch.Tensor:
    """Zero-insertion x2 upsampling (N, C, H, W) -> (N, C, 2H, 2W): ``out[..., 2i, 2j] = x[..., i, j]``,
    every other pixel 0 (compare_gan ``resnet_ops.unpool``)."""
    if x.dim() != 4:
        raise InputError(f"unpool2x expects (N, C, H, W), got shape {tuple(x.shape)}")
    return _Unpool2x.apply(x)


def upsample_nearest2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling (N, C, H, W) -> (N, C, 2H, 2W): each pixel repeated over its 2x2 cell.

    Written as broadcast + reshape: its backward is a plain sum, deterministic on every device.
    """
    n, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


UPSAMPLERS = {"unpool": unpool2x, "nearest": upsample_nearest2x}


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling, stride 2, TensorFlow 'SAME': (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2)).

    ``ceil_mode`` with no padding divides an edge window by the pixels it covers, which is TF's
    'SAME' average (padding excluded): identical to plain 2x2 pooling on even sizes, identity on 1x1.
    """
    return F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


__all__ = ["RESAMPLERS", "UPSAMPLERS", "unpool2x", "upsample_nearest2x", "downsample2x"]
