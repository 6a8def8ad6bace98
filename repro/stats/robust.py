"""Rank-based comparison and the shape rule: when the Welch interval is not the one to trust.

GAN training seeds can collapse: a collapsed seed's FID sits far above the trained seeds' (the
committed CPU audit: 555 against 83-108), so a variant's per-seed FIDs mix two regimes. Normal
theory then misleads: with 3 vs 8 seeds from one collapse-shaped distribution the Welch test calls
15% of identical variants different (nominal 5%), and the Welch 95% interval of the mean difference
covers 48-93% at 3-5 seeds a side when the collapse rates differ (0-40%). Here:

- :func:`collapsed`: the collapse rule. A seed is *collapsed* when the Inception Score of its
  samples is below :data:`COLLAPSE_IS` (2.0). IS = exp(mutual information between a sample and
  its predicted class); below 2 the generator's samples amount to fewer than two classes' worth of
  distinct, confidently classified images: it has collapsed onto (at most) one mode. On the
  committed CPU audit the trained seeds score IS 4.3-5.5 and the collapsed ones 1.0-1.5. The rule
  fits class-structured data (digits, CIFAR-10); where real images themselves score a low IS
  (faces, bedrooms: about 2-3) set the threshold from the real data's IS.
- :func:`hodges_lehmann`: the Hodges-Lehmann shift (median of all pairwise differences
  variant - baseline) with its distribution-free interval (Moses; Hollander, Wolfe & Chicken,
  *Nonparametric Statistical Methods*, 3rd ed., Section 4.3) from the exact null distribution of
  the Mann-Whitney statistic. Its level is the achieved one (at least the one asked for): with
  3 vs 3 seeds no interval reaches 95% (the smallest two-sided Mann-Whitney p-value is 0.1).
- :func:`mann_whitney_p`: the two-sided Mann-Whitney p-value (exact without ties and below 8
  seeds a side, scipy's rule).
- :func:`shape_rule`: when the verdict uses the rank-based comparison instead of Welch's.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from repro.errors import InputError

COLLAPSE_IS = 2.0
SHAPIRO_ALPHA = 0.05  # family level of the normality check, split over the two sides (Bonferroni)
_EXACT_MAX_PAIRS = 10_000  # beyond m * n pairs the null distribution of U is taken as normal


def collapsed(is_mean: float | None, threshold: float = COLLAPSE_IS) -> bool | None:
    """Whether a seed with Inception Score ``is_mean`` collapsed (None when IS is unknown)."""
    if is_mean is None or not math.isfinite(is_mean):
        return None
    return bool(is_mean < threshold)


@dataclass(frozen=True)
class Collapse:
    """How many of a variant's seeds collapsed, by :func:`collapsed` (None: IS unknown)."""

    collapsed: int | None
    known: int  # seeds with a known IS
    n_seeds: int
    rate: float | None  # collapsed / known (None: no seed's IS known)
    rule: str = f"IS < {COLLAPSE_IS:g}"


