"""Spectral norm by SVD, and one compare_gan power-iteration step, in NumPy float64.

compare_gan reshapes a TF kernel (kh, kw, c_in, c_out) to W of shape (kh*kw*c_in, c_out); a
linear kernel (in, out) is W itself. Torch stores conv weights as (c_out, c_in, kh, kw) and
linear weights as (out, in), so the transcription first moves torch's axes to TF's order.
"""

from __future__ import annotations

import numpy as np


def compare_gan_matrix(torch_weight) -> np.ndarray:
    """(c_out, c_in, kh, kw) -> (kh*kw*c_in, c_out); (out, in) -> (in, out)."""
    w = np.asarray(torch_weight, dtype=np.float64)
    if w.ndim == 4:
        c_out = w.shape[0]
        tf_kernel = np.transpose(w, (2, 3, 1, 0))  # (kh, kw, c_in, c_out)
        return tf_kernel.reshape(-1, c_out)
    if w.ndim == 2:
        return w.T.copy()
    raise ValueError(f"expected a 2-D or 4-D weight, got shape {w.shape}")


def largest_singular_value(torch_weight) -> float:
    """sigma_max of the compare_gan matrix (equal to that of the torch weight flattened either way)."""
    return float(np.linalg.svd(compare_gan_matrix(torch_weight), compute_uv=False)[0])


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """tf.nn.l2_normalize(x, axis=None, epsilon=eps) = x / sqrt(max(sum(x^2), eps))."""
    return x / np.sqrt(max(float(np.sum(x * x)), eps))


def power_step(torch_weight, u) -> tuple[np.ndarray, float]:
    """One step: v = l2n(W^T u); u' = l2n(W v); sigma = u'^T W v. Returns (u', sigma)."""
    w = compare_gan_matrix(torch_weight)
    u = np.asarray(u, dtype=np.float64).reshape(-1)
    v = l2_normalize(w.T @ u)
    u_new = l2_normalize(w @ v)
    return u_new, float(u_new @ w @ v)
