"""Discriminator penalties of the study (Kurach et al. 2019, Sec. 2; compare_gan ``penalty_lib.py``).

One signature for all: ``fn(discriminator, x_real, x_fake, *, generator, data_range=(0., 1.))``
returns the UNWEIGHTED scalar penalty P; the trainer adds ``lambda * P`` to the D loss.
Images are ``(N, C, H, W)`` (any ``(N, ...)`` works); ``x_fake`` is already detached.

- ``none``: 0.
- ``gp`` (WGAN-GP, Gulrajani et al. 2017, Eq. 3): alpha ~ U[0, 1) per sample,
  x_hat = x + alpha (x_fake - x), g = d(sum of logits)/d x_hat,
  slope = sqrt(1e-4 + sum g^2) per sample, P = mean((slope - 1)^2).
- ``dragan`` (Kodali et al. 2017, as compare_gan's ``dragan_penalty``): std = population std of
  the whole real batch (one scalar, ``tf.nn.moments``), x_noisy = clip(x + std (U[0, 1) - 0.5),
  data_range), gradient at x_noisy itself, same slope and P. See :data:`DRAGAN_RECIPES`.
- ``l2``: mean over D's weight tensors (see :func:`penalized_weights`) of sum(w^2)/2
  (``tf.nn.l2_loss``).

Random numbers come only from ``generator``, a CPU ``torch.Generator``: they are drawn on the
CPU (in the data's dtype; float32 for half types) then moved to the data's device, so a penalty
does not depend on the device RNG. The D forward inside ``gp``/``dragan`` is a real call: in train
mode it advances spectral-norm ``u`` and batch-norm running stats, as in compare_gan.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.utils import parametrize

from repro.errors import InputError
from repro.gan.normalization import raw_weight
from repro.registry import Registry

PenaltyFn = Callable[..., Tensor]

REGISTRY: Registry[PenaltyFn] = Registry("penalty")

SLOPE_EPS = 1e-4  # compare_gan: slopes = sqrt(0.0001 + sum(grad^2)); keeps sqrt differentiable at 0

# How DRAGAN's perturbation is sampled elsewhere: different recipes train different models, so an
# audit that compares DRAGAN runs across codebases should flag which one each used.
DRAGAN_RECIPE = "compare_gan"  # the recipe implemented here
DRAGAN_RECIPES = {
    "compare_gan": (
        "compare_gan/gans/penalty_lib.py (2019, the study's library; docs/design.md, Penalties): std = population std of the "
        "whole real batch; x_noisy = clip(x + std * (U[0,1) - 0.5), 0, 1); gradient of the logits at x_noisy; "
        "no interpolation."
    ),
    "compare_gan_v1": (
        "compare_gan/src/gans/DRAGAN.py (2018): x_p = x + 0.5 * std(x) * U[0,1) (one-sided noise, numpy std of "
        "the whole batch, drawn with numpy's global RNG); alpha ~ U[0,1) per sample; gradient at "
        "x + alpha (x_p - x) of the sigmoid output D(.), not the logits; no clipping."
    ),
    "paper": (
        "Kodali et al. 2017 (arXiv:1705.07215): penalise (||grad D(x + delta)|| - k)^2 with delta drawn from a "
        "Gaussian N(0, cI) around real points; the noise scale is a hyperparameter, not the batch std."
    ),
}


def _check_images(x_real: Tensor, x_fake: Tensor, need_same_shape: bool) -> None:
    for which, x in (("x_real", x_real), ("x_fake", x_fake)):
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise InputError(f"{which} must be a floating-point torch.Tensor")
        if x.dim() < 2 or x.shape[0] == 0:
            raise InputError(f"{which} must be a batch (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    if need_same_shape and x_real.shape != x_fake.shape:
        raise InputError(f"x_real and x_fake must have the same shape, got {tuple(x_real.shape)} and {tuple(x_fake.shape)}")


def _check_generator(generator: torch.Generator) -> None:
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise InputError("generator must be a CPU torch.Generator (penalty noise is drawn on the CPU, then moved)")


def _check_range(data_range: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise InputError(f"data_range must be a pair (low, high), got {data_range!r}") from None
    if not lo < hi:
        raise InputError(f"data_range must have low < high, got {data_range!r}; use (0.0, 1.0) or (-1.0, 1.0)")
    return lo, hi


def draw_uniform(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """U[0, 1) of ``shape`` drawn on the CPU from ``generator``, then moved to ``like``'s device and dtype."""
    dtype = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    return torch.rand(shape, generator=generator, dtype=dtype).to(device=like.device, dtype=like.dtype)


