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

from repro.errors import InputError
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


def fit_subset_size(n_real: int, n_fake: int, subset_size: int) -> int:
    """The subset size to use with sets of ``n_real`` and ``n_fake`` samples (the evaluator's rule).

    ``subset_size`` when both sets are larger; otherwise half the smaller set, with a warning. A
    subset as large as its set is the whole set on every draw, so the spread over subsets would
    not measure that side's sampling (and is ~1e-15 when both sides are whole); with half, the
    subsets differ. The mean is unaffected in expectation: the estimate is unbiased for every
    subset size (Binkowski et al., ICLR 2018), the spread grows as the subsets shrink.
    """
    smaller = min(n_real, n_fake)
    if smaller < 4:
        raise InputError(f"KID needs at least 4 samples a side (subsets of >= 2 that differ), "
                         f"got {n_real} real and {n_fake} generated")
    if subset_size < smaller:
        return int(subset_size)
    used = smaller // 2
    warnings.warn(f"KID subset_size {subset_size} shrunk to {used}: only {n_real} real and {n_fake} generated "
                  f"samples, and subsets as large as a set would all be that set", stacklevel=2)
    return used


def kid(feat_real, feat_fake, *, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID -> (mean, std) of the unbiased MMD^2 over ``num_subsets`` subsets (squared feature units).

    Args:
        feat_real: (N_r, d) features of real images; feat_fake: (N_f, d) of generated images.
        num_subsets: number of subsets, >= 2 (100 as in Binkowski et al.'s code).
        subset_size: samples per subset (1000 in the paper), at least 2 and smaller than both
            N_r and N_f: a subset as large as its set is the same set on every draw, and the
            spread would measure nothing about that side (torch-fidelity refuses a subset larger
            than a set; :func:`fit_subset_size` picks a size that fits).
        seed: seed of the generator that draws the subsets.
    """
    x = features("feat_real", feat_real, min_rows=2)
    y = features("feat_fake", feat_fake, min_rows=2, dim=x.shape[1])
    if not isinstance(num_subsets, (int, np.integer)) or isinstance(num_subsets, bool) or num_subsets < 2:
        raise InputError(f"num_subsets must be an integer >= 2 (the std is over subsets), got {num_subsets!r}")
    if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise InputError(f"KID subset_size must be an integer >= 2 (the unbiased estimate divides by "
                         f"m (m - 1)), got {subset_size!r}")
    m = int(subset_size)
    n_real, n_fake = x.shape[0], y.shape[0]
    if m > min(n_real, n_fake):
        raise InputError(f"KID subset_size {m} is larger than a set ({n_real} real, {n_fake} generated samples); "
                         f"use subset_size < {min(n_real, n_fake)}")
    if m == min(n_real, n_fake):
        raise InputError(f"KID subset_size {m} equals a set's size ({n_real} real, {n_fake} generated): every subset "
                         f"of that set is the whole set, so the spread over subsets would not measure its "
                         f"sampling; use subset_size < {m}")
    rng = np.random.Generator(np.random.PCG64(seed))
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        ix = rng.choice(n_real, m, replace=False)
        iy = rng.choice(n_fake, m, replace=False)
        values[i] = mmd2_unbiased(x[ix], y[iy])
    return float(values.mean()), float(values.std())
