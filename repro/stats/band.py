"""The CI gate's FID check: did a variant's mean FID move beyond what another draw of its seeds gives?

When the new runs have other bits than the baseline's (another machine, other library versions,
other seeds, or a change to the code that alters the bits but should not alter quality), each new
per-seed FID is a fresh draw from the variant's seed distribution. "Nothing changed" then means
the baseline's n_b and the new report's n_new per-seed FIDs are draws from one distribution.

**The band the gate uses** (:func:`drift_check`): the new mean must lie within baseline mean +- h,
where h is the 1 - alpha/m point of |mean(new) - mean(baseline)| over every way of relabelling the
n_b + n_new pooled per-seed FIDs as "baseline" and "new" (a permutation test in the form of a band;
all C(n_b + n_new, n_new) relabellings up to 20,000 of them, else 20,000 drawn from a fixed seed).
Under "nothing changed" every relabelling is as likely as the observed one, so the band fails with
probability at most alpha/m *whatever the shape* of the per-seed FIDs: normal, skewed, or mixing
collapsed and trained seeds. The false-alarm rate alpha is shared over the m gated variants
(Bonferroni; Holm's step-down gives the same pass/fail decision for the gate as a whole).

**The t band** (:func:`prediction_band`, shown beside it): baseline mean +- t_(1 - alpha/(2m), df)
* s * sqrt(1/n_b + 1/n_new), the prediction interval for the new mean. With s from the baseline's
seeds alone (df = n_b - 1) it is exact for normal per-seed FIDs, but GAN seeds are often not
normal, and then it fails far more often than alpha: ``benchmarks/gate_calibration.py`` measured,
with nothing changed (2 variants, 5 seeds each, the CI baseline's noise), 5.0% on normal FIDs but
9.8-21% on skewed and 16-40% on collapse-shaped ones. With s pooled over both reports (df =
n_b + n_new - 2, the two-sample t test) it stays within 1.8-4.9% at 5 seeds, but reaches 6.5% on
collapse-shaped FIDs at 10. The permutation band: 4.4-5.0% at 5 seeds, 4.4-5.3% at 10 (Monte
Carlo error 0.2-0.4%), with power at +25% within a few points of the pooled t band's
(docs/gate.md has the table).

A baseline needs at least :data:`MIN_BASELINE_SEEDS` (5) seeds: with 3, t_(0.9875, 2) = 6.2 and
there are only 20 relabellings of 3 + 3 seeds, too few for a test at 2.5%. When the bits match
the baseline's, the models are the baseline's: the hash check decides and no band is needed (the
gate, :mod:`repro.audit.gate`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
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


EXACT_RELABELLINGS = 20_000  # enumerate all relabellings up to this many, else draw this many


@lru_cache(maxsize=64)
def _relabellings(n_total: int, n_new: int) -> tuple[np.ndarray, bool]:
    """(index array (S, n_new) of the pooled positions labelled "new", exact?)."""
    if math.comb(n_total, n_new) <= EXACT_RELABELLINGS:
        return np.array(list(itertools.combinations(range(n_total), n_new)), dtype=np.int64), True
    rng = np.random.Generator(np.random.PCG64(0))
    return np.argsort(rng.random((EXACT_RELABELLINGS, n_total)), axis=1)[:, :n_new], False


@dataclass(frozen=True)
class DriftCheck:
    """One variant's FID check: the permutation band, the verdict, and the t band beside it."""

    passed: bool
    new_mean: float
    base_mean: float
    low: float  # the permutation band: base_mean +- half_width
    high: float
    half_width: float
    p_value: float  # permutation p-value of |mean(new) - mean(baseline)|
    alpha_each: float
    relabellings: int
    exact: bool  # all relabellings enumerated (else drawn)
    t_band: PredictionBand  # the prediction interval with s from the baseline's seeds, for reference
    shape: str | None  # the shape rule's finding on the per-seed values (None: nothing unusual)
    rule: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def drift_check(base_values: Sequence[float], new_values: Sequence[float], *, n_variants: int = 1,
                alpha: float = GATE_ALPHA, base_collapsed: Sequence[bool | None] | None = None,
                new_collapsed: Sequence[bool | None] | None = None) -> DriftCheck:
    """Check a variant's new per-seed FIDs against its baseline's: the new mean must lie in the
    permutation band (module doc). Raises :class:`~repro.errors.InputError` with fewer than 5
    baseline seeds, or too few seeds for a test at alpha / n_variants."""
    base = np.asarray(base_values, dtype=np.float64).reshape(-1)
    new = np.asarray(new_values, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(base)) and np.all(np.isfinite(new))):
        raise InputError("per-seed FIDs must be finite numbers")
    if new.size < 1:
        raise InputError("the new report has no per-seed FID for this variant")
    t_band = prediction_band(float(base.mean()), float(base.std(ddof=1)), int(base.size), int(new.size),
                             n_variants=n_variants, alpha=alpha)
    each = t_band.alpha_each
    pooled = np.concatenate([base, new])
    idx, exact = _relabellings(pooled.size, new.size)
    s_new = pooled[idx].sum(axis=1)
    diffs = np.sort(np.abs(s_new / new.size - (pooled.sum() - s_new) / base.size))[::-1]
    # the test rejects when at most K = floor(alpha_each x S) relabellings reach |observed|; so the
    # band's half-width is the (K + 1)-th largest |difference| (drawn relabellings count the
    # observed one too: p = (1 + #) / (1 + S))
    count = diffs.size if exact else diffs.size + 1
    k = math.floor(each * count + 1e-9) - (0 if exact else 1)
    if k < 1:
        raise InputError(f"with {base.size} baseline and {new.size} new seeds there are {count} relabellings: too "
                         f"few for a test at {each:.3g} (alpha {alpha:g} over {n_variants} variants); gate fewer "
                         "variants or use more seeds")
    half = float(diffs[k])
    new_mean, base_mean = float(new.mean()), float(base.mean())
    obs = abs(new_mean - base_mean)
    reach = int((diffs >= obs * (1 - 1e-12)).sum())
    p = reach / diffs.size if exact else (1 + reach) / (1 + diffs.size)
    passed = obs <= half
    shape = shape_rule(new, base, collapse_of(new_collapsed, new.size), collapse_of(base_collapsed, base.size),
                       names=("the new report", "the baseline"))
    how = "all" if exact else "drawn"
    rule = (f"baseline mean +- the {1 - each:.4g} point of |mean(new) - mean(baseline)| over {how} {diffs.size} "
            f"relabellings of the {base.size} + {new.size} per-seed FIDs (alpha {alpha:g} over {n_variants} "
            "variant(s), Bonferroni)")
    message = (f"new mean {new_mean:.6g} {'within' if passed else 'outside'} the band [{base_mean - half:.6g}, "
               f"{base_mean + half:.6g}] around the baseline's {base_mean:.6g} (shift {new_mean - base_mean:+.4g}, "
               f"permutation p = {p:.3g} over {how} {diffs.size} relabellings of the {base.size} + {new.size} "
               "per-seed FIDs)")
    if shape:
        message += f"; note: {shape}"
    return DriftCheck(passed, new_mean, base_mean, base_mean - half, base_mean + half, half, p, each, int(diffs.size),
                      exact, t_band, shape, rule, message)


__all__ = ["MIN_BASELINE_SEEDS", "GATE_ALPHA", "PredictionBand", "prediction_band", "DriftCheck",
           "drift_check"]
