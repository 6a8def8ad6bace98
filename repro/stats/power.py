"""Power of the Welch test and the seeds a comparison needs, with the uncertainty of that number.

Power (:func:`power`) is that of the two-sided Welch test at level alpha from the noncentral t
distribution. :func:`seeds_needed` is the smallest number of seeds per side (equal on both sides)
that reaches 80% power at a given difference. It is a planning number, and only as good as the
standard deviation it is given: from 3-5 seeds a side that is known to within a factor of about
two, so :func:`seeds_needed_range` carries the 95% interval of the pooled standard deviation
(chi-square, n_a + n_b - 2 degrees of freedom) through to a range of seeds. Power at the observed
difference (post-hoc power) is not computed: it is a function of the p-value and says nothing the
interval does not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from repro.errors import InputError

ALPHA = 0.05
POWER = 0.80
_MAX_SEEDS = 100_000


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means.

    A side with zero variance contributes nothing: with exactly one variance zero the degrees of
    freedom are the other side's n - 1 (not n_a + n_b - 2); with both zero, n_a + n_b - 2.
    """
    qa, qb = var_a / n_a, var_b / n_b
    terms = [(q, n) for q, n in ((qa, n_a), (qb, n_b)) if q > 0]
    if not terms:
        return float(n_a + n_b - 2)
    return float((qa + qb) ** 2 / sum(q ** 2 / (n - 1) for q, n in terms))


def power(effect: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided t-test at level ``alpha`` when the true difference is ``effect``.

    ``se`` is the standard error of the difference and ``df`` its degrees of freedom:
    P(|T| > t_crit) with T ~ noncentral t(df, effect / se).
    """
    from scipy import stats

    if se <= 0:
        return 1.0 if effect != 0 else alpha
    t_crit = stats.t.ppf(1.0 - alpha / 2.0, df)
    nc = abs(effect) / se
    upper, lower = stats.nct.sf(t_crit, df, nc), stats.nct.cdf(-t_crit, df, nc)
    # scipy's noncentral t returns nan far in the tails (large nc): there the lower tail is 0 and
    # the upper one is given by the normal approximation of T - nc
    if not math.isfinite(lower):
        lower = 0.0
    if not math.isfinite(upper):
        upper = float(stats.norm.sf(t_crit - nc))
    return float(min(1.0, upper + lower))


def seeds_needed(effect: float, var_a: float, var_b: float, *, alpha: float = ALPHA,
                 target: float = POWER) -> int | None:
    """Smallest n (seeds per side) for which the Welch test reaches ``target`` power at ``effect``.

    ``var_a``, ``var_b``: per-seed FID variances of the two sides. None when ``effect`` is 0 (no
    finite n detects a zero difference), the variances are unknown, or more than 100,000 seeds
    would be needed.
    """
    if effect == 0 or not all(math.isfinite(v) and v >= 0 for v in (var_a, var_b)):
        return None
    if var_a + var_b == 0:
        return 2

    def pw(n: int) -> float:
        return power(effect, math.sqrt((var_a + var_b) / n), welch_df(var_a, n, var_b, n), alpha)

    from scipy import stats

    # start at the normal approximation n = (z_(1-alpha/2) + z_target)^2 (var_a + var_b) / effect^2,
    # which the t test needs at most a few more seeds than; then step to the exact smallest n
    z = float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(target))
    n = max(2, math.ceil(z * z * (var_a + var_b) / (effect * effect)))
    if n > _MAX_SEEDS:
        return None
    if pw(n) >= target:
        while n > 2 and pw(n - 1) >= target:
            n -= 1
        return n
    while pw(n) < target:
        n += 1
        if n > _MAX_SEEDS:
            return None
    return n


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds per side for ``target`` power at ``effect``, at the pooled standard deviation and at
    the ends of its interval (``low`` from the interval's low end, ``high`` from its high end)."""

    effect: float
    n: int | None
    low: int | None
    high: int | None
    pooled_std: float
    pooled_std_low: float
    pooled_std_high: float
    df: int
    level: float

    def to_dict(self) -> dict:
        return asdict(self)


def pooled_std_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float, int]:
    """(pooled standard deviation, interval low, interval high, degrees of freedom): the exact
    chi-square interval of a standard deviation common to both sides (normal per-seed values)."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    df = a.size + b.size - 2
    if df < 1:
        raise InputError(f"a pooled standard deviation needs at least 3 values, got {a.size} + {b.size}")
    ss = float(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum())
    tail = (1.0 - level) / 2.0
    return (math.sqrt(ss / df), math.sqrt(ss / stats.chi2.ppf(1.0 - tail, df)),
            math.sqrt(ss / stats.chi2.ppf(tail, df)), df)


def seeds_needed_range(effect: float, a: Sequence[float], b: Sequence[float], *, alpha: float = ALPHA,
                       target: float = POWER, level: float = 0.95) -> SeedsNeeded:
    """Seeds per side for ``target`` power at ``effect`` with both sides at the pooled standard
    deviation of ``a`` and ``b``, and the range over its ``level`` interval."""
    s, s_lo, s_hi, df = pooled_std_interval(a, b, level)
    n = seeds_needed(effect, s * s, s * s, alpha=alpha, target=target)
    low = seeds_needed(effect, s_lo * s_lo, s_lo * s_lo, alpha=alpha, target=target)
    high = seeds_needed(effect, s_hi * s_hi, s_hi * s_hi, alpha=alpha, target=target)
    return SeedsNeeded(float(effect), n, low, high, s, s_lo, s_hi, df, level)


__all__ = ["ALPHA", "POWER", "welch_df", "power", "seeds_needed", "SeedsNeeded", "pooled_std_interval",
           "seeds_needed_range"]
