"""The one rule that turns FIDs into a verdict, for the audit and for the gate.

*Variant vs baseline* (:func:`compare_seeds`): one observation per independent training seed on
each side (the audit collapses bit-identical runs before calling this). The difference of mean
FID gets a Welch interval (unequal variances, Welch-Satterthwaite degrees of freedom; Welch,
Biometrika 1947) and a two-sided Welch t-test p-value. The verdict follows from the interval and
the design's power, and from nothing else:

- ``real difference``: the interval excludes 0 (equivalently p < alpha: the same test);
- ``within noise``: the interval includes 0 *and* the design had at least ``POWER`` (80%) power to
  detect ``min_effect``, the smallest difference the user cares about (default 5% of the
  baseline's mean FID);
- ``inconclusive``: otherwise, or fewer than ``MIN_SEEDS`` (3) seeds on a side.

Power is that of the same two-sided Welch test at alpha 0.05, from the noncentral t distribution
with the observed seed variances; ``seeds_needed`` is the smallest number of seeds per side
(equal on both sides) that reaches 80% power for the observed difference and for ``min_effect``.

*Drift against a baseline* (:func:`drift_band`): the gate asks whether a new audit's mean FID
moved beyond what the same code could produce with other bits. Its band uses the same noise
model (:mod:`repro.stats.nested`), see the function.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from repro.errors import InputError

ALPHA = 0.05
POWER = 0.80
MIN_SEEDS = 3
DEFAULT_MIN_EFFECT_REL = 0.05  # min_effect as a fraction of the baseline's mean FID
VERDICTS = ("real difference", "within noise", "inconclusive")
METHOD = ("Welch two-sample t interval of the difference of mean FID over independent seeds "
          "(one observation per seed; bit-identical runs counted once), alpha 0.05; power from the "
          "noncentral t at the Welch degrees of freedom")
_MAX_SEEDS = 100_000


@dataclass(frozen=True)
class Comparison:
    """``report.json``'s ``comparison`` (schema in :mod:`repro.audit.schema`)."""

    variant: str
    baseline_variant: str
    diff: float | None  # mean FID of variant - mean FID of baseline
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_seeds_variant: int
    n_seeds_baseline: int
    seeds_needed: int | None  # per side, for 80% power at the observed difference
    seeds_needed_min_effect: int | None  # per side, for 80% power at min_effect
    power_at_min_effect: float | None
    min_effect: float | None
    verdict: str
    reason: str
    method: str = METHOD

    def to_dict(self) -> dict:
        return asdict(self)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(difference, standard error, Welch-Satterthwaite df)."""
    va, vb = a.var(ddof=1), b.var(ddof=1)
    qa, qb = va / a.size, vb / b.size
    se = math.sqrt(qa + qb)
    if se == 0.0:
        return float(a.mean() - b.mean()), 0.0, float(a.size + b.size - 2)
    df = (qa + qb) ** 2 / (qa ** 2 / (a.size - 1) + qb ** 2 / (b.size - 1))
    return float(a.mean() - b.mean()), se, float(df)


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
    finite n detects a zero difference) or the variances are unknown.
    """
    if effect == 0 or not all(math.isfinite(v) and v >= 0 for v in (var_a, var_b)):
        return None
    if var_a + var_b == 0:
        return 2

    def pw(n: int) -> float:
        qa, qb = var_a / n, var_b / n
        df = (qa + qb) ** 2 / (qa ** 2 / (n - 1) + qb ** 2 / (n - 1)) if qa > 0 and qb > 0 else 2 * n - 2
        return power(effect, math.sqrt(qa + qb), df, alpha)

    lo, hi = 2, 2
    while pw(hi) < target:  # power grows with n: double, then bisect
        lo, hi = hi, hi * 2
        if hi > _MAX_SEEDS:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pw(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return hi


def compare_seeds(variant_fids: Sequence[float], baseline_fids: Sequence[float], *, variant: str = "variant",
                  baseline_variant: str = "baseline", min_effect: float | None = None,
                  level: float = 1.0 - ALPHA) -> Comparison:
    """Compare two variants from one FID per independent seed on each side (see the module doc).

    ``min_effect`` (FID units, > 0): the smallest difference that matters; default 5% of the
    baseline's mean FID.
    """
    from scipy import stats

    a = np.asarray(variant_fids, dtype=np.float64).reshape(-1)
    b = np.asarray(baseline_fids, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InputError("FIDs must be finite numbers")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level!r}")
    alpha = 1.0 - level
    if min_effect is None and b.size:
        min_effect = DEFAULT_MIN_EFFECT_REL * abs(float(b.mean()))
    if min_effect is not None and not (math.isfinite(min_effect) and min_effect > 0):
        raise InputError(f"min_effect must be a finite number > 0 (FID units), got {min_effect!r}")
    common = dict(variant=variant, baseline_variant=baseline_variant, n_seeds_variant=int(a.size),
                  n_seeds_baseline=int(b.size), min_effect=min_effect)
    if a.size < 2 or b.size < 2:
        diff = float(a.mean() - b.mean()) if a.size and b.size else None
        return Comparison(diff=diff, ci_low=None, ci_high=None, p_value=None, seeds_needed=None,
                          seeds_needed_min_effect=None, power_at_min_effect=None, verdict="inconclusive",
                          reason=f"fewer than {MIN_SEEDS} seeds on a side ({a.size} vs {b.size}): no interval",
                          **common)
    diff, se, df = _welch(a, b)
    if se == 0.0:
        lo = hi = diff
        p = 0.0 if diff != 0 else 1.0
    else:
        half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
        lo, hi = diff - half, diff + half
        p = float(2.0 * stats.t.sf(abs(diff) / se, df))
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    pw_min = power(min_effect, se, df, alpha)
    needed = seeds_needed(diff, va, vb, alpha=alpha)
    needed_min = seeds_needed(min_effect, va, vb, alpha=alpha)
    excludes_zero = lo > 0 or hi < 0
    if a.size < MIN_SEEDS or b.size < MIN_SEEDS:
        verdict, reason = "inconclusive", f"fewer than {MIN_SEEDS} seeds on a side ({a.size} vs {b.size})"
    elif excludes_zero:
        verdict, reason = "real difference", f"the {level:.0%} interval [{lo:.4g}, {hi:.4g}] excludes 0"
    elif pw_min >= POWER:
        verdict, reason = "within noise", (f"the {level:.0%} interval [{lo:.4g}, {hi:.4g}] includes 0 and the design "
                                           f"had {pw_min:.0%} power to detect a difference of {min_effect:.4g}")
    else:
        verdict, reason = "inconclusive", (f"the {level:.0%} interval [{lo:.4g}, {hi:.4g}] includes 0 but the design "
                                           f"had only {pw_min:.0%} power to detect {min_effect:.4g}"
                                           + (f"; {needed_min} seeds a side would reach {POWER:.0%}" if needed_min
                                              else ""))
    return Comparison(diff=diff, ci_low=lo, ci_high=hi, p_value=p, seeds_needed=needed,
                      seeds_needed_min_effect=needed_min, power_at_min_effect=pw_min, verdict=verdict,
                      reason=reason, **common)


@dataclass(frozen=True)
class Band:
    """The gate's allowed interval for a variant's mean FID, and how it was built."""

    low: float
    high: float
    half_width: float
    noise_std: float  # std of (new mean - baseline mean) under "same code"
    platform_std: float | None  # the "same code, other bits" std included when environments differ
    platform_source: str | None  # which estimate gave it
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def drift_band(base_mean: float, *, eval_std: float | None, nondet_std: float | None, n_seeds: int,
               k: float, min_rel_tol: float, platform_std: float | None = None,
               platform_source: str | None = None, n_seeds_new: int | None = None) -> Band:
    """Allowed interval for a new audit's mean FID of one variant, given its baseline.

    Same environment and seeds (``platform_std`` None): a new mean over the seeds differs from the
    baseline's only by evaluation and nondeterminism noise, per seed sqrt(eval^2 + nondet^2)
    (``eval_std`` is the evaluation noise of one run's FID as used, i.e. already divided by the
    square root of its evaluation seeds); the difference of two means has
    sqrt(1 / n_seeds + 1 / n_seeds_new) times that. Another environment, or other seeds: every run
    has other bits or another draw, which the seed spread measures; ``platform_std`` is added per
    seed in quadrature. Half-width: max(k x std of the difference, min_rel_tol x |base_mean|).
    """
    n_new = n_seeds if n_seeds_new is None else n_seeds_new
    if n_seeds < 1 or n_new < 1:
        raise InputError(f"n_seeds must be >= 1, got {n_seeds} and {n_new}")
    per_seed = (eval_std or 0.0) ** 2 + (nondet_std or 0.0) ** 2 + (platform_std or 0.0) ** 2
    scale = 1.0 / n_seeds + 1.0 / n_new
    noise = math.sqrt(scale * per_seed)
    half = max(k * noise, min_rel_tol * abs(base_mean))
    rule = (f"baseline +/- max({k:g} x sqrt(1/{n_seeds} + 1/{n_new}) x sqrt(eval^2 + nondet^2"
            + (" + platform^2" if platform_std is not None else "") + f"), {min_rel_tol:g} x baseline)")
    return Band(base_mean - half, base_mean + half, half, noise, platform_std, platform_source, rule)


__all__ = ["ALPHA", "POWER", "MIN_SEEDS", "DEFAULT_MIN_EFFECT_REL", "VERDICTS", "METHOD", "Comparison",
           "compare_seeds", "power", "seeds_needed", "Band", "drift_band"]
