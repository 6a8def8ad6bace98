"""Plain, slow, obviously-correct transcriptions of the metric formulas (for testing only).

- FID as in the TTUR release (Heusel et al. 2017, Eq. 6): scipy.linalg.sqrtm of sigma1 @ sigma2
  in float64, the real part taken.
- Inception Score (Salimans et al. 2016) transcribed from the authors' release: openai/improved-gan
  ``inception_score/model.py`` (commit 4f5d1ec5c16a7eceb206f42bfc652693601e1d5c),
  ``get_inception_score``, lines 46-52.
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


def fid_pytorch_fid(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """pytorch-fid's ``calculate_frechet_distance`` (mseitzer/pytorch-fid, src/pytorch_fid/fid_score.py,
    commit b9c18118, lines 179-236), written from its description: scipy ``sqrtm`` of sigma1 @ sigma2;
    when that is not finite, ``eps`` * I is added to both covariances and ``sqrtm`` is retried; an
    imaginary part of the diagonal above 1e-3 is an error, otherwise the real part is kept.
    (Its ``disp=False`` argument, removed from SciPy, does not change the value.)"""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_torch_fidelity(mu1, sigma1, mu2, sigma2) -> float:
    """torch-fidelity's ``fid_statistics_to_metric`` (toshas/torch-fidelity, torch_fidelity/metric_fid.py,
    commit 5e211a95, line 39), written from its description: tr((sigma1 sigma2)^(1/2)) as the sum of
    the real parts of the complex square roots of the (general, non-symmetric) eigenvalues of
    sigma1 @ sigma2."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    eig = np.linalg.eigvals(sigma1 @ sigma2).astype(np.complex128)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.sum(np.sqrt(eig).real))


def inception_score_ref(probs, splits: int) -> tuple[float, float]:
    """openai/improved-gan inception_score/model.py, ``get_inception_score``, lines 46-52:
    for each of ``splits`` parts, rows ``i * N // splits`` up to (excluded) ``(i + 1) * N // splits``
    of the softmax outputs (line 48: every sample belongs to a part); per sample the sum over
    classes of p (log p - log p(y)) with p(y) the part's mean row (line 49); the mean over the part's
    samples (line 50); exp of it is the part's score (line 51); the result is the mean and the
    population standard deviation (``np.std``) of the part scores (line 52).

    One deviation, stated: an entry p = 0 contributes 0 (the limit of p log p), where line 49
    computes 0 * -inf = NaN. ``probs`` (N, C) must be probability rows (their softmax outputs).
    """
    preds = np.asarray(probs, np.float64)
    n, c = preds.shape
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits  # line 48
        part = preds[lo:hi]
        p_y = part.mean(axis=0)
        kl_per_sample = []
        for row in part:  # line 49, per sample and class
            kl_per_sample.append(sum(row[j] * (np.log(row[j]) - np.log(p_y[j])) for j in range(c) if row[j] > 0))
        scores.append(np.exp(np.mean(kl_per_sample)))  # lines 50-51
    return float(np.mean(scores)), float(np.std(scores))  # line 52


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
