"""Statistics of FID comparisons: independent evidence, nested variance components, one verdict rule.

- :mod:`repro.stats.evidence`: bit-identical runs collapse to one; one observation per seed.
- :mod:`repro.stats.nested`: seed > replicate > evaluation variance components (method of moments)
  with generalized confidence intervals.
- :mod:`repro.stats.comparison`: the variant-vs-baseline verdict (Welch or rank-based, equivalence
  by two one-sided tests).
- :mod:`repro.stats.robust`: the collapse rule, the shape rule, Hodges-Lehmann and Mann-Whitney.
- :mod:`repro.stats.power`: power and the seeds a comparison needs, with a range.
- :mod:`repro.stats.band`: the CI gate's FID check (prediction band or rank test).
"""

from repro.stats.band import (
    GATE_ALPHA,
    MIN_BASELINE_SEEDS,
    DriftCheck,
    PredictionBand,
    drift_check,
    prediction_band,
)
from repro.stats.comparison import Comparison, compare_seeds
from repro.stats.evidence import DistinctRun, SeedEvidence, distinct_runs, nested_design, seed_evidence
from repro.stats.nested import Component, Decomposition, decompose, unit_std
from repro.stats.power import SeedsNeeded, power, seeds_needed, seeds_needed_range
from repro.stats.robust import COLLAPSE_IS, Collapse, RankComparison, collapsed, hodges_lehmann, rank_compare

__all__ = ["GATE_ALPHA", "MIN_BASELINE_SEEDS", "DriftCheck", "PredictionBand", "drift_check",
           "prediction_band", "Comparison", "compare_seeds", "DistinctRun", "SeedEvidence", "distinct_runs",
           "nested_design", "seed_evidence", "Component", "Decomposition", "decompose", "unit_std", "SeedsNeeded",
           "power", "seeds_needed", "seeds_needed_range", "COLLAPSE_IS", "Collapse", "RankComparison", "collapsed",
           "hodges_lehmann", "rank_compare"]
