"""Where the bootstrap of one run's FID (:mod:`repro.metrics.uncertainty`) is calibrated, as a rule the
report can apply without torch.

The basic bootstrap of :mod:`repro.metrics.uncertainty` resamples the very samples that gave FID_N.
Its world's "population" FID is FID_N itself, which the finite-sample bias inflates; where the FID
is comparable to or smaller than that bias, the replicates spread more than FID_N does over fresh
samples. Simulation (tests/test_fid_bootstrap.py, Gaussian features, d = 6 and 16, N = 150 and
300): with the bias-corrected FID below twice the bias, the bootstrap standard deviation overstates
the standard deviation of FID_N by 1.2-1.7x (1.5-1.7x at a population FID of 0) and the 95% interval
covers 98-100%; above it, by 1.1-1.15x, covering 96-97%.
"""

from __future__ import annotations

# FID_N below this many times its bootstrap bias: the bootstrap overstates its spread (module doc)
BIAS_DOMINATED_RATIO = 3.0


def bias_dominated(point: float | None, bias: float | None) -> bool | None:
    """Whether a bootstrap of FID with point estimate ``point`` and bootstrap bias ``bias`` is in the
    regime where its standard deviation overstates the spread of FID_N by 1.2-1.7x and its interval
    over-covers: point < 3 x bias (the bias-corrected FID below twice the bias). None when either
    is unknown."""
    if point is None or bias is None:
        return None
    return bool(bias > 0 and point < BIAS_DOMINATED_RATIO * bias)


__all__ = ["BIAS_DOMINATED_RATIO", "bias_dominated"]
