"""The CI gate's FID check: did a variant's mean FID move beyond what another draw of its seeds gives?

When the new runs have other bits than the baseline's (another machine, other library versions,
other seeds, or a change to the code that alters the bits but should not alter quality), each new
per-seed FID is a fresh draw from the variant's seed distribution. Under "nothing changed" the new
mean over n_new seeds and the baseline's mean over n_b seeds differ by noise of standard deviation
sigma * sqrt(1/n_b + 1/n_new), sigma being the standard deviation of one seed's observation, and

    new mean - baseline mean  ~  t(df) * s * sqrt(1/n_b + 1/n_new)

gives the **prediction band** (:func:`prediction_band`): baseline mean +- t_(1 - alpha/(2m), df) * s
* sqrt(1/n_b + 1/n_new), with the false-alarm rate alpha shared over the m gated variants
(Bonferroni; Holm's step-down gives the same pass/fail decision for the gate as a whole). A
baseline needs at least :data:`MIN_BASELINE_SEEDS` (5) seeds: with 3, t_(0.9875, 2) = 6.2 and the
band is too wide to catch anything.

Which s: the gate (:func:`drift_check`) pools the baseline's and the new report's per-seed values
(s with n_b + n_new - 2 degrees of freedom: the two-sample t test in the form of a band). With s
from the baseline alone (n_b - 1 degrees of freedom) the band is exact for normal per-seed FIDs,
but GAN seeds are often not normal (seeds collapse; scores are skewed), and then it fails far more
often than alpha: ``benchmarks/gate_calibration.py`` measures 10-21% on skewed and 15-41% on
collapse-shaped per-seed FIDs with nothing changed (2 variants, 5 seeds each), against 1.4-5.5%
for the pooled band, which is also the more powerful one (for equal seed counts the two-sample t
test's level is robust to skewness). The shape of the per-seed values
(:func:`repro.stats.robust.shape_rule`) is reported beside the check.

When the bits match the baseline's, the models are the baseline's: the hash check decides and no
band is needed (the gate, :mod:`repro.audit.gate`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from repro.errors import InputError
from repro.stats.robust import collapse_of, shape_rule

MIN_BASELINE_SEEDS = 5
GATE_ALPHA = 0.05  # false-alarm rate of the FID check over all gated variants together


@dataclass(frozen=True)
class PredictionBand:
    """The allowed interval for a new mean FID of one variant, and how it was built."""

    low: float
    high: float
    half_width: float
    base_mean: float
    base_std: float  # standard deviation of one seed's observation in the baseline
    n_baseline: int
    n_new: int
    df: int
    quantile: float  # t quantile at 1 - alpha_each / 2
    alpha: float  # over all gated variants
    n_variants: int
    alpha_each: float
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def prediction_band(base_mean: float, std: float, n_baseline: int, n_new: int, *, df: int | None = None,
                    n_variants: int = 1, alpha: float = GATE_ALPHA) -> PredictionBand:
    """The prediction band for the mean of ``n_new`` new per-seed FIDs (see the module doc).

    ``std``: the standard deviation of one seed's observation, with ``df`` degrees of freedom
    (default n_baseline - 1: estimated from the baseline's seeds alone).
    """
    from scipy import stats

    if not (isinstance(n_baseline, (int, np.integer)) and n_baseline >= MIN_BASELINE_SEEDS):
        raise InputError(f"the baseline has {n_baseline} seed(s) for this variant; the FID band needs at least "
                         f"{MIN_BASELINE_SEEDS} (refresh the baseline with more seeds)")
    if not (isinstance(n_new, (int, np.integer)) and n_new >= 1):
        raise InputError(f"n_new must be an integer >= 1, got {n_new!r}")
    if not (isinstance(n_variants, (int, np.integer)) and n_variants >= 1):
        raise InputError(f"n_variants must be an integer >= 1, got {n_variants!r}")
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must lie in (0, 1), got {alpha!r}")
    if not (math.isfinite(base_mean) and math.isfinite(std) and std >= 0):
        raise InputError(f"the baseline's mean and standard deviation must be finite (std >= 0), got "
                         f"{base_mean!r}, {std!r}")
    df = int(n_baseline) - 1 if df is None else int(df)
    if df < 1:
        raise InputError(f"df must be >= 1, got {df}")
    each = alpha / n_variants
    q = float(stats.t.ppf(1.0 - each / 2.0, df))
    half = q * std * math.sqrt(1.0 / n_baseline + 1.0 / n_new)
    rule = (f"baseline mean +- t(1 - {each:.3g}/2, {df} df) = {q:.3f} x s {std:.4g} x sqrt(1/{n_baseline} + "
            f"1/{n_new}) (alpha {alpha:g} over {n_variants} variant(s), Bonferroni)")
    return PredictionBand(base_mean - half, base_mean + half, half, float(base_mean), float(std),
                          int(n_baseline), int(n_new), df, q, float(alpha), int(n_variants), each, rule)


@dataclass(frozen=True)
class DriftCheck:
    """One variant's FID check: pass or not, and why."""

    passed: bool
    new_mean: float
    base_mean: float
    band: PredictionBand
    p_value: float  # two-sided, of the pooled two-sample t statistic
    shape: str | None  # the shape rule's finding on the per-seed values (None: nothing unusual)
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def drift_check(base_values: Sequence[float], new_values: Sequence[float], *, n_variants: int = 1,
                alpha: float = GATE_ALPHA, base_collapsed: Sequence[bool | None] | None = None,
                new_collapsed: Sequence[bool | None] | None = None) -> DriftCheck:
    """Check a variant's new per-seed FIDs against its baseline's: the new mean must lie in the
    prediction band with s pooled over both (module doc). Raises :class:`~repro.errors.InputError`
    with fewer than 5 baseline seeds."""
    from scipy import stats

    base = np.asarray(base_values, dtype=np.float64).reshape(-1)
    new = np.asarray(new_values, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(base)) and np.all(np.isfinite(new))):
        raise InputError("per-seed FIDs must be finite numbers")
    if new.size < 1:
        raise InputError("the new report has no per-seed FID for this variant")
    ss = float(((base - base.mean()) ** 2).sum() + ((new - new.mean()) ** 2).sum())
    df = base.size + new.size - 2
    pooled = math.sqrt(ss / df) if df > 0 else 0.0
    band = prediction_band(float(base.mean()), pooled, int(base.size), int(new.size), df=df, n_variants=n_variants,
                           alpha=alpha)
    new_mean = float(new.mean())
    scale = pooled * math.sqrt(1.0 / base.size + 1.0 / new.size)
    t = (new_mean - band.base_mean) / scale if scale > 0 else (0.0 if new_mean == band.base_mean else math.inf)
    p = float(2.0 * stats.t.sf(abs(t), df))
    passed = band.low <= new_mean <= band.high
    shape = shape_rule(new, base, collapse_of(new_collapsed, new.size), collapse_of(base_collapsed, base.size),
                       names=("the new report", "the baseline"))
    message = (f"new mean {new_mean:.6g} {'within' if passed else 'outside'} the band [{band.low:.6g}, "
               f"{band.high:.6g}] around the baseline's {band.base_mean:.6g} (shift {new_mean - band.base_mean:+.4g}, "
               f"p = {p:.3g}; s pooled over {base.size} baseline and {new.size} new seeds)")
    if shape:
        message += f"; note: {shape}"
    return DriftCheck(passed, new_mean, band.base_mean, band, p, shape, message)


