"""How the discriminator sees a batch: ``concat`` (compare_gan HEAD) or ``split`` (its 2018 code).

compare_gan HEAD (``ModularGAN.create_loss``, modular_gan.py:648-661) runs D once on
``concat([real, fake])`` and splits the logits, unless ``deprecated_split_disc_calls``; the
2018 code (src/gans/gans_with_penalty.py:343-350) called D on the real and on the fake batch
separately. The choice matters whenever D depends on its batch: batch norm normalises with the
statistics of the mixed batch, and spectral norm's power iteration advances once per call (so once
per D update with ``concat``, twice with ``split``). Without either, both give the same logits
up to float rounding.
"""

from __future__ import annotations

import torch
from torch import nn

from repro import choices
from repro.errors import InputError

D_BATCH = choices.D_BATCH


def discriminate(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                 how: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(real (N_r,), fake (N_f,))`` of real images (N_r, C, H, W) and fake images (N_f, C, H, W)."""
    if how == "concat":
        logits = discriminator(torch.cat([x_real, x_fake]))
        return logits[:x_real.shape[0]], logits[x_real.shape[0]:]
    if how == "split":
        return discriminator(x_real), discriminator(x_fake)
    raise InputError(f"invalid d_batch {how!r}; valid choices: {', '.join(D_BATCH)}")


def discriminate_fake(discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                      how: str) -> torch.Tensor:
    """Fake logits (N_f,) for the generator's update.

    ``concat``: the fake half of one D call on ``cat(x_real, x_fake)``, since compare_gan HEAD's
    generator step builds its loss with the same ``create_loss`` (modular_gan.py:487-491), so D's
    batch norm sees a real batch there too. ``split``: ``D(x_fake)`` alone.
    """
    if how == "split":
        return discriminator(x_fake)
    return discriminate(discriminator, x_real, x_fake, how)[1]


__all__ = ["D_BATCH", "discriminate", "discriminate_fake"]