def slope_penalty(discriminator: nn.Module, x_at: Tensor) -> Tensor:
    """mean((sqrt(1e-4 + ||dD/dx||^2) - 1)^2) at the points ``x_at`` (N, ...), differentiable w.r.t. D.

    ``x_at`` is treated as a leaf: the gradient is that of the summed logits w.r.t. it, as
    ``tf.gradients(logits, x)``, i.e. per-sample gradients when D treats samples independently.
    """
    x_at = x_at.detach().requires_grad_(True)
    logits = discriminator(x_at)
    (grad,) = torch.autograd.grad(logits.sum(), x_at, create_graph=True)
    slopes = torch.sqrt(SLOPE_EPS + grad.flatten(1).square().sum(dim=1))
    return (slopes - 1.0).square().mean()


@REGISTRY.register("none")
def no_penalty(discriminator: nn.Module, x_real: Tensor, x_fake: Tensor, *, generator: torch.Generator,
               data_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """No penalty: a zero scalar on ``x_real``'s device and dtype."""
    return x_real.new_zeros(())


@REGISTRY.register("gp")
def gradient_penalty(discriminator: nn.Module, x_real: Tensor, x_fake: Tensor, *, generator: torch.Generator,
                     data_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """WGAN-GP at random interpolates; one alpha per sample, drawn as ``rand(N, 1, ..., 1)``."""
    _check_images(x_real, x_fake, need_same_shape=True)
    _check_generator(generator)
    alpha = draw_uniform((x_real.shape[0],) + (1,) * (x_real.dim() - 1), generator, x_real)
    x_hat = x_real + alpha * (x_fake - x_real)
    return slope_penalty(discriminator, x_hat)


@REGISTRY.register("dragan")
def dragan_penalty(discriminator: nn.Module, x_real: Tensor, x_fake: Tensor, *, generator: torch.Generator,
                   data_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """DRAGAN as compare_gan samples it (``DRAGAN_RECIPES["compare_gan"]``); ``x_fake`` is unused.

    ``data_range`` is the clip range: (0, 1) when D sees [0, 1] images, (-1, 1) with the ``tan`` flag.
    """
    _check_images(x_real, x_fake, need_same_shape=False)
    _check_generator(generator)
    lo, hi = _check_range(data_range)
    std = x_real.detach().std(correction=0)  # tf.nn.moments over all axes: population variance
    noise = draw_uniform(tuple(x_real.shape), generator, x_real)
    x_noisy = torch.clamp(x_real.detach() + std * (noise - 0.5), lo, hi)
    return slope_penalty(discriminator, x_noisy)


_PENALIZED_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


def penalized_weights(discriminator: nn.Module) -> list[tuple[str, Tensor]]:
    """The tensors the ``l2`` penalty covers, as ``(state_dict-style name, tensor)``.

    Exactly the ``weight`` of every convolution (``Conv1d/2d/3d``, ``ConvTranspose*``) and
    ``Linear`` module inside ``discriminator``, as compare_gan's "kernel" variables. With spectral
    norm it is the raw trainable weight (compare_gan impl: the wrapped layer's ``weight``, key
    ``<layer>.module.weight``; torch impl: ``parametrizations.weight.original``), never ``W / sigma``. Excluded: biases, batch/layer-norm
    scales and offsets, spectral-norm ``u``/``v`` buffers, and any other parameter.
    """
    out = []
    for name, module in discriminator.named_modules():
        if isinstance(module, _PENALIZED_LAYERS):
            tensor = raw_weight(module)
            suffix = "parametrizations.weight.original" if parametrize.is_parametrized(module, "weight") else "weight"
            out.append((f"{name}.{suffix}" if name else suffix, tensor))
    return out


@REGISTRY.register("l2")
def l2_penalty(discriminator: nn.Module, x_real: Tensor, x_fake: Tensor, *, generator: torch.Generator,
               data_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """mean over :func:`penalized_weights` of sum(w^2)/2 (compare_gan ``l2_penalty``); the images are unused."""
    weights = [w for _, w in penalized_weights(discriminator)]
    if not weights:
        raise InputError(f"l2 penalty: {type(discriminator).__name__} has no Conv or Linear layer to penalise")
    return torch.stack([0.5 * w.square().sum() for w in weights]).mean()


def get(name: str) -> PenaltyFn:
    """The penalty called ``name``; an unknown name is a ``ValueError`` listing the valid ones."""
    return REGISTRY.get(name)


def names() -> tuple[str, ...]:
    return REGISTRY.names()


__all__ = ["REGISTRY", "get", "names", "SLOPE_EPS", "DRAGAN_RECIPE", "DRAGAN_RECIPES", "draw_uniform",
           "slope_penalty", "penalized_weights", "no_penalty", "gradient_penalty", "dragan_penalty", "l2_penalty"]