# --------------------------------------------------------------------------------------------------
# The band the gate used before issue 22 (k standard deviations, a relative floor). Kept only until
# repro.audit.gate moves to drift_check; do not use it in new code.


@dataclass(frozen=True)
class Band:
    """The former gate band (superseded by :class:`PredictionBand`)."""

    low: float
    high: float
    half_width: float
    noise_std: float
    platform_std: float | None
    platform_source: str | None
    rule: str

    def to_dict(self) -> dict:
        return asdict(self)


def drift_band(base_mean: float, *, eval_std: float | None, nondet_std: float | None, n_seeds: int,
               k: float, min_rel_tol: float, platform_std: float | None = None,
               platform_source: str | None = None, n_seeds_new: int | None = None) -> Band:
    """The former gate band: max(k x sqrt(1/n + 1/n_new) x sqrt(eval^2 + nondet^2 [+ platform^2]),
    min_rel_tol x |base_mean|). Superseded by :func:`drift_check`."""
    n_new = n_seeds if n_seeds_new is None else n_seeds_new
    if n_seeds < 1 or n_new < 1:
        raise InputError(f"n_seeds must be >= 1, got {n_seeds} and {n_new}")
    per_seed = (eval_std or 0.0) ** 2 + (nondet_std or 0.0) ** 2 + (platform_std or 0.0) ** 2
    noise = math.sqrt((1.0 / n_seeds + 1.0 / n_new) * per_seed)
    half = max(k * noise, min_rel_tol * abs(base_mean))
    rule = (f"baseline +/- max({k:g} x sqrt(1/{n_seeds} + 1/{n_new}) x sqrt(eval^2 + nondet^2"
            + (" + platform^2" if platform_std is not None else "") + f"), {min_rel_tol:g} x baseline)")
    return Band(base_mean - half, base_mean + half, half, noise, platform_std, platform_source, rule)


__all__ = ["MIN_BASELINE_SEEDS", "GATE_ALPHA", "PredictionBand", "prediction_band", "DriftCheck",
           "drift_check", "Band", "drift_band"]
