"""Statistics of FID comparisons: independent evidence, nested variance components, one verdict rule.

- :mod:`repro.stats.evidence`: bit-identical runs collapse to one; one observation per seed.
- :mod:`repro.stats.nested`: seed > replicate > evaluation variance components (method of moments).
- :mod:`repro.stats.comparison`: the variant-vs-baseline verdict and the gate's drift band.
"""

from repro.stats.comparison import Band, Comparison, compare_seeds, drift_band, power, seeds_needed
from repro.stats.evidence import DistinctRun, SeedEvidence, distinct_runs, nested_design, seed_evidence
from repro.stats.nested import Component, Decomposition, decompose, unit_std

__all__ = ["Band", "Comparison", "compare_seeds", "drift_band", "power", "seeds_needed", "DistinctRun",
           "SeedEvidence", "distinct_runs", "nested_design", "seed_evidence", "Component", "Decomposition",
           "decompose", "unit_std"]
