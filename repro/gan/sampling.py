"""Latent sampling and image generation with explicit random streams."""

from __future__ import annotations

import torch
from torch import nn

from repro.errors import InputError
from repro.gan.architectures import to_unit_range


def sample_z(n: int, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    """z ~ U[-1, 1)^(n, z_dim) on the CPU from ``generator`` (compare_gan's prior)."""
    return torch.rand(n, z_dim, generator=generator) * 2.0 - 1.0


@torch.no_grad()
def generate(generator_net: nn.Module, n: int, *, seed: int, batch_size: int = 256, device="cpu") -> torch.Tensor:
    """``n`` images (n, C, H, W) float32 in [0, 1] from ``generator_net`` with z drawn from ``seed``.

    z is drawn on the CPU from ``torch.Generator(seed)`` and moved to ``device``, so the same
    seed gives the same z on every device.
    """
    if n < 1:
        raise InputError(f"number of images to generate must be >= 1, got {n}")
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    was_training = generator_net.training
    generator_net.eval()
    out = []
    try:
        for start in range(0, n, batch_size):
            z = sample_z(min(batch_size, n - start), generator_net.z_dim, g).to(device)
            x = generator_net(z)
            out.append(to_unit_range(x, generator_net.output_range).clamp_(0.0, 1.0).float().cpu())
    finally:
        generator_net.train(was_training)
    return torch.cat(out)
