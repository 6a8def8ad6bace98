"""Exact (Clopper-Pearson) bounds on a binomial rate: how often can an event we saw k times in
n independent tries happen?

Used by ``repro hunt``: k of n fresh processes ended on another final hash than the typical one.
The one-sided 95% upper bound for 0 of n is ``1 - 0.05 ** (1 / n)`` (about 3 / n: "the rule of
three"); in general it is the rate p at which k or fewer events in n tries has probability 0.05,
the 0.95 quantile of Beta(k + 1, n - k). Computed here from the binomial distribution itself, by
bisection, so no statistics library is needed (the tests check it against scipy's beta quantiles).
"""

from __future__ import annotations

import math

from repro.errors import InputError


def _check(k: int, n: int) -> None:
    if not (isinstance(n, int) and isinstance(k, int) and n >= 1 and 0 <= k <= n):
        raise InputError(f"a binomial bound needs integers 0 <= k <= n and n >= 1; got k={k!r}, n={n!r}")


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (stable for n in the thousands)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _solve(f, target: float) -> float:
    """The p in [0, 1] at which the decreasing function f(p) equals ``target``, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact upper bound on the rate: the p with P(X <= k | n, p) = 1 - confidence
    (1.0 when k = n). For k = 0 this is ``1 - (1 - confidence) ** (1 / n)``."""
    _check(k, n)
    if k == n:
        return 1.0
    alpha = 1.0 - confidence
    if k == 0:
        return 1.0 - alpha ** (1.0 / n)
    return _solve(lambda p: binom_cdf(k, n, p), alpha)


def interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact (Clopper-Pearson) interval: each tail holds (1 - confidence) / 2."""
    _check(k, n)
    tail = (1.0 - confidence) / 2
    lower = 0.0 if k == 0 else 1.0 - _solve(lambda q: 1.0 - binom_cdf(k - 1, n, 1.0 - q), tail)
    upper = 1.0 if k == n else _solve(lambda p: binom_cdf(k, n, p), tail)
    return lower, upper
