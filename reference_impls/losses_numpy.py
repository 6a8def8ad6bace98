"""The study's loss table (docs/design.md, "Losses"), transcribed literally in NumPy float64.

l = discriminator logit, s = sigmoid; each entry is the batch mean of the table's expression,
with real and fake logits paired sample by sample (so both batches must have the same size).
``log(sigmoid(.))`` is written as is: fine for moderate logits (|l| < ~30), not for large ones.
"""

from __future__ import annotations

import numpy as np


def sigmoid(l: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-l))


def _mm_d(lr, lf):
    return np.mean(-np.log(sigmoid(lr)) - np.log(1.0 - sigmoid(lf)))


TABLE = {
    # name: (discriminator loss, generator loss)
    "mm": (_mm_d, lambda lr, lf: np.mean(np.log(1.0 - sigmoid(lf)))),
    "ns": (_mm_d, lambda lr, lf: np.mean(-np.log(sigmoid(lf)))),
    "wgan": (lambda lr, lf: np.mean(-lr + lf), lambda lr, lf: np.mean(-lf)),
    "ls": (
        lambda lr, lf: np.mean(0.5 * ((sigmoid(lr) - 1.0) ** 2 + sigmoid(lf) ** 2)),
        lambda lr, lf: np.mean(0.5 * (sigmoid(lf) - 1.0) ** 2),
    ),
    "hinge": (
        lambda lr, lf: np.mean(np.maximum(0.0, 1.0 - lr) + np.maximum(0.0, 1.0 + lf)),
        lambda lr, lf: np.mean(-lf),
    ),
}


def losses(name: str, real_logits, fake_logits) -> tuple[float, float]:
    """``(d_loss, g_loss)`` of loss ``name`` for 1-D logits of equal length (float64)."""
    lr = np.asarray(real_logits, dtype=np.float64).reshape(-1)
    lf = np.asarray(fake_logits, dtype=np.float64).reshape(-1)
    if lr.shape != lf.shape:
        raise ValueError(f"real and fake logits must pair up, got {lr.shape} and {lf.shape}")
    d_fn, g_fn = TABLE[name]
    return float(d_fn(lr, lf)), float(g_fn(lr, lf))
