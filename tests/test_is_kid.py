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


def test_kid_rejects_bad_input():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((8, 3))
    with pytest.raises(ValueError, match="feature dimension 2, expected 3"):
        kid(x, np.zeros((8, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        kid(x, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kid(x, y, subset_size=1)
    with pytest.raises(ValueError, match="non-finite"):
        kid(np.full((4, 3), np.nan), y)
    with pytest.raises(ValueError, match="num_subsets must be an integer >= 2"):
        kid(x, y, num_subsets=1, subset_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say when the subset fits
        kid(x, y, num_subsets=2, subset_size=5)


# ------------------------------------------------------------------ issue 15, items 4-6
def test_is_uses_every_sample_when_splits_do_not_divide_n():
    # improved-gan slices i*N//splits:(i+1)*N//splits, so all N samples count; dropping the
    # remainder (N - splits * (N // splits) samples) made the last samples irrelevant
    rng = np.random.default_rng(10)
    probs = softmax(rng.standard_normal((53, 7)) * 3, axis=1)
    changed = probs.copy()
    changed[-1] = np.eye(7)[0] * 0.93 + 0.01  # another probability vector (sums to 1) in the last sample
    assert inception_score(changed, splits=5) != inception_score(probs, splits=5)
    # the part sizes are 10 or 11 (53 = 2 x 10 + 3 x 11), as the integer bounds of the original give
    bounds = [i * 53 // 5 for i in range(6)]
    parts = [probs[lo:hi] for lo, hi in zip(bounds, bounds[1:])]
    assert sorted(len(p) for p in parts) == [10, 10, 11, 11, 11]
    per_part = [np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), 1))) for p in parts]
    # rounding only: same formula, summation order differs
    np.testing.assert_allclose(inception_score(probs, splits=5), (np.mean(per_part), np.std(per_part)), rtol=1e-12)


def test_is_auto_reads_float16_probabilities():
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((200, 1008)) * 4
    logits[np.arange(200), rng.integers(0, 1008, 200)] += 25  # confident predictions, many classes: IS ~ 30
    probs = softmax(logits, axis=1)
    ref = inception_score(probs, splits=10, kind="probs")
    half = probs.astype(np.float16).astype(np.float64)  # rows sum to 1 only within float16 rounding
    assert np.abs(half.sum(1) - 1).max() > 1e-6  # read as logits before the fix (IS ~ 1.0001)
    # float16 keeps ~3 significant digits of each probability: the score agrees to ~1e-3
    np.testing.assert_allclose(inception_score(half, splits=10)[0], ref[0], rtol=1e-3)
    np.testing.assert_allclose(inception_score(half, splits=10, kind="probs")[0], ref[0], rtol=1e-3)
    # entries in [0, 1] whose rows are far from summing to 1: neither reading is safe, so ask
    with pytest.raises(ValueError, match="kind="):
        inception_score(np.full((20, 4), 0.1), splits=2)


def test_kid_refuses_a_subset_as_large_as_a_set():
    # every subset of a set no larger than the subset size is the whole set: 100 identical draws,
    # a spread of ~1e-15 that measures nothing (before the fix it was clipped and reported)
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((50, 4)), rng.standard_normal((40, 4)) + 0.3
    with pytest.raises(ValueError, match="subset_size 100 .* 40 generated"):
        kid(x, y, num_subsets=10, subset_size=100)
    with pytest.raises(ValueError, match="subset_size 40 .* every subset"):
        kid(x, y, num_subsets=10, subset_size=40)
    mean, std = kid(x, y, num_subsets=50, subset_size=20, seed=0)
    assert std > 0.01 * abs(mean)  # subsets that differ: the spread measures subsampling


def test_kid_subset_size_for_small_sets_halves_the_smaller_set():
    from repro.metrics.kid import fit_subset_size

    assert fit_subset_size(5000, 10000, 1000) == 1000  # fits: unchanged
    with pytest.warns(UserWarning, match="KID subset_size 1000 shrunk to 177"):
        assert fit_subset_size(355, 355, 1000) == 177
    with pytest.raises(ValueError, match="at least 4"):
        fit_subset_size(3, 100, 1000)
