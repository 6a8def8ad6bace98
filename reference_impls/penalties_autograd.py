"""GP and DRAGAN computed independently of ``repro.gan.penalties``: one sample at a time, float64.

The random draws follow the documented protocol (CPU generator, ``rand(N, 1, ..., 1)`` for the
GP alphas; ``rand(x.shape)`` for the DRAGAN noise), so the same generator seed gives the same
points. The input gradient of each sample is taken either with its own ``torch.autograd.grad``
call (D applied to that sample alone) or by central finite differences (no autograd at all).
Valid for discriminators that treat samples independently (no batch norm in train mode).
"""

from __future__ import annotations

import math

import torch


def _grad_autograd(discriminator, x1: torch.Tensor) -> torch.Tensor:
    x1 = x1.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(discriminator(x1).sum(), x1)
    return g


def _grad_finite_differences(discriminator, x1: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    g = torch.zeros_like(x1)
    flat = g.view(-1)
    with torch.no_grad():
        for i in range(x1.numel()):
            step = torch.zeros_like(x1).view(-1)
            step[i] = h
            step = step.view_as(x1)
            flat[i] = (discriminator(x1 + step).sum() - discriminator(x1 - step).sum()) / (2 * h)
    return g


def _penalty_at(discriminator, points: torch.Tensor, method: str) -> float:
    grad_fn = {"autograd": _grad_autograd, "finite_differences": _grad_finite_differences}[method]
    total = 0.0
    for i in range(points.shape[0]):
        g = grad_fn(discriminator, points[i : i + 1])
        slope = math.sqrt(1e-4 + float((g * g).sum()))
        total += (slope - 1.0) ** 2
    return total / points.shape[0]


def gp(discriminator, x_real, x_fake, seed: int, method: str = "autograd") -> float:
    """WGAN-GP: x_hat_i = x_i + alpha_i (fake_i - x_i), alpha_i ~ U[0,1); mean_i (sqrt(1e-4 + |g_i|^2) - 1)^2."""
    gen = torch.Generator().manual_seed(seed)
    x = x_real.double()
    alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=gen, dtype=x_real.dtype).double()
    x_hat = x + alpha * (x_fake.double() - x)
    return _penalty_at(discriminator, x_hat, method)


def dragan(discriminator, x_real, seed: int, data_range=(0.0, 1.0), method: str = "autograd") -> float:
    """DRAGAN (compare_gan): x_noisy = clip(x + std(x) (U - 0.5), range), std over the whole batch, ddof 0."""
    gen = torch.Generator().manual_seed(seed)
    x = x_real.double()
    n = x.numel()
    mean = x.sum() / n
    std = torch.sqrt(((x - mean) ** 2).sum() / n)
    noise = torch.rand(tuple(x.shape), generator=gen, dtype=x_real.dtype).double()
    x_noisy = torch.minimum(torch.maximum(x + std * (noise - 0.5), torch.tensor(data_range[0], dtype=x.dtype)),
                            torch.tensor(data_range[1], dtype=x.dtype))
    return _penalty_at(discriminator, x_noisy, method)
