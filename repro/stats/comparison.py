"""The one rule that turns FIDs into a verdict, for the audit and for a study's claims.

*Variant vs baseline* (:func:`compare_seeds`): one observation per independent training seed on
each side (the audit collapses bit-identical runs before calling this). Beside each other:

- **Welch**: the difference of mean FID with a 95% Welch interval (unequal variances,
  Welch-Satterthwaite degrees of freedom; Welch, Biometrika 1947), the two-sided Welch p-value,
  and the 90% interval of the equivalence test;
- **rank-based** (:mod:`repro.stats.robust`): the Hodges-Lehmann shift with its distribution-free
  interval, the two-sided Mann-Whitney p-value, each side's median;
- **collapse**: how many seeds of each side collapsed (IS < 2), where the caller knows IS.

The verdict rests on one *basis*: Welch, or the rank-based comparison when the per-seed values are
bimodal or strongly skewed (:func:`repro.stats.robust.shape_rule`: a side mixes collapsed and
trained seeds, or Shapiro-Wilk rejects normality of a side at 0.025), and the reason says which
and why. With the basis's intervals:

- ``real difference``: the 95% interval excludes 0 (for Welch, equivalently p < 0.05);
- ``within noise``: two one-sided tests at 5% (Schuirmann 1987): the 90% interval lies inside
  (-min_effect, +min_effect), ``min_effect`` being the smallest difference that matters (default
  5% of the baseline's mean FID). A difference that is real but smaller than ``min_effect`` stays
  ``real difference``, and the reason says it is smaller than what matters;
- ``inconclusive``: otherwise, or fewer than ``MIN_SEEDS`` (3) seeds a side.

The report gives the seeds per side for 80% power at ``min_effect`` with a range from the 95%
interval of the pooled standard deviation (:mod:`repro.stats.power`); not at the observed
difference (post-hoc power restates the p-value).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from repro.errors import InputError
from repro.stats.power import ALPHA, POWER, power, seeds_needed, seeds_needed_range, welch_df
from repro.stats.robust import Collapse, RankComparison, collapse_of, rank_compare, shape_rule

MIN_SEEDS = 3
DEFAULT_MIN_EFFECT_REL = 0.05  # min_effect as a fraction of the baseline's mean FID
VERDICTS = ("real difference", "within noise", "inconclusive")
BASES = ("welch", "rank")
METHOD = ("one observation per independent seed (bit-identical runs counted once); Welch t interval of the "
          "difference of mean FID (95%; 90% for the equivalence test against +-min_effect) and, when the per-seed "
          "FIDs are bimodal or strongly skewed, the Hodges-Lehmann shift with its distribution-free interval and "
          "the Mann-Whitney p-value instead; seeds needed for 80% power at min_effect from the pooled standard "
          "deviation and its 95% interval")


@dataclass(frozen=True)
class Comparison:
    """``report.json``'s ``comparison`` (schema in :mod:`repro.audit.schema`)."""

    variant: str
    baseline_variant: str
    diff: float | None  # mean FID of variant - mean FID of baseline
    ci_low: float | None  # 95% Welch interval
    ci_high: float | None
    p_value: float | None  # two-sided Welch
    ci90_low: float | None  # 90% Welch interval (equivalence test)
    ci90_high: float | None
    n_seeds_variant: int
    n_seeds_baseline: int
    seeds_needed_min_effect: int | None  # per side, 80% power at min_effect, pooled standard deviation
    seeds_needed_low: int | None  # the same at the low and high ends of the pooled std's 95% interval
    seeds_needed_high: int | None
    pooled_std: float | None
    pooled_std_low: float | None
    pooled_std_high: float | None
    min_effect: float | None
    rank: RankComparison
    collapse_variant: Collapse
    collapse_baseline: Collapse
    basis: str  # "welch" or "rank": which comparison the verdict rests on
    effect: float | None  # the basis's estimate of variant - baseline: ``diff`` or the Hodges-Lehmann shift
    shape: str | None  # why the per-seed values are not fit for normal theory (None: they are)
    verdict: str
    reason: str
    method: str = METHOD

    def to_dict(self) -> dict:
        return asdict(self)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(difference, standard error, Welch-Satterthwaite df)."""
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    se = math.sqrt(va / a.size + vb / b.size)
    return float(a.mean() - b.mean()), se, welch_df(va, a.size, vb, b.size)


def _interval(diff: float, se: float, df: float, level: float) -> tuple[float, float]:
    from scipy import stats

    if se == 0.0:
        return diff, diff
    half = float(stats.t.ppf(0.5 + level / 2.0, df)) * se
    return diff - half, diff + half


def _f(x: float) -> str:
    return f"{x:.4g}"


def _decide(lo: float | None, hi: float | None, lo90: float | None, hi90: float | None, min_effect: float,
            level: float, what: str) -> tuple[str, str]:
    """Verdict and reason from the basis's intervals (``what`` names them)."""
    if lo is None and lo90 is None:
        return "inconclusive", f"no {what} interval exists with these seed counts"
    inside = lo90 is not None and -min_effect < lo90 and hi90 < min_effect
    band = f"+-{_f(min_effect)}"
    if lo is not None and (lo > 0 or hi < 0):
        reason = f"the {level:.0%} {what} interval [{_f(lo)}, {_f(hi)}] excludes 0"
        if inside:
            reason += f"; the difference is smaller than the smallest that matters ({band})"
        return "real difference", reason
    where = (f"the {level:.0%} {what} interval [{_f(lo)}, {_f(hi)}] includes 0" if lo is not None
             else f"no {level:.0%} {what} interval exists with these seed counts")
    if inside:
        return "within noise", (f"{where}, and the 90% interval [{_f(lo90)}, {_f(hi90)}] lies inside {band}: "
                                "equivalent by two one-sided tests at 5%")
    detail = (f"the 90% interval [{_f(lo90)}, {_f(hi90)}] reaches beyond {band}" if lo90 is not None
              else "no 90% interval exists either")
    return "inconclusive", f"{where}, and {detail}: neither a difference nor equivalence is shown"


