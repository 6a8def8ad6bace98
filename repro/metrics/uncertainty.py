"""Uncertainty of FID: a bootstrap interval that covers the true FID, and evaluation noise.

FID_N, the FID of N generated against M real feature vectors, is biased upward at finite N and M
(the sample covariances' spectra spread out, and |mean difference|^2 gains tr(S)/N): its
expectation exceeds the population FID by O(d / N + d / M). A percentile bootstrap over the
generated samples with the real statistics held fixed adds that bias a second time, so its
interval lies above the point estimate and misses the population FID (64% coverage in the
simulation of tests/test_fid_bootstrap.py; 0% at d = 64, N = 1000).

Here: the *basic* bootstrap (Davison & Hinkley 1997, Eq. 5.6). Each replicate resamples the
generated features with replacement and, where the real set is a finite sample, the real
features too; with q_a the a-quantile of the replicate FIDs, the interval is

    [2 FID_N - q_(1 - alpha/2),  2 FID_N - q_(alpha/2)]        (clipped below at 0)

whose centre, 2 FID_N - mean(FID*) = FID_N - bias*, is the bias-corrected estimate. It targets the
population FID, and covers it at about the nominal rate (tests: 90-99% for a 95% interval). The
point FID_N itself can lie above the interval when the bias exceeds the half-width: that is the
bias, not a bug. Holding the real statistics fixed (``real_fixed=True``) targets the FID against
exactly those statistics; that is the population FID only when they are the population's moments.

A resample with replacement is a multinomial weight vector w (sum w = N), so its mean and unbiased
covariance are weighted moments of the original features: no (N, d) copy per replicate. Cost per
replicate: O(N d^2) per resampled side plus one Fréchet distance.

Where the FID is comparable to or smaller than its bias (:func:`bias_dominated`: the
bias-corrected estimate FID_N - bias* below twice bias*, i.e. FID_N < 3 bias*), the bootstrap is
not calibrated: its world's "population" FID is FID_N, which the bias inflates, so the replicates
spread more than FID_N does over fresh samples. In the simulation of tests/test_fid_bootstrap.py
(Gaussian features, d = 6 and 16) ``std`` then overstates the standard deviation of FID_N by
1.2-1.7x (1.5-1.7x at a population FID of 0) and the 95% interval covers 98-100%; from 2x the
bias upward the overstatement falls to 1.1-1.15x and the coverage to 96-97%. The interval stays
valid there (it never under-covers), only wide. ``std`` is a resampling estimate from the very
samples that gave FID_N, not an independent measurement of sampling noise: the spread of FID over
evaluation seeds (fresh generated samples, :func:`evaluation_noise`) is one, for the generated side.

Evaluation noise is the spread of FID when only the evaluation seed (the z fed to the generator)
changes: the part of a score difference that says nothing about training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from repro.errors import InputError
from repro.metrics._checks import features
from repro.metrics.fid import _one_thread, frechet_distance, sqrt_trace_product_batch
from repro.metrics.stats import StreamingStats
from repro.stats.bootstrap import bias_dominated


@dataclass(frozen=True)
class FIDBootstrap:
    """A bootstrap of FID (all values in squared feature units).

    point: FID_N of the full samples; low, high: the basic bootstrap interval at ``level``;
    std: standard deviation (ddof=1) of the replicate FIDs, the bootstrap standard error of FID_N;
    bias: mean(replicates) - point, the bootstrap estimate of FID_N's bias (point - bias is the
    bias-corrected estimate); resampled: "both" or "generated" (real statistics held fixed).
    """

    point: float
    low: float
    high: float
    std: float
    bias: float
    level: float
    n_boot: int
    resampled: str

    @property
    def interval(self) -> tuple[float, float]:
        return self.low, self.high

    @property
    def bias_dominated(self) -> bool:
        """True where ``std`` overstates the spread of FID_N and the interval over-covers
        (:func:`bias_dominated`)."""
        return bias_dominated(self.point, self.bias)


# Replicates are drawn and computed in chunks; a chunk's stacked (d, d) matrices stay under this
# many float64 elements, and the outer products x_i x_i^T (N d^2 elements) are formed for a
# batched weighted sum only when they fit in it too (small d); otherwise replicate by replicate.
_CHUNK_ELEMENTS = 1 << 22  # 32 MiB of float64


def _weights(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """(count, n) counts: how often each of n rows is drawn in each of ``count`` resamples of n
    draws with replacement (multinomial counts, from uniform row indices)."""
    rows = rng.integers(0, n, size=(count, n))
    offsets = (np.arange(count) * n)[:, None]
    return np.bincount((rows + offsets).ravel(), minlength=count * n).reshape(count, n).astype(np.float64)


class _Side:
    """Weighted moments of one feature set under resampling weights."""

    def __init__(self, x: np.ndarray):
        self.n, self.d = x.shape
        self.centre = x.mean(axis=0)
        self.xc = x - self.centre  # centred once: the weighted sums below then lose no precision
        fits = self.n * self.d * self.d <= _CHUNK_ELEMENTS
        self.outer = (self.xc[:, :, None] * self.xc[:, None, :]).reshape(self.n, -1) if fits else None

    def moments(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """w (B, n) -> means (B, d), unbiased covariances (B, d, d) of the B resamples."""
        n, d = self.n, self.d
        # torch's BLAS on one thread (as for the FID itself): NumPy's two-thread OpenBLAS took 20x
        # longer on these small products while the 2-core machine was busy
        with _one_thread():
            wt, xc = torch.from_numpy(w), torch.from_numpy(self.xc)
            shift = wt @ xc / n  # (B, d): resample mean minus the full-sample mean
            if self.outer is not None:
                scatter = (wt @ torch.from_numpy(self.outer)).reshape(-1, d, d)
            else:
                scatter = torch.stack([(xc.T * wb) @ xc for wb in wt])
            sigma = (scatter - n * shift[:, :, None] * shift[:, None, :]) / (n - 1)
            sigma = 0.5 * (sigma + sigma.mT)
        return self.centre + shift.numpy(), sigma.numpy()


def _real_side(real, dim: int, real_fixed: bool):
    """-> (features or None, mu, sigma) of the real side, checked."""
    if isinstance(real, StreamingStats) or isinstance(real, tuple):
        if not real_fixed:
            raise InputError("real is a set of statistics, not features: a finite real sample must be resampled "
                             "too (pass its (N, d) features), or pass real_fixed=True when these statistics are "
                             "the population's (the interval then covers the FID against exactly them)")
        if isinstance(real, StreamingStats):
            mu, sigma = real.mean, real.cov
        else:
            try:
                mu, sigma = real
            except ValueError:
                raise InputError("real must be (N, d) features, a StreamingStats or a (mu, sigma) pair") from None
        mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
        if mu.shape != (dim,):
            raise InputError(f"real statistics have dimension {mu.shape}, feat_fake has dimension {dim}")
        return None, mu, sigma
    y = features("real", real, min_rows=2)
    if y.shape[1] != dim:
        raise InputError(f"real has feature dimension {y.shape[1]}, feat_fake has dimension {dim}")
    return y, y.mean(axis=0), np.cov(y, rowvar=False).reshape(dim, dim)


def fid_bootstrap_summary(feat_fake, real, n_boot: int, seed: int, level: float = 0.95, *,
                          real_fixed: bool = False) -> FIDBootstrap:
    """Basic bootstrap of FID -> :class:`FIDBootstrap` (interval, std, bias, point).

    Args:
        feat_fake: (N, d) features of generated images, N >= 2.
        real: (M, d) features of the real images (resampled too, unless ``real_fixed``), or,
            with ``real_fixed=True``, a StreamingStats or a (mu (d,), sigma (d, d)) pair held fixed.
        n_boot: number of bootstrap replicates (>= 2; 200 or more for a 95% interval).
        seed: seed of the explicit generator drawing the resamples (the global RNG is not used).
        level: coverage of the two-sided interval, in (0, 1).
        real_fixed: hold the real statistics fixed (correct only when they are the population's).
    """
    x = features("feat_fake", feat_fake, min_rows=2)
    d = x.shape[1]
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 2:
        raise InputError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    if not (isinstance(level, (int, float)) and 0.0 < level < 1.0):
        raise InputError(f"level must lie in (0, 1), got {level!r}")
    y, mu_r, sigma_r = _real_side(real, d, real_fixed)
    mu_f, sigma_f = x.mean(axis=0), np.cov(x, rowvar=False).reshape(d, d)
    point = frechet_distance(mu_f, sigma_f, mu_r, sigma_r)  # also checks the real statistics
    mu_r_fixed, sigma_r = mu_r, 0.5 * (sigma_r + sigma_r.T)
    resample_real = y is not None and not real_fixed
    fake_side, real_side = _Side(x), (_Side(y) if resample_real else None)
    rng = np.random.Generator(np.random.PCG64(seed))
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // (d * d)))
    values = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        count = min(chunk, n_boot - start)
        mu_fb, s_fb = fake_side.moments(_weights(rng, fake_side.n, count))
        if resample_real:
            mu_rb, s_rb = real_side.moments(_weights(rng, real_side.n, count))
        else:
            mu_rb, s_rb = mu_r_fixed[None, :], np.broadcast_to(sigma_r, (count, d, d))
        diff = mu_fb - mu_rb
        fid = (np.einsum("bi,bi->b", diff, diff) + np.trace(s_fb, axis1=1, axis2=2)
               + np.trace(s_rb, axis1=1, axis2=2) - 2.0 * sqrt_trace_product_batch(s_fb, s_rb))
        values[start:start + count] = np.maximum(fid, 0.0)
    alpha = (1.0 - level) / 2.0
    q_low, q_high = np.quantile(values, [alpha, 1.0 - alpha])
    # basic bootstrap: reflect the replicate quantiles around the point estimate; FID >= 0
    low, high = max(2.0 * point - q_high, 0.0), max(2.0 * point - q_low, 0.0)
    return FIDBootstrap(point=point, low=float(low), high=float(high), std=float(values.std(ddof=1)),
                        bias=float(values.mean() - point), level=float(level), n_boot=int(n_boot),
                        resampled="both" if resample_real else "generated")


def fid_bootstrap(feat_fake, real, n_boot: int, seed: int, level: float = 0.95, *,
                  real_fixed: bool = False) -> tuple[float, float]:
    """Basic bootstrap interval (low, high) of the population FID; see :func:`fid_bootstrap_summary`
    for the arguments, and for the standard deviation and bias from the same replicates."""
    return fid_bootstrap_summary(feat_fake, real, n_boot, seed, level, real_fixed=real_fixed).interval


def evaluation_noise(fid_of_seed: Callable[[int], float], seeds: Sequence[int]) -> dict[str, object]:
    """FID under several evaluation seeds -> {"mean", "std" (ddof=1), "values"}.

    ``fid_of_seed(seed)`` must generate the samples with that seed and return their FID; at least
    two seeds are needed for a standard deviation.
    """
    seeds = list(seeds)
    if len(seeds) < 2:
        raise InputError(f"evaluation noise needs at least 2 evaluation seeds, got {len(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"evaluation seeds must be distinct, got {seeds}")
    values = np.array([float(fid_of_seed(s)) for s in seeds])
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)), "values": values.tolist()}
