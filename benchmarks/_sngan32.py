"""A mimicry-style SNGAN-32, built from the published architecture (no code copied), as a
timing reference for benchmarks/gpu_step.py.

Source: Miyato et al., "Spectral Normalization for Generative Adversarial Networks" (ICLR 2018),
Appendix B, Table 4 ("ResNet architectures for CIFAR10"), with the conventions the mimicry
library (Lee & Town, 2020) documents for its SNGAN-32 (ngf 256, ndf 128, bottom width 4):

- G: z in R^128 ~ N(0, I) -> dense 4x4x256 -> 3 x ResBlock up 256 -> BN, ReLU, 3x3 conv 3 -> tanh.
  Up-ResBlock: BN, ReLU, nearest 2x upsampling, 3x3 conv, BN, ReLU, 3x3 conv; shortcut:
  upsampling then a 1x1 conv.
- D: ResBlock down 128 (the "optimized" first block: 3x3 conv, ReLU, 3x3 conv, 2x2 average
  pool; shortcut 2x2 average pool then 1x1 conv), ResBlock down 128 (ReLU, 3x3 conv, ReLU, 3x3
  conv, average pool; shortcut 1x1 conv then average pool), 2 x ResBlock 128 (identity
  shortcut) -> ReLU -> global sum pooling -> dense 1. Spectral norm (one power iteration per
  training forward, torch's implementation) on every D layer.
- Hinge loss, Adam lr 2e-4, betas (0.0, 0.9), n_dis 5, batch 64.

Widths scale with ``width`` (1.0 = the paper's) so that a CPU test can run it small.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Z_DIM = 128
BOTTOM = 4


def _sn(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer)


class GBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)
        for conv, gain in ((self.conv1, 2 ** 0.5), (self.conv2, 2 ** 0.5), (self.shortcut, 1.0)):
            nn.init.xavier_uniform_(conv.weight, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """z (N, 128) -> images (N, 3, 32, 32) in [-1, 1]."""

    def __init__(self, ngf: int = 256):
        super().__init__()
        self.ngf = ngf
        self.fc = nn.Linear(Z_DIM, BOTTOM * BOTTOM * ngf)
        self.blocks = nn.Sequential(GBlock(ngf, ngf), GBlock(ngf, ngf), GBlock(ngf, ngf))
        self.bn = nn.BatchNorm2d(ngf)
        self.out = nn.Conv2d(ngf, 3, 3, padding=1)
        nn.init.xavier_uniform_(self.fc.weight, 1.0)
        nn.init.xavier_uniform_(self.out.weight, 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.ngf, BOTTOM, BOTTOM)
        return torch.tanh(self.out(F.relu(self.bn(self.blocks(h)))))


class DBlockOptimized(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1)) if (down or c_in != c_out) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        s = x if self.shortcut is None else self.shortcut(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class Discriminator(nn.Module):
    """x (N, 3, 32, 32) in [-1, 1] -> logits (N,)."""

    def __init__(self, ndf: int = 128):
        super().__init__()
        self.blocks = nn.Sequential(DBlockOptimized(3, ndf), DBlock(ndf, ndf, True), DBlock(ndf, ndf, False),
                                    DBlock(ndf, ndf, False))
        self.fc = _sn(nn.Linear(ndf, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return self.fc(h).squeeze(1)


class Trainer:
    """The SNGAN training step: n_dis hinge-loss D updates on fresh real and fake batches, then
    one G update. ``real`` is a pool of real batches already on the device (data loading is not
    what is timed)."""

    def __init__(self, device: torch.device, width: float = 1.0, batch_size: int = 64, n_dis: int = 5,
                 seed: int = 0):
        torch.manual_seed(seed)
        self.G = Generator(max(1, round(256 * width))).to(device)
        self.D = Discriminator(max(1, round(128 * width))).to(device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.0, 0.9))
        self.device, self.batch_size, self.n_dis = device, batch_size, n_dis
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.real = (torch.rand(8, batch_size, 3, 32, 32, generator=g) * 2 - 1).to(device)
        self.i = 0

    def train_step(self) -> None:
        for _ in range(self.n_dis):
            x = self.real[self.i % self.real.shape[0]]
            self.i += 1
            with torch.no_grad():
                fake = self.G(torch.randn(self.batch_size, Z_DIM, device=self.device))
            d_loss = F.relu(1.0 - self.D(x)).mean() + F.relu(1.0 + self.D(fake)).mean()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        g_loss = -self.D(self.G(torch.randn(self.batch_size, Z_DIM, device=self.device))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
