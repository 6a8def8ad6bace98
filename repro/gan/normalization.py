"""Discriminator normalizations of the study: ``none``, ``bn``, ``ln``, ``sn``.

Spectral norm (Miyato et al. 2018) comes in two named implementations that must never be
confused:

- ``compare_gan`` (the study's, :class:`SpectralNorm`): the torch weight is viewed as the
  TensorFlow kernel reshaped to ``W`` of shape ``(kh*kw*c_in, c_out)`` (linear: ``(in, out)``);
  a persistent, non-trainable buffer ``u`` in R^{kh*kw*c_in} starts N(0, 1); every forward call,
  in train AND eval mode, runs one power iteration
  ``v = l2n(W^T u); u = l2n(W v)``, stores ``u``, and divides the weight by
  ``sigma = u^T W v`` (``u``, ``v`` without gradient). ``l2n(x) = x / sqrt(max(sum x^2, 1e-12))``
  as ``tf.nn.l2_normalize``.
- ``torch`` (``torch.nn.utils.parametrizations.spectral_norm``): the weight is viewed as
  ``(c_out, c_in*kh*kw)`` so ``u`` lives in R^{c_out} and ``v`` is stored too; 15 power
  iterations at registration; one per call in train mode only (eval reuses the stored ``u``,
  ``v``); ``l2n`` is ``x / max(||x||, eps)``.

Both give ``sigma`` -> the largest singular value as iterations accumulate (row permutations
and transposition leave singular values unchanged), but the stored vectors, their shapes,
their state_dict keys and the number of iterations per step differ.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils import parametrize

from repro import choices
from repro.errors import InputError
from repro.registry import check_choice

NORMS = choices.D_NORMS
SN_IMPLS = choices.SN_IMPLS

SN_EPS = 1e-12  # compare_gan spectral_norm: epsilon of tf.nn.l2_normalize (bounds the squared norm)
# tf.contrib.layers.layer_norm (compare_gan's ``layer_norm``) hard-codes variance_epsilon = 1e-12.
LN_EPS = 1e-12
# compare_gan's discriminator batch norm, every architecture: decay 0.9, eps 1e-5 (torch momentum =
# 1 - decay = 0.1). HEAD: arch_ops.standardize_batch defaults to decay 0.999 / eps 1e-3, but every
# example gin config sets standardize_batch.decay = 0.9 and .epsilon = 1e-5 (resnet_cifar10.gin,
# sndcgan_celebahq128.gin, dcgan_celeba64.gin), and it is one configurable for G and D alike; the
# 2018 code hard-coded the same values (src/gans/resnet_architecture.py:49-58 batch_norm_resnet,
# src/gans/dcgan_architecture.py:28-37 batch_norm_dcgan).
D_BN_EPS = 1e-5
D_BN_MOMENTUM = 0.1

_SN_LAYERS = (nn.Conv2d, nn.Linear)

# What a batch norm's running variance averages (config field ``bn_variance``): ``biased`` is the
# batch variance itself, as compare_gan's moving average (arch_ops.py:294-297, 110-114: the moments of
# tf.nn.normalize_moments, divided by n); ``unbiased`` is torch's n / (n - 1) times it.
BN_VARIANCES = choices.BN_VARIANCES


class _MovingVariance:
    """Batch norm whose running variance averages the biased batch variance when ``variance`` is
    ``"biased"``; ``"unbiased"`` (the construction default) is torch's own forward, bit for bit.

    The normalization in train mode is the same either way (batch mean and biased batch variance);
    only the running statistics that eval mode uses differ. The update is compare_gan's
    ``v -= (v - batch) * (1 - decay)`` with ``decay = 1 - momentum`` (``lerp``), mean and variance
    alike; ``num_batches_tracked`` counts as in torch, so the state_dict keys do not change.
    :func:`set_bn_variance` sets it for a whole net.
    """

    variance = "unbiased"

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and self.variance == "biased"):
            return super().forward(x)
        if self.momentum is None or not self.track_running_stats:
            raise ValueError("variance='biased' needs a momentum and running statistics")
        self._check_input_dim(x)
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.num_batches_tracked.add_(1)
        # the running buffers are left out: F.batch_norm would update them with the unbiased variance
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class BatchNorm1d(_MovingVariance, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` with a choice of running variance (:class:`_MovingVariance`)."""


