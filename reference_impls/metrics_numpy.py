"""Plain, slow, obviously-correct transcriptions of the metric formulas (for testing only).

- FID as in the TTUR release (Heusel et al. 2017, Eq. 6): scipy.linalg.sqrtm of sigma1 @ sigma2
  in float64, the real part taken.
- Inception Score (Salimans et al. 2016) with the openai/improved-gan split rule.
- KID (Binkowski et al. 2018, Eq. 2) with explicit double loops over the kernel sums, drawing the
  subsets in the same order from the same kind of generator as repro.metrics.kid.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def fid_ttur(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):  # TTUR's fallback for a singular product
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def inception_score_ref(probs, splits: int) -> tuple[float, float]:
    probs = np.asarray(probs, np.float64)
    n, c = probs.shape
    part = n // splits
    scores = []
    for k in range(splits):
        p = probs[k * part:(k + 1) * part]
        py = p.mean(axis=0)
        kl_sum = 0.0
        for i in range(p.shape[0]):
            for j in range(c):
                if p[i, j] > 0:
                    kl_sum += p[i, j] * (np.log(p[i, j]) - np.log(py[j]))
        scores.append(np.exp(kl_sum / p.shape[0]))
    return float(np.mean(scores)), float(np.std(scores))


def _k(a, b, d):
    return (float(np.dot(a, b)) / d + 1.0) ** 3


def kid_ref(feat_real, feat_fake, num_subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    x, y = np.asarray(feat_real, np.float64), np.asarray(feat_fake, np.float64)
    d, m = x.shape[1], subset_size
    rng = np.random.Generator(np.random.PCG64(seed))
    values = []
    for _ in range(num_subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        kxx = sum(_k(xs[i], xs[j], d) for i in range(m) for j in range(m) if i != j)
        kyy = sum(_k(ys[i], ys[j], d) for i in range(m) for j in range(m) if i != j)
        kxy = sum(_k(xs[i], ys[j], d) for i in range(m) for j in range(m))
        values.append(kxx / (m * (m - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (m * m))
    return float(np.mean(values)), float(np.std(values))
