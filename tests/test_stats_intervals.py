"""Coverage of the nested model's intervals, measured by simulation (issue 22 item 5).

Each design is one the audit produces: seeds x distinct runs x evaluation seeds. A level that is
not estimable is contained in the one above (the seed component of a design without replicates
is sqrt(seed^2 + nondeterminism^2)), and that combined standard deviation is what its interval
must cover. The percentile parametric bootstrap this replaced covered 70-84% here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from repro.stats import decompose

DESIGNS = {  # (distinct runs, evaluation seeds) per seed
    "5 seeds x 1 run x 10 eval (committed CPU audit)": [(1, 10)] * 5,
    "5 seeds x 1 run x 2 eval (CI audit)": [(1, 2)] * 5,
    "seed 0 x 3 runs + 4 seeds x 1 run, 2 eval": [(3, 2)] + [(1, 2)] * 4,
    "1 seed x 3 runs x 1 eval (committed GPU audit)": [(3, 1)],
    "3 seeds x 2 runs x 2 eval": [(2, 2)] * 3,
}
SDS = [(10.0, 3.0, 2.0), (1.0, 3.0, 5.0)]  # seed, nondeterminism, evaluation


def _coverage(shape, sd, trials=300, seed=0):
    rng = np.random.default_rng(seed)
    hits, counts = np.zeros(3), np.zeros(3)
    for t in range(trials):
        design = []
        for runs, evals in shape:
            a = rng.normal(0, sd[0])
            design.append([100 + a + rng.normal(0, sd[1]) + rng.normal(0, sd[2], evals) for _ in range(runs)])
        d = decompose(design, n_draws=2000, seed=t)
        var = [s * s for s in sd]
        if d.evaluation.var is None:
            var[1], var[2] = var[1] + var[2], 0.0
        if d.replicate.var is None:
            var[0], var[1] = var[0] + var[1], 0.0
        for k, c in enumerate(d.components()):
            if c.ci_low is not None:
                counts[k] += 1
                hits[k] += c.ci_low <= math.sqrt(var[k]) <= c.ci_high
    return {level: hits[k] / counts[k] for k, level in enumerate(("seed", "replicate", "evaluation")) if counts[k]}


@pytest.mark.parametrize("name", list(DESIGNS))
@pytest.mark.parametrize("sd", SDS, ids=["seed-dominated", "noise-dominated"])
def test_intervals_cover_at_about_the_nominal_rate(name, sd):
    # 300 trials: a true 95% lands in [0.925, 0.975] with probability ~0.95 (binomial sd 1.3%);
    # the seeds are fixed, so the test is deterministic
    for level, coverage in _coverage(DESIGNS[name], sd).items():
        assert 0.92 <= coverage <= 0.985, f"{name}, sd {sd}, {level}: coverage {coverage:.3f}"


def test_one_mean_square_gets_the_exact_chi_square_interval():
    # the committed GPU audit: one seed, three distinct runs, one evaluation seed: the replicate
    # component is MS_rep with 2 df, and its 95% interval is sqrt(SS / chi2 quantiles)
    values = [58.24871175076794, 78.5, 50.2]
    d = decompose([[[v] for v in values]])
    ss = float(np.sum((np.array(values) - np.mean(values)) ** 2))
    lo, hi = math.sqrt(ss / stats.chi2.ppf(0.975, 2)), math.sqrt(ss / stats.chi2.ppf(0.025, 2))
    assert (d.replicate.ci_low, d.replicate.ci_high) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert d.replicate.ci_low / d.replicate.std == pytest.approx(0.5207, abs=1e-3)  # the issue's [7.6, 91.5] for 14.6
    assert d.replicate.ci_high / d.replicate.std == pytest.approx(6.285, abs=1e-3)
    # the evaluation level is always one mean square
    e = decompose([[[1.0, 2.0, 4.0]], [[3.0, 3.5, 2.0]]])
    ss_e = float(np.sum((np.array([1.0, 2.0, 4.0]) - 7 / 3) ** 2) + np.sum((np.array([3.0, 3.5, 2.0]) - 8.5 / 3) ** 2))
    assert e.evaluation.ci_high == pytest.approx(math.sqrt(ss_e / stats.chi2.ppf(0.025, 4)), rel=1e-12)


def test_intervals_are_reproducible_and_bracket_the_estimate():
    design = [[[10, 10.5, 9.8], [12, 12.2, 11.9]], [[20, 20.3, 19.9]], [[15, 15.1, 14.7], [14, 14.4, 14.2]]]
    d1, d2 = decompose(design, n_draws=3000, seed=3), decompose(design, n_draws=3000, seed=3)
    assert d1 == d2
    for c in d1.components():
        assert c.ci_low <= c.std <= c.ci_high
    assert decompose(design, n_draws=0).seed.ci_low is None