class BatchNorm2d(_MovingVariance, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with a choice of running variance (:class:`_MovingVariance`)."""


def set_bn_variance(net: nn.Module, variance: str) -> None:
    """Make every batch norm of ``net`` average ``variance`` (one of :data:`BN_VARIANCES`). A torch
    batch norm that cannot (not one of this module's classes) is a ``TypeError``: it would keep
    torch's rule whatever the config says."""
    check_choice("bn_variance", variance, BN_VARIANCES)
    for name, m in net.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not isinstance(m, _MovingVariance):
                raise TypeError(f"batch norm {name or type(net).__name__} is a plain {type(m).__name__}; build it "
                                 "with repro.gan.normalization.BatchNorm1d/BatchNorm2d so bn_variance applies")
            m.variance = variance


def sn_matrix(weight: Tensor) -> Tensor:
    """The compare_gan view of a torch weight: conv ``(c_out, c_in, kh, kw)`` -> ``(kh*kw*c_in, c_out)``
    (permute to the TF kernel layout ``(kh, kw, c_in, c_out)``, then flatten the leading axes);
    linear ``(out, in)`` -> ``(in, out)``. A view-compatible reshape: gradients flow through it."""
    if weight.dim() == 4:
        return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0])
    if weight.dim() == 2:
        return weight.t()
    raise InputError(f"spectral norm needs a 2-D (linear) or 4-D (conv) weight, got shape {tuple(weight.shape)}")


def l2_normalize(x: Tensor, eps: float = SN_EPS) -> Tensor:
    """``x / sqrt(max(sum(x^2), eps))`` over the whole tensor, as ``tf.nn.l2_normalize(axis=None)``."""
    return x * torch.rsqrt(torch.clamp(x.square().sum(), min=eps))


def power_iteration(w_mat: Tensor, u: Tensor, eps: float = SN_EPS) -> tuple[Tensor, Tensor, Tensor]:
    """One compare_gan power iteration on ``w_mat`` (rows, cols) from ``u`` (rows,).

    Returns ``(u_new (rows,), v (cols,), sigma ())``: ``u_new`` and ``v`` carry no gradient;
    ``sigma = u_new^T W v`` is differentiable w.r.t. ``w_mat``. Nothing is written.
    """
    with torch.no_grad():
        v = l2_normalize(w_mat.t() @ u, eps)
        u_new = l2_normalize(w_mat @ v, eps)
    sigma = u_new @ (w_mat @ v)
    return u_new, v, sigma