def collapse_of(flags: Sequence[bool | None] | None, n_seeds: int) -> Collapse:
    """Count the collapse flags of a side's seeds (``None`` entries: IS unknown for that seed)."""
    known = [f for f in (flags or []) if f is not None]
    count = sum(known) if known else None
    return Collapse(count, len(known), n_seeds, count / len(known) if known else None)


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of arrangements with Mann-Whitney U = 0 .. m n under the null: the coefficients of
    the Gaussian binomial [m + n choose m]_q (exact integers)."""
    poly = [1]
    for i in range(1, m + 1):
        # multiply by (1 - q^(n + i)) ...
        grown = poly + [0] * (n + i)
        for k, c in enumerate(poly):
            grown[k + n + i] -= c
        # ... and divide by (1 - q^i): a running sum with stride i
        for k in range(i, len(grown)):
            grown[k] += grown[k - i]
        poly = grown[:m * n + 1] if len(grown) > m * n + 1 else grown
    return tuple(poly[:m * n + 1])


def _u_cdf_tail(m: int, n: int) -> np.ndarray | None:
    """P(U <= k) for k = 0 .. m n under the null, exact; None when m n is too large."""
    if m * n > _EXACT_MAX_PAIRS:
        return None
    counts = _u_counts(min(m, n), max(m, n))
    return np.cumsum(np.array(counts, dtype=np.float64)) / math.comb(m + n, m)


def _k_for(m: int, n: int, level: float) -> tuple[int, float] | None:
    """The order-statistic index k (1-based) of the interval [D_(k), D_(mn - k + 1)] and its
    achieved level, or None when no interval reaches ``level``."""
    from scipy import stats

    tail = (1.0 - level) / 2.0
    cdf = _u_cdf_tail(m, n)
    if cdf is None:  # normal approximation of U
        mean, sd = m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0)
        k = int(math.floor(mean - stats.norm.ppf(1.0 - tail) * sd))
        return (k, level) if k >= 1 else None
    ok = np.nonzero(cdf <= tail + 1e-12)[0]  # P(U <= k - 1) <= tail  <=>  index k - 1 in ok
    if ok.size == 0:
        return None
    k = int(ok[-1]) + 1
    return k, float(1.0 - 2.0 * cdf[k - 1])


@dataclass(frozen=True)
class RankComparison:
    """Hodges-Lehmann shift variant - baseline, its intervals, the Mann-Whitney p-value, medians."""

    shift: float | None
    ci_low: float | None  # interval at ``level`` >= 95% (None: no such interval with these seeds)
    ci_high: float | None
    level: float | None
    ci90_low: float | None  # interval at ``level90`` >= 90%, for the equivalence test
    ci90_high: float | None
    level90: float | None
    p_value: float | None  # two-sided Mann-Whitney
    median_variant: float | None
    median_baseline: float | None
    method: str = ("Hodges-Lehmann shift (median of pairwise differences) with the distribution-free "
                   "(Moses) interval from the exact Mann-Whitney null distribution; two-sided Mann-Whitney p")

    def to_dict(self) -> dict:
        return asdict(self)


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney p-value (None with an empty side)."""
    from scipy import stats

    if len(a) == 0 or len(b) == 0:
        return None
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def hodges_lehmann(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float | None,
                                                                                         float | None, float | None]:
    """(shift, low, high, achieved level) of variant ``a`` - baseline ``b``; the interval is None
    when no interval at ``level`` exists with these seed counts."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise InputError("a rank comparison needs at least one seed a side")
    d = np.sort((a[:, None] - b[None, :]).ravel())
    shift = float(np.median(d))
    k = _k_for(a.size, b.size, level)
    if k is None:
        return shift, None, None, None
    k, achieved = k
    return shift, float(d[k - 1]), float(d[d.size - k]), achieved


def rank_compare(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> RankComparison:
    """The rank-based comparison of variant ``a`` with baseline ``b`` (one value per seed)."""
    if len(a) == 0 or len(b) == 0:
        med_a = statistics.median(a) if len(a) else None
        med_b = statistics.median(b) if len(b) else None
        return RankComparison(None, None, None, None, None, None, None, None, med_a, med_b)
    shift, lo, hi, achieved = hodges_lehmann(a, b, level)
    _, lo90, hi90, achieved90 = hodges_lehmann(a, b, 1.0 - 2.0 * (1.0 - level))
    return RankComparison(shift, lo, hi, achieved, lo90, hi90, achieved90, mann_whitney_p(a, b),
                          float(statistics.median(a)), float(statistics.median(b)))


def shape_rule(a: Sequence[float], b: Sequence[float], collapse_a: Collapse | None = None,
               collapse_b: Collapse | None = None, names: tuple[str, str] = ("variant", "baseline")) -> str | None:
    """Why the per-seed values are not fit for normal theory, or None when they are.

    The rule: a side mixes collapsed and trained seeds (:func:`collapsed`), or a Shapiro-Wilk test
    rejects normality of a side's per-seed values at 0.05 / 2 (Bonferroni over the two sides; a
    side needs 3 seeds). With 5 seeds a side this flags 4.5% of normal samples, 99% of those mixing
    two regimes 40:60, and a third of strongly skewed (log-normal, sigma 1) ones.
    """
    from scipy import stats

    reasons = []
    for name, c in zip(names, (collapse_a, collapse_b)):
        if c is not None and c.collapsed and c.collapsed < c.known:
            reasons.append(f"{c.collapsed} of {c.known} {name} seeds collapsed ({c.rule}): its per-seed FIDs mix "
                           "two regimes")
    for name, values in zip(names, (a, b)):
        x = np.asarray(values, dtype=np.float64)
        if x.size >= 3 and float(np.ptp(x)) > 1e-12 * max(1.0, float(np.abs(x).max())):
            p = float(stats.shapiro(x).pvalue)
            if p < SHAPIRO_ALPHA / 2:
                reasons.append(f"Shapiro-Wilk rejects normality of {name}'s per-seed FIDs (p = {p:.2g} < "
                               f"{SHAPIRO_ALPHA / 2:g})")
    return "; ".join(reasons) or None


__all__ = ["COLLAPSE_IS", "SHAPIRO_ALPHA", "collapsed", "Collapse", "collapse_of", "RankComparison",
           "mann_whitney_p", "hodges_lehmann", "rank_compare", "shape_rule"]
