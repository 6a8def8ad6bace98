"""Uncertainty of FID: a bootstrap interval over the generated samples, and evaluation noise.

The bootstrap resamples the N generated feature vectors with replacement (the real statistics
are held fixed: they are a property of the test split, not of the model) and reports the
percentile interval of the resulting FIDs. A resample with replacement is a multinomial weight
vector w (sum w = N), so its mean and unbiased covariance are weighted moments of the original
features; no (N, d) copy is made per replicate.

Evaluation noise is the spread of FID when only the evaluation seed (the z fed to the
generator) changes: the part of a score difference that says nothing about training.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from repro.metrics._checks import features
from repro.metrics.fid import frechet_distance
from repro.metrics.stats import StreamingStats


def _real_moments(real_stats) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(real_stats, StreamingStats):
        return real_stats.mean, real_stats.cov
    try:
        mu, sigma = real_stats
    except (TypeError, ValueError):
        raise ValueError("real_stats must be a StreamingStats or a (mu, sigma) pair") from None
    return np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)


def fid_bootstrap(feat_fake, real_stats, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of FID over the generated samples.

    Args:
        feat_fake: (N, d) features of generated images, N >= 2.
        real_stats: StreamingStats of the real split, or a (mu (d,), sigma (d, d)) pair.
        n_boot: number of bootstrap replicates (>= 2).
        seed: seed of the explicit generator drawing the resamples.
        level: coverage of the two-sided interval, in (0, 1).
    """
    x = features("feat_fake", feat_fake, min_rows=2)
    mu_r, sigma_r = _real_moments(real_stats)
    if mu_r.shape != (x.shape[1],):
        raise ValueError(f"real_stats has dimension {mu_r.shape}, feat_fake has dimension {x.shape[1]}")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    n = x.shape[0]
    rng = np.random.Generator(np.random.PCG64(seed))
    values = np.empty(n_boot)
    for b in range(n_boot):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)  # counts of each sample
        mu = w @ x / n
        xc = x - mu
        sigma = (xc.T * w) @ xc / (n - 1)  # = np.cov of the resampled rows
        values[b] = frechet_distance(mu, 0.5 * (sigma + sigma.T), mu_r, sigma_r)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def evaluation_noise(fid_of_seed: Callable[[int], float], seeds: Sequence[int]) -> dict[str, object]:
    """FID under several evaluation seeds -> {"mean", "std" (ddof=1), "values"}.

    ``fid_of_seed(seed)`` must generate the samples with that seed and return their FID; at least
    two seeds are needed for a standard deviation.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"evaluation noise needs at least 2 evaluation seeds, got {len(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"evaluation seeds must be distinct, got {seeds}")
    values = np.array([float(fid_of_seed(s)) for s in seeds])
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)), "values": values.tolist()}