class SpectralNorm(nn.Module):
    """compare_gan spectral normalization around a ``Conv2d`` or ``Linear`` layer.

    ``forward(x)`` runs the wrapped layer with ``W / sigma`` in place of its weight and advances
    the persistent buffer ``u`` by one power iteration (train and eval mode alike: eval outputs
    therefore depend on how many calls came before, exactly as in compare_gan).

    state_dict keys: ``module.weight`` (the raw, trainable weight), ``module.bias``, ``u``
    (shape ``(kh*kw*c_in,)`` or ``(in_features,)``).

    Args:
        module: the layer to normalize (its ``weight`` stays the raw parameter).
        generator: CPU generator for the N(0, 1) start of ``u``; ``None`` draws from torch's
            default generator, like the layer's own weight init (deterministic under
            ``torch.manual_seed``).
        eps: the l2-normalisation epsilon (on the squared norm).
    """

    def __init__(self, module: nn.Module, *, generator: torch.Generator | None = None, eps: float = SN_EPS):
        super().__init__()
        if not isinstance(module, _SN_LAYERS):
            valid = ", ".join(t.__name__ for t in _SN_LAYERS)
            raise InputError(f"SpectralNorm wraps one of {valid}, got {type(module).__name__}")
        self.module = module
        self.eps = float(eps)
        weight = module.weight
        rows = sn_matrix(weight.detach()).shape[0]
        # Drawn on the CPU, then moved: the start of u does not depend on the device's RNG.
        u = torch.randn(rows, generator=generator, dtype=torch.float32).to(device=weight.device, dtype=weight.dtype)
        self.register_buffer("u", u)  # persistent: checkpoints and parameter hashes cover it

    @property
    def raw_weight(self) -> Tensor:
        """The trainable, unnormalized weight (what the L2 penalty and optimiser see)."""
        return self.module.weight

    def _sigma_step(self) -> tuple[Tensor, Tensor]:
        u_new, _, sigma = power_iteration(sn_matrix(self.module.weight), self.u, self.eps)
        return u_new, sigma

    def estimate(self) -> Tensor:
        """The sigma the next forward call will divide by, computed without advancing ``u``."""
        with torch.no_grad():
            return self._sigma_step()[1]

    def normalized_weight(self) -> Tensor:
        """``W / sigma`` as the next forward call will use it, without advancing ``u``."""
        return self.module.weight / self._sigma_step()[1]

    def forward(self, x: Tensor) -> Tensor:
        u_new, sigma = self._sigma_step()
        with torch.no_grad():
            self.u.copy_(u_new)  # u_new (not the buffer) is what sigma's graph holds
        weight = self.module.weight / sigma
        if isinstance(self.module, nn.Conv2d):
            return self.module._conv_forward(x, weight, self.module.bias)
        return F.linear(x, weight, self.module.bias)

    def extra_repr(self) -> str:
        return f"impl=compare_gan, u={tuple(self.u.shape)}, eps={self.eps:g}"


def spectral_norm(module: nn.Module, impl: str = "compare_gan", *, generator: torch.Generator | None = None) -> nn.Module:
    """Spectrally normalize a ``Conv2d`` or ``Linear`` layer with the named implementation.

    ``impl="compare_gan"`` returns :class:`SpectralNorm` wrapping ``module`` (u in R^{kh*kw*c_in},
    updated every call in train and eval mode). ``impl="torch"`` applies
    ``torch.nn.utils.parametrizations.spectral_norm`` in place and returns ``module`` (u in
    R^{c_out}, v stored too, 15 iterations at registration, updated only in train mode; keys
    ``parametrizations.weight.original``, ``parametrizations.weight.0._u``, ``._v``);
    ``generator`` is not used there (torch draws from its default generator).
    """
    check_choice("sn_impl", impl, SN_IMPLS)
    if not isinstance(module, _SN_LAYERS):
        valid = ", ".join(t.__name__ for t in _SN_LAYERS)
        raise InputError(f"spectral_norm applies to {valid}, got {type(module).__name__}")
    if impl == "compare_gan":
        return SpectralNorm(module, generator=generator)
    return nn.utils.parametrizations.spectral_norm(module, n_power_iterations=1, eps=SN_EPS)


def _torch_sn_parametrization(module: nn.Module):
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations.weight:
        if type(p).__name__ == "_SpectralNorm":
            return p
    return None


def spectral_norm_impl(module: nn.Module) -> str | None:
    """``"compare_gan"``, ``"torch"`` or ``None`` for a layer (or wrapper) without spectral norm."""
    if isinstance(module, SpectralNorm):
        return "compare_gan"
    if _torch_sn_parametrization(module) is not None:
        return "torch"
    return None


def is_spectral_normed(module: nn.Module) -> bool:
    """Whether ``module`` is a spectrally normalized layer (either implementation)."""
    return spectral_norm_impl(module) is not None


