"""One number per training seed for a side of a claim: the paper's statistics, taken seed by seed.

Kurach et al. 2019 (Section 3) read every comparison off the FIDs of many hyperparameter
settings: "we compute the FID distribution of the top 5% of the trained models. The lower the
median FID, the better the model. The lower the variance, the more stable the model is from the
optimization point of view", and the minimum FID reached for a budget of k settings. They pool
their 5 random restarts into one median per setting first. Here the seed stays the unit of
evidence (docs/statistics.md): for each seed, the statistic is taken over that seed's FIDs across
the side's settings, and the per-seed values go to :func:`repro.stats.compare_seeds`.

``values`` below are one seed's FIDs over the side's settings (one per setting).

- ``top5``: the median of the best (lowest) 5% of ``values``, at least one (ceil(0.05 n)); the
  box the paper's figures draw, read at its median. With fewer than 20 settings it is the minimum.
- ``top5_spread``: the sample standard deviation of that top 5% (the paper's "variance", a
  stability claim). It needs at least two values in the top 5%, so at least 21 settings.
- ``min``: the minimum of ``values``: the end of the paper's budget curve.
- ``median``: the median of ``values`` (over all settings; not one of the paper's statistics).
- ``settings_to_threshold``: the smallest budget k at which the expected minimum FID of k settings
  drawn at random without replacement (the study report's budget curve,
  :func:`repro.study.report.expected_min`) is at most the threshold: "to obtain an FID below 100
  ... we need to try at least 6 hyperparameter settings" (Figure 1). A seed whose side never gets
  there is counted as n + 1 settings (censored; the verdict says how many were).
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from repro.errors import InputError

TOP_FRACTION = 0.05
STATISTICS = ("top5", "top5_spread", "min", "median", "settings_to_threshold")
FID_UNITS = ("top5", "min", "median")  # statistics in FID units: --min-effect applies to them
DESCRIPTIONS = {
    "top5": "median of the best 5% of the seed's FIDs over the side's settings (at least one)",
    "top5_spread": "standard deviation of the best 5% of the seed's FIDs over the side's settings (stability)",
    "min": "minimum of the seed's FIDs over the side's settings",
    "median": "median of the seed's FIDs over the side's settings",
    "settings_to_threshold": "settings drawn at random needed for the expected minimum FID to reach the threshold",
}


def top_count(n: int, fraction: float = TOP_FRACTION) -> int:
    """How many of ``n`` values form the top ``fraction`` (at least one)."""
    return max(1, math.ceil(fraction * n)) if n else 0


def top(values: Sequence[float], fraction: float = TOP_FRACTION) -> list[float]:
    """The best (lowest) ``fraction`` of ``values``, at least one, sorted."""
    return sorted(values)[: top_count(len(values), fraction)]


def min_settings(statistic: str) -> int:
    """The fewest settings a side needs per seed for ``statistic`` to exist."""
    return math.ceil(1 / TOP_FRACTION) + 1 if statistic == "top5_spread" else 1


def expected_min(values: Sequence[float], k: int) -> float:
    """E[min of k values drawn without replacement from ``values``]: sorted v_i weighted by
    C(n - i, k - 1) / C(n, k), i = 1..n (exact; no resampling)."""
    v = sorted(values)
    n = len(v)
    if not 1 <= k <= n:
        raise InputError(f"k must lie in [1, {n}], got {k}")
    return sum(x * math.comb(n - i, k - 1) for i, x in enumerate(v, start=1)) / math.comb(n, k)


def settings_to_threshold(values: Sequence[float], threshold: float) -> int:
    """The smallest k with expected_min(values, k) <= threshold; len(values) + 1 when none."""
    for k in range(1, len(values) + 1):
        if expected_min(values, k) <= threshold:
            return k
    return len(values) + 1


def statistic(values: Sequence[float], name: str, *, threshold: float | None = None) -> float:
    """``name`` (see the module doc) of one seed's ``values``."""
    if not values:
        raise InputError("no FID to summarise")
    if name == "top5":
        return float(statistics.median(top(values)))
    if name == "top5_spread":
        best = top(values)
        if len(best) < 2:
            raise InputError(f"top5_spread needs at least 2 values in the top 5%, i.e. at least "
                             f"{min_settings(name)} settings; got {len(values)}")
        return float(statistics.stdev(best))
    if name == "min":
        return float(min(values))
    if name == "median":
        return float(statistics.median(values))
    if name == "settings_to_threshold":
        if threshold is None:
            raise InputError("settings_to_threshold needs a threshold")
        return float(settings_to_threshold(values, threshold))
    raise InputError(f"unknown statistic {name!r}; valid: {', '.join(STATISTICS)}")


def auto_threshold(mins_a: Sequence[float], mins_b: Sequence[float]) -> float:
    """The threshold of a ``settings_to_threshold`` claim without one: the larger of the two sides'
    median (over seeds) minimum FID, a level that a typical seed of either side reaches."""
    if not mins_a or not mins_b:
        raise InputError("an automatic threshold needs FIDs on both sides")
    return float(max(statistics.median(mins_a), statistics.median(mins_b)))


__all__ = ["TOP_FRACTION", "STATISTICS", "FID_UNITS", "DESCRIPTIONS", "top_count", "top", "min_settings",
           "expected_min", "settings_to_threshold", "statistic", "auto_threshold"]
