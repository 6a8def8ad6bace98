"""Metrics: features -> streaming statistics -> FID / IS / KID, with uncertainty.

Public API (float64 NumPy throughout):
    frechet_distance(mu1, sigma1, mu2, sigma2) -> float
    StreamingStats(dim)                         running mean / covariance, .save / .load
    inception_score(probs_or_logits, splits=10) -> (mean, std)
    kid(feat_real, feat_fake, *, num_subsets, subset_size, seed) -> (mean, std)
    fid_bootstrap(feat_fake, real, n_boot, seed, level, *, real_fixed=False) -> (low, high)
                                                basic bootstrap interval of the population FID
    fid_bootstrap_summary(...)                  -> FIDBootstrap (interval, std, bias, point)
    evaluation_noise(fid_of_seed, seeds) -> {"mean", "std", "values"}
Extractors live in ``repro.metrics.extractors``; named protocols and the uint8 quantisation in
``repro.metrics.protocols``; real statistics in ``repro.metrics.cache``; the run evaluation in
``repro.metrics.evaluate``.
"""

from repro.metrics.fid import frechet_distance
from repro.metrics.inception_score import inception_score
from repro.metrics.kid import kid
from repro.metrics.stats import StreamingStats, stats_of
from repro.metrics.uncertainty import FIDBootstrap, evaluation_noise, fid_bootstrap, fid_bootstrap_summary

__all__ = ["frechet_distance", "StreamingStats", "stats_of", "inception_score", "kid",
           "fid_bootstrap", "fid_bootstrap_summary", "FIDBootstrap", "evaluation_noise"]
