"""Inception Score and KID against the plain NumPy transcriptions; laws; bad input."""

import warnings

import numpy as np
import pytest
from scipy.special import softmax

from reference_impls.metrics_numpy import inception_score_ref, kid_ref
from repro.metrics import inception_score, kid


def test_is_matches_reference_and_accepts_logits():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((53, 7)) * 3
    probs = softmax(logits, axis=1)
    ref = inception_score_ref(probs, splits=5)
    # same formula, different summation order: rounding only
    np.testing.assert_allclose(inception_score(probs, splits=5), ref, rtol=1e-12)
    np.testing.assert_allclose(inception_score(logits, splits=5, kind="logits"), ref, rtol=1e-10)
    np.testing.assert_allclose(inception_score(logits, splits=5), ref, rtol=1e-10)  # auto detects logits


def test_is_extremes():
    # one-hot, classes spread evenly: IS = number of classes; identical rows: IS = 1
    onehot = np.eye(4)[np.arange(40) % 4]
    mean, std = inception_score(onehot, splits=2)
    assert mean == pytest.approx(4.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    same = np.tile([0.2, 0.3, 0.5], (30, 1))
    assert inception_score(same, splits=3)[0] == pytest.approx(1.0, rel=1e-12)


def test_is_bad_input():
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score(np.full((5, 3), 1 / 3))
    with pytest.raises(ValueError, match="non-finite"):
        inception_score(np.array([[np.nan, 1.0]] * 10))
    with pytest.raises(ValueError, match="not probability"):
        inception_score(np.ones((10, 3)), splits=2, kind="probs")
    with pytest.raises(ValueError, match="valid choices"):
        inception_score(np.ones((10, 3)), splits=2, kind="soft")


def test_kid_matches_reference():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((25, 4)) + 0.5
    ours = kid(x, y, num_subsets=5, subset_size=12, seed=3)
    # identical subsets (same generator and draw order); only the kernel sums' order differs
    np.testing.assert_allclose(ours, kid_ref(x, y, 5, 12, 3), rtol=1e-10)
    assert ours[0] > 0.05  # shifted distributions are clearly apart
    assert kid(x, y, num_subsets=5, subset_size=12, seed=3) == ours  # explicit seed: repeatable


def test_kid_same_distribution_near_zero():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    mean, std = kid(x, y, num_subsets=50, subset_size=200, seed=0)
    shifted = kid(x, y + 0.5, num_subsets=50, subset_size=200, seed=0)[0]
    # unbiased estimator: |mean| is within a few standard errors of 0 (std / sqrt(50) ~ std/7);
    # the tolerance 0.01 is 3x the spread measured at this seed and 10x below the shifted KID
    assert abs(mean) < 0.01 and shifted > 0.1


def test_kid_does_not_touch_global_rng():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    kid(np.ones((5, 2)), np.zeros((5, 2)), num_subsets=3, subset_size=3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_kid_clips_subset_with_warning_and_rejects_bad_input():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((8, 3))
    with pytest.warns(UserWarning, match="clipped to 8"):
        kid(x, y, num_subsets=2, subset_size=100)
    with pytest.raises(ValueError, match="feature dimension 2, expected 3"):
        kid(x, np.zeros((8, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        kid(x, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kid(x, y, subset_size=1)
    with pytest.raises(ValueError, match="non-finite"):
        kid(np.full((4, 3), np.nan), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no clipping note when the subset fits
        kid(x, y, num_subsets=2, subset_size=5)
