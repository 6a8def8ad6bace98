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
    bias_dominated(point, bias) -> bool          where the bootstrap's std overstates FID's spread
Extractors live in ``repro.metrics.extractors``; named protocols and the uint8 quantisation in
``repro.metrics.protocols``; real statistics in ``repro.metrics.cache``; the run evaluation in
``repro.metrics.evaluate``.
"""

from repro.metrics.inception_score import inception_score
from repro.metrics.kid import kid

# The rest loads on first use (PEP 562): importing a submodule such as ``repro.metrics.protocols``
# (the CLI does, to print its defaults) must not pull in scipy and torch through these. The two
# above are imported eagerly because each shares its name with its module, which a later import
# of that submodule would otherwise put in the function's place.
_PUBLIC = {
    "frechet_distance": "repro.metrics.fid",
    "StreamingStats": "repro.metrics.stats",
    "stats_of": "repro.metrics.stats",
    "FIDBootstrap": "repro.metrics.uncertainty",
    "evaluation_noise": "repro.metrics.uncertainty",
    "fid_bootstrap": "repro.metrics.uncertainty",
    "fid_bootstrap_summary": "repro.metrics.uncertainty",
    "bias_dominated": "repro.stats.bootstrap",
}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'repro.metrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


__all__ = ["inception_score", "kid", *_PUBLIC]
