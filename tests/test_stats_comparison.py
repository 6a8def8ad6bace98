"""The verdict rule, power, the nested variance model and independent evidence (repro.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.stats import compare_seeds, decompose, distinct_runs, power, seed_evidence, seeds_needed
from repro.stats.evidence import nested_design


# ----------------------------------------------------------------------------------------- Welch
def test_welch_interval_by_hand():
    # a = [1, 2, 3], b = [4, 5, 6]: diff -3, var 1 each, se = sqrt(2/3), Welch df = 4,
    # t_0.975(4) = 2.7764451, half-width 2.2669; t = -3.6742, p = 2 * sf(3.6742, 4) = 0.021312.
    c = compare_seeds([1, 2, 3], [4, 5, 6], min_effect=1.0)
    assert c.diff == -3.0
    assert c.ci_low == pytest.approx(-3 - 2.7764451 * math.sqrt(2 / 3), abs=1e-6)
    assert c.ci_high == pytest.approx(-3 + 2.7764451 * math.sqrt(2 / 3), abs=1e-6)
    assert c.p_value == pytest.approx(0.021312, abs=1e-5)
    assert c.verdict == "real difference"
    assert (c.n_seeds_variant, c.n_seeds_baseline) == (3, 3)


def test_interval_and_p_value_agree():
    # the verdict and the p-value are one test: interval excludes 0 <=> p < 0.05
    rng = np.random.Generator(np.random.PCG64(5))
    for _ in range(200):
        a, b = rng.normal(0, 1, 4), rng.normal(rng.uniform(-2, 2), rng.uniform(0.5, 2), 5)
        c = compare_seeds(a, b, min_effect=0.5)
        assert (c.ci_low > 0 or c.ci_high < 0) == (c.p_value < 0.05)
        assert (c.verdict == "real difference") == (c.p_value < 0.05)


def test_too_few_seeds_is_inconclusive_even_with_an_interval():
    c = compare_seeds([10.0, 10.5], [10.2, 10.1], min_effect=5.0)
    assert c.verdict == "inconclusive"
    assert "fewer than 3 seeds" in c.reason
    c1 = compare_seeds([10.0], [10.2, 10.1, 10.3], min_effect=5.0)
    assert c1.verdict == "inconclusive" and c1.ci_low is None


def test_interval_with_zero_and_wide_90_interval_is_inconclusive():
    # seeds spread by ~20 FID, difference cares about 1 FID: 3 seeds cannot show equivalence
    c = compare_seeds([100, 120, 140], [110, 130, 125], min_effect=1.0)
    assert c.ci_low < 0 < c.ci_high
    assert c.ci90_low < -1.0 or c.ci90_high > 1.0
    assert c.verdict == "inconclusive"
    assert c.seeds_needed_min_effect > 3


def test_interval_with_zero_and_90_interval_inside_is_within_noise():
    c = compare_seeds([100.0, 100.2, 99.9, 100.1, 99.8], [100.1, 99.9, 100.0, 100.2, 99.95], min_effect=5.0)
    assert c.ci_low < 0 < c.ci_high
    assert -5.0 < c.ci90_low and c.ci90_high < 5.0
    assert c.verdict == "within noise"


def test_default_min_effect_is_five_percent_of_baseline():
    c = compare_seeds([1, 2, 3], [200, 201, 202])
    assert c.min_effect == pytest.approx(0.05 * 201)


@given(st.floats(0.1, 10), st.floats(0.1, 5), st.integers(3, 40))
@settings(max_examples=40, deadline=None)
def test_power_grows_with_effect_and_reaches_alpha_at_zero(effect, se, df):
    assert power(0.0, se, df) == pytest.approx(0.05, abs=1e-9)
    assert power(effect, se, df) < power(2 * effect, se, df) + 1e-12


def test_seeds_needed_reaches_the_target_and_one_fewer_does_not():
    n = seeds_needed(2.0, 4.0, 4.0)  # per-seed std 2 on both sides, effect 2 (Cohen's d = 1)
    # the z approximation gives 2 (1.96 + 0.84)^2 = 15.7 -> 16; the t test needs one or two more
    assert 16 <= n <= 18

    def pw(k):
        from scipy import stats

        df = 2 * k - 2
        return power(2.0, math.sqrt(8.0 / k), df) if stats else None

    assert pw(n) >= 0.8 > pw(n - 1)
    assert seeds_needed(0.0, 1.0, 1.0) is None


# ------------------------------------------------------------------------------- nested model
def test_nested_balanced_by_hand():
    # seed 0: runs [1, 3], [5, 7]; seed 1: runs [11, 13], [15, 17]
    # MS_eval = 8/4 = 2; MS_rep = 32/2 = 16; MS_seed = 200/1 = 200; balanced coefficients n=2, bn=4:
    # s2_eval = 2, s2_rep = (16 - 2)/2 = 7, s2_seed = (200 - 2 - 2*7)/4 = 46
    d = decompose([[[1, 3], [5, 7]], [[11, 13], [15, 17]]], n_draws=0)
    assert d.evaluation.var == pytest.approx(2.0)
    assert d.replicate.var == pytest.approx(7.0)
    assert d.seed.var == pytest.approx(46.0)
    assert d.mean == pytest.approx(9.0)
    assert (d.seed.df, d.replicate.df, d.evaluation.df) == (1, 2, 4)


def test_nested_negative_estimate_is_truncated_and_said():
    # seed 1's runs are far apart, seed means close: s2_seed = (18 - 2 - 2*19)/4 < 0
    d = decompose([[[1, 3], [5, 7]], [[2, 4], [10, 12]]], n_draws=0)
    assert d.seed.var == 0.0 and d.seed.std == 0.0
    assert "truncated" in d.seed.note


def test_nested_missing_levels_are_not_estimable_and_named():
    d = decompose([[[5.0]], [[7.0]], [[9.0]]], n_draws=0)  # one run, one value per seed
    assert d.evaluation.var is None and d.replicate.var is None
    assert d.seed.var == pytest.approx(4.0)  # plain variance of 5, 7, 9
    assert "contains the replicate" in d.seed.note
    single = decompose([[[5.0, 5.5], [6.0, 6.2]]], n_draws=0)
    assert single.seed.var is None and "one seed" in single.seed.note


def test_nested_recovers_known_components_on_a_large_unbalanced_design():
    rng = np.random.Generator(np.random.PCG64(11))
    s_seed, s_rep, s_eval = 6.0, 2.0, 1.0
    design = []
    for i in range(400):
        a = rng.normal(0, s_seed)
        runs = []
        for _ in range(1 + i % 3):  # 1, 2 or 3 runs per seed
            b = rng.normal(0, s_rep)
            runs.append(50 + a + b + rng.normal(0, s_eval, 2 + i % 2))  # 2 or 3 evaluation seeds
        design.append(runs)
    d = decompose(design, n_draws=0)
    assert d.seed.std == pytest.approx(s_seed, rel=0.1)
    assert d.replicate.std == pytest.approx(s_rep, rel=0.15)
    assert d.evaluation.std == pytest.approx(s_eval, rel=0.1)


def test_nested_intervals_bracket_the_estimate_and_are_reproducible():
    design = [[[10, 10.5, 9.8], [12, 12.2, 11.9]], [[20, 20.3, 19.9]], [[15, 15.1, 14.7], [14, 14.4, 14.2]]]
    d1, d2 = decompose(design, n_draws=300, seed=3), decompose(design, n_draws=300, seed=3)
    assert d1 == d2
    for c in d1.components():
        assert c.ci_low <= c.ci_high


def test_nested_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        decompose([])
    with pytest.raises(ValueError, match="no run"):
        decompose([[]])
    with pytest.raises(ValueError, match="non-finite"):
        decompose([[[1.0, float("nan")]]])


# ---------------------------------------------------------------------------------- evidence
def _row(id_, mode, seed, rep, h, fid, evals=None, perturb=None, status="completed"):
    return {"id": id_, "variant": "v", "mode": mode, "seed": seed, "replicate": rep, "perturb": perturb,
            "status": status, "final_param_hash": h, "fid": fid, "fid_eval_values": evals}


def test_identical_replicates_count_once():
    rows = [_row("d0", "deterministic", 0, 0, "h0", 10.0), _row("d1", "deterministic", 0, 1, "h0", 10.0),
            _row("n0", "nondeterministic", 0, 0, "h0", 10.0), _row("n1", "nondeterministic", 0, 1, "h0", 10.0),
            _row("s1", "deterministic", 1, 0, "h1", 12.0), _row("s2", "deterministic", 2, 0, "h2", 14.0),
            _row("t", "deterministic", 0, 0, "h9", 30.0, perturb="threads")]
    ev = seed_evidence(rows, "v")
    assert [e.seed for e in ev] == [0, 1, 2]
    assert [e.value for e in ev] == [10.0, 12.0, 14.0]
    assert len(ev[0].runs) == 1 and ev[0].runs[0].label == "4 runs, identical"
    assert nested_design(ev) == [[(10.0,)], [(12.0,)], [(14.0,)]]


def test_nondeterministic_mean_per_seed_and_eval_means():
    rows = [_row("d0", "deterministic", 0, 0, "h0", 10.0, [10.0, 12.0]),
            _row("n0", "nondeterministic", 0, 0, "ha", 20.0, [20.0, 22.0]),
            _row("n1", "nondeterministic", 0, 1, "hb", 30.0, [30.0, 32.0])]
    det = seed_evidence(rows, "v")[0]
    assert det.value == 11.0 and "2 evaluation seeds" in det.source
    nd = seed_evidence(rows, "v", per_seed="nondeterministic-mean")[0]
    assert nd.value == pytest.approx((21.0 + 31.0) / 2)
    assert len(distinct_runs(rows)) == 3


def test_failed_and_diverged_runs_are_not_evidence():
    rows = [_row("d0", "deterministic", 0, 0, "h0", 10.0), _row("d1", "deterministic", 1, 0, None, None,
                                                                 status="diverged")]
    assert [e.seed for e in seed_evidence(rows, "v")] == [0]