def raw_weight(layer: nn.Module) -> Tensor:
    """The trainable weight of a conv/linear layer, SN-wrapped or not, without running a power iteration
    (reading ``.weight`` of a torch-parametrized layer would run one in train mode)."""
    if isinstance(layer, SpectralNorm):
        return layer.module.weight
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, Tensor):
        raise InputError(f"{type(layer).__name__} has no weight tensor")
    return weight


def sigma(module: nn.Module) -> float:
    """The current spectral-norm estimate of a normalized layer, without changing any state.

    compare_gan: the sigma the next forward call divides by. torch: ``u^T W v`` from the stored
    ``u``, ``v`` (what an eval-mode forward divides by). A layer without SN is a ``ValueError``.
    """
    if isinstance(module, SpectralNorm):
        return float(module.estimate())
    p = _torch_sn_parametrization(module)
    if p is None:
        raise InputError(f"{type(module).__name__} is not spectrally normalized (valid impls: {', '.join(SN_IMPLS)})")
    with torch.no_grad():
        w = module.parametrizations.weight.original
        w_mat = w.movedim(p.dim, 0).flatten(1)
        return float(torch.vdot(p._u, w_mat @ p._v))


def d_conv(norm: str, sn_impl: str, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
           padding: int = 0, bias: bool = True) -> nn.Module:
    """A discriminator ``Conv2d`` (input ``(N, in_ch, H, W)``), spectrally normalized iff ``norm == "sn"``."""
    check_choice("d_norm", norm, NORMS)
    check_choice("sn_impl", sn_impl, SN_IMPLS)
    conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=bias)
    return spectral_norm(conv, sn_impl) if norm == "sn" else conv


def d_linear(norm: str, sn_impl: str, in_f: int, out_f: int, bias: bool = True) -> nn.Module:
    """A discriminator ``Linear`` (input ``(N, in_f)``), spectrally normalized iff ``norm == "sn"``."""
    check_choice("d_norm", norm, NORMS)
    check_choice("sn_impl", sn_impl, SN_IMPLS)
    linear = nn.Linear(in_f, out_f, bias=bias)
    return spectral_norm(linear, sn_impl) if norm == "sn" else linear


def d_feature_norm(norm: str, channels: int, *, bn_eps: float = D_BN_EPS,
                   bn_momentum: float = D_BN_MOMENTUM) -> nn.Module:
    """The feature normalization placed after a D conv, input and output ``(N, channels, H, W)``.

    ``bn``: ``BatchNorm2d`` (defaults = compare_gan's: TF decay 0.9 -> torch momentum 0.1, eps 1e-5;
    see :data:`D_BN_EPS`). ``ln``: layer norm over (C, H, W) per
    sample with a per-channel scale and offset. ``none`` and ``sn``: identity (SN acts on weights).
    """
    check_choice("d_norm", norm, NORMS)
    if norm == "bn":
        return BatchNorm2d(channels, eps=bn_eps, momentum=bn_momentum)
    if norm == "ln":
        # compare_gan calls tf.contrib.layers.layer_norm on NHWC: statistics over every axis but
        # the batch (begin_norm_axis=1), gamma/beta over the last axis only (begin_params_axis=-1),
        # i.e. per channel. GroupNorm with one group is exactly that; nn.LayerNorm([C, H, W])
        # would learn a per-pixel affine and tie the module to one resolution.
        return nn.GroupNorm(1, channels, eps=LN_EPS)
    return nn.Identity()


__all__ = ["NORMS", "SN_IMPLS", "BN_VARIANCES", "SN_EPS", "LN_EPS", "D_BN_EPS", "D_BN_MOMENTUM", "BatchNorm1d",
           "BatchNorm2d", "set_bn_variance", "SpectralNorm", "spectral_norm",
           "sn_matrix", "l2_normalize", "power_iteration", "spectral_norm_impl", "is_spectral_normed", "raw_weight", "sigma",
           "d_conv", "d_linear", "d_feature_norm"]