def compare_seeds(variant_fids: Sequence[float], baseline_fids: Sequence[float], *, variant: str = "variant",
                  baseline_variant: str = "baseline", min_effect: float | None = None,
                  level: float = 1.0 - ALPHA, collapsed_variant: Sequence[bool | None] | None = None,
                  collapsed_baseline: Sequence[bool | None] | None = None) -> Comparison:
    """Compare two variants from one FID per independent seed on each side (see the module doc).

    ``min_effect`` (FID units, > 0): the smallest difference that matters; default 5% of the
    baseline's mean FID. ``collapsed_variant`` / ``collapsed_baseline``: per seed, whether it
    collapsed (:func:`repro.stats.robust.collapsed`; None where unknown), in the order of the FIDs.
    """
    a = np.asarray(variant_fids, dtype=np.float64).reshape(-1)
    b = np.asarray(baseline_fids, dtype=np.float64).reshape(-1)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InputError("FIDs must be finite numbers")
    if not 0.5 < level < 1.0:
        raise InputError(f"level must lie in (0.5, 1), got {level!r}")
    for name, flags, x in (("collapsed_variant", collapsed_variant, a), ("collapsed_baseline", collapsed_baseline, b)):
        if flags is not None and len(flags) != x.size:
            raise InputError(f"{name} has {len(flags)} entries for {x.size} seeds")
    if min_effect is None and b.size:
        min_effect = DEFAULT_MIN_EFFECT_REL * abs(float(b.mean()))
    if min_effect is not None and not (math.isfinite(min_effect) and min_effect > 0):
        raise InputError(f"min_effect must be a finite number > 0 (FID units), got {min_effect!r}")
    level90 = 1.0 - 2.0 * (1.0 - level)
    ca, cb = collapse_of(collapsed_variant, a.size), collapse_of(collapsed_baseline, b.size)
    rank = rank_compare(a.tolist(), b.tolist(), level)
    common = dict(variant=variant, baseline_variant=baseline_variant, n_seeds_variant=int(a.size),
                  n_seeds_baseline=int(b.size), min_effect=min_effect, rank=rank, collapse_variant=ca,
                  collapse_baseline=cb)
    if a.size < 2 or b.size < 2:
        diff = float(a.mean() - b.mean()) if a.size and b.size else None
        return Comparison(diff=diff, ci_low=None, ci_high=None, p_value=None, ci90_low=None, ci90_high=None,
                          seeds_needed_min_effect=None, seeds_needed_low=None, seeds_needed_high=None,
                          pooled_std=None, pooled_std_low=None, pooled_std_high=None, basis="welch", effect=diff,
                          shape=None, verdict="inconclusive",
                          reason=f"fewer than {MIN_SEEDS} seeds on a side ({a.size} vs {b.size}): no interval",
                          **common)
    from scipy import stats

    diff, se, df = _welch(a, b)
    lo, hi = _interval(diff, se, df, level)
    lo90, hi90 = _interval(diff, se, df, level90)
    p = (0.0 if diff != 0 else 1.0) if se == 0.0 else float(2.0 * stats.t.sf(abs(diff) / se, df))
    needed = seeds_needed_range(min_effect, a, b, alpha=1.0 - level)
    shape = shape_rule(a, b, ca, cb, names=(variant, baseline_variant))
    basis = "rank" if shape else "welch"
    if a.size < MIN_SEEDS or b.size < MIN_SEEDS:
        verdict, reason = "inconclusive", f"fewer than {MIN_SEEDS} seeds on a side ({a.size} vs {b.size})"
    elif basis == "welch":
        verdict, reason = _decide(lo, hi, lo90, hi90, min_effect, level, "Welch")
    else:
        verdict, reason = _decide(rank.ci_low, rank.ci_high, rank.ci90_low, rank.ci90_high, min_effect, level,
                                  "Hodges-Lehmann")
        reason = (f"rank-based verdict, because {shape}: {reason} (Hodges-Lehmann shift {_f(rank.shift)}, "
                  f"Mann-Whitney p = {rank.p_value:.3g}; Welch's interval [{_f(lo)}, {_f(hi)}] is shown beside it)")
    return Comparison(diff=diff, ci_low=lo, ci_high=hi, p_value=p, ci90_low=lo90, ci90_high=hi90,
                      seeds_needed_min_effect=needed.n, seeds_needed_low=needed.low, seeds_needed_high=needed.high,
                      pooled_std=needed.pooled_std, pooled_std_low=needed.pooled_std_low,
                      pooled_std_high=needed.pooled_std_high, basis=basis,
                      effect=diff if basis == "welch" else rank.shift, shape=shape, verdict=verdict, reason=reason,
                      **common)


__all__ = ["ALPHA", "POWER", "MIN_SEEDS", "DEFAULT_MIN_EFFECT_REL", "VERDICTS", "BASES", "METHOD", "Comparison",
           "compare_seeds", "power", "seeds_needed"]
