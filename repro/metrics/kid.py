"""Kernel Inception Distance (Binkowski et al., ICLR 2018): unbiased MMD^2 with the cubic
polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets.

Per subset of m real and m generated features (Binkowski et al., Eq. 2; diagonal terms excluded):

    MMD^2 = sum_{i!=j} k(x_i, x_j) / (m (m-1)) + sum_{i!=j} k(y_i, y_j) / (m (m-1))
            - 2 sum_{i,j} k(x_i, y_j) / m^2

Subsets are drawn without replacement from an explicit ``np.random.Generator(PCG64(seed))``:
the global RNG is never touched (clean-fid and torchmetrics use it, so their KID is not
reproducible from the arguments alone).
"""

from __future__ import annotations

import warnings

import numpy as np

from repro.metrics._checks import features


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x y^T / d + 1)^3 for x (n, d), y (m, d) -> (n, m)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between x (m, d) and y (m, d) under the cubic kernel."""
    m = x.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.sum() / (m * m))


def kid_subset_size(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size actually used: ``subset_size`` clipped to the smaller sample (with a warning)."""
    used = min(subset_size, n_real, n_fake)
    if used < subset_size:
        warnings.warn(f"KID subset_size {subset_size} clipped to {used}: only {n_real} real and "
                      f"{n_fake} generated samples", stacklevel=3)
    return used


def kid(feat_real, feat_fake, *, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID -> (mean, std) of the unbiased MMD^2 over ``num_subsets`` subsets (squared feature units).

    Args:
        feat_real: (N_r, d) features of real images; feat_fake: (N_f, d) of generated images.
        num_subsets: number of subsets (100 as in Binkowski et al.'s code).
        subset_size: samples per subset (1000 in the paper); clipped to min(N_r, N_f) with a
            ``UserWarning`` when larger. At least 2 samples per subset are needed.
        seed: seed of the generator that draws the subsets.
    """
    x = features("feat_real", feat_real, min_rows=2)
    y = features("feat_fake", feat_fake, min_rows=2, dim=x.shape[1])
    if not isinstance(num_subsets, (int, np.integer)) or num_subsets < 1:
        raise ValueError(f"num_subsets must be an integer >= 1, got {num_subsets!r}")
    if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"KID subset_size must be an integer >= 2 (the unbiased estimate divides by "
                         f"m (m - 1)), got {subset_size!r}")
    m = kid_subset_size(x.shape[0], y.shape[0], int(subset_size))
    rng = np.random.Generator(np.random.PCG64(seed))
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        ix = rng.choice(x.shape[0], m, replace=False)
        iy = rng.choice(y.shape[0], m, replace=False)
        values[i] = mmd2_unbiased(x[ix], y[iy])
    return float(values.mean()), float(values.std())
