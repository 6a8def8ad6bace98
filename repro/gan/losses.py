"""GAN losses of the study (Kurach et al. 2019, Table "losses"; compare_gan ``loss_lib.py``).

Every loss has one signature: ``fn(d_real_logits, d_fake_logits) -> (d_loss, g_loss)``, both
scalar tensors (means over the batch). Logits may be shaped ``(N,)`` or ``(N, 1)``; the real and
fake batches may differ in size. Notation: l = discriminator logit, s = sigmoid.

| name  | discriminator loss                      | generator loss    |
|-------|-----------------------------------------|-------------------|
| mm    | -log s(l_r) - log(1 - s(l_f))           | log(1 - s(l_f))   |
| ns    | same as mm                              | -log s(l_f)       |
| wgan  | -l_r + l_f                              | -l_f              |
| ls    | 0.5 [(s(l_r) - 1)^2 + s(l_f)^2]         | 0.5 (s(l_f) - 1)^2|
| hinge | relu(1 - l_r) + relu(1 + l_f)           | -l_f              |

The log-sigmoid terms use softplus, which stays finite for any finite logit:
-log s(l) = softplus(-l) and -log(1 - s(l)) = softplus(l).

The trainer calls a loss twice per step: for the D update it uses ``d_loss`` (fake logits from a
detached G sample), for the G update it uses ``g_loss`` (D's logits of G(z) after the D updates,
with gradients through G; which z and which G forward: config ``g_step_fakes``). Every ``g_loss``
depends on the fake logits only, so the real logits passed for the G update may be detached.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from repro.errors import InputError
from repro.registry import Registry

LossFn = Callable[[Tensor, Tensor], "tuple[Tensor, Tensor]"]

REGISTRY: Registry[LossFn] = Registry("loss")


def _flat_logits(logits: Tensor, which: str) -> Tensor:
    """Check a logits tensor of shape (N,) or (N, 1) and return it as (N,)."""
    if not isinstance(logits, Tensor):
        raise InputError(f"{which} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise InputError(f"{which} must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.dim() != 1 or logits.shape[0] == 0:
        raise InputError(f"{which} must have shape (N,) or (N, 1) with N >= 1, got {tuple(logits.shape)}")
    return logits


def _checked(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    return _flat_logits(d_real_logits, "d_real_logits"), _flat_logits(d_fake_logits, "d_fake_logits")


@REGISTRY.register("mm")
def minimax(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Minimax GAN (Goodfellow et al. 2014, Eq. 1): D maximises log-likelihood, G minimises it."""
    real, fake = _checked(d_real_logits, d_fake_logits)
    d_loss_fake = F.softplus(fake).mean()  # -log(1 - s(l_f))
    d_loss = F.softplus(-real).mean() + d_loss_fake  # -log s(l_r) - log(1 - s(l_f))
    g_loss = -d_loss_fake  # log(1 - s(l_f)): saturates when D rejects fakes confidently
    return d_loss, g_loss


@REGISTRY.register("ns")
def non_saturating(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Non-saturating GAN (Goodfellow et al. 2014, Sec. 3): same D loss as ``mm``, G minimises -log s(l_f)."""
    real, fake = _checked(d_real_logits, d_fake_logits)
    d_loss = F.softplus(-real).mean() + F.softplus(fake).mean()
    g_loss = F.softplus(-fake).mean()
    return d_loss, g_loss


@REGISTRY.register("wgan")
def wasserstein(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Wasserstein GAN (Arjovsky et al. 2017): the critic's raw outputs, no sigmoid."""
    real, fake = _checked(d_real_logits, d_fake_logits)
    d_loss = -real.mean() + fake.mean()
    g_loss = -fake.mean()
    return d_loss, g_loss


@REGISTRY.register("ls")
def least_squares(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares GAN (Mao et al. 2017) as compare_gan applies it: on s(l), not on the logits."""
    real, fake = _checked(d_real_logits, d_fake_logits)
    s_real, s_fake = torch.sigmoid(real), torch.sigmoid(fake)
    d_loss = 0.5 * ((s_real - 1.0).square().mean() + s_fake.square().mean())
    g_loss = 0.5 * (s_fake - 1.0).square().mean()
    return d_loss, g_loss


@REGISTRY.register("hinge")
def hinge(d_real_logits: Tensor, d_fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): margin 1 on the logits; G as in ``wgan``."""
    real, fake = _checked(d_real_logits, d_fake_logits)
    d_loss = F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    g_loss = -fake.mean()
    return d_loss, g_loss


def get(name: str) -> LossFn:
    """The loss called ``name``; an unknown name is a ``ValueError`` listing the valid ones."""
    return REGISTRY.get(name)


def names() -> tuple[str, ...]:
    return REGISTRY.names()


__all__ = ["REGISTRY", "get", "names", "minimax", "non_saturating", "wasserstein", "least_squares", "hinge"]
