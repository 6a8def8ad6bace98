"""StreamingStats: equals np.cov of the concatenation; merge; save/load; bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.metrics import StreamingStats


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), d=st.integers(1, 8),
       cuts=st.lists(st.integers(1, 59), max_size=6))
def test_equals_np_cov_across_random_batch_splits(seed, n, d, cuts):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 100, d) + rng.uniform(-1e3, 1e3, d)
    bounds = sorted({c for c in cuts if c < n})
    stats = StreamingStats(d)
    for part in np.split(x, bounds):
        stats.update(part)
    ref = np.atleast_2d(np.cov(x, rowvar=False))
    assert stats.count == n
    # 1e-12 relative to the covariance's size: both are float64 sums of O(n) terms
    np.testing.assert_allclose(stats.cov, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=0, atol=1e-12 * np.abs(x).max())


def test_merge_equals_single_pass():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 5)) + 3, rng.standard_normal((7, 5)) * 2
    merged = StreamingStats(5).update(a).merge(StreamingStats(5).update(b))
    whole = np.cov(np.concatenate([a, b]), rowvar=False)
    np.testing.assert_allclose(merged.cov, whole, rtol=1e-12)  # merge formula is exact up to rounding
    assert merged.count == 57
    empty = StreamingStats(5)
    empty.merge(merged)
    np.testing.assert_allclose(empty.cov, whole, rtol=1e-12)


def test_memory_is_independent_of_n():
    stats = StreamingStats(4)
    rng = np.random.default_rng(1)
    for _ in range(20):
        stats.update(rng.standard_normal((100, 4)))
    arrays = [v for v in vars(stats).values() if isinstance(v, np.ndarray)]
    assert sum(a.size for a in arrays) == 4 + 16  # mean and scatter matrix only


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    stats = StreamingStats(3).update(rng.standard_normal((10, 3)))
    stats.save(tmp_path / "s.npz", {"extractor": "x", "split": "test"})
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temp file left behind
    loaded, meta = StreamingStats.load(tmp_path / "s.npz")
    assert meta == {"extractor": "x", "split": "test", "n": 10}
    assert loaded.count == 10
    np.testing.assert_array_equal(loaded.cov, stats.cov)  # lossless float64 round trip
    loaded.update(rng.standard_normal((2, 3)))  # still usable for streaming
    assert loaded.count == 12


def test_load_rejects_missing_and_corrupt(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        StreamingStats.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError):
        StreamingStats.load(tmp_path / "bad.npz")


def test_bad_input():
    stats = StreamingStats(3)
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.cov
    with pytest.raises(ValueError, match="at least 1 sample"):
        stats.mean
    with pytest.raises(ValueError, match="dimension 4, expected 3"):
        stats.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        stats.update(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2 dimension"):
        stats.update(np.zeros(3))
    with pytest.raises(ValueError, match="dimension 2 into dimension 3"):
        stats.merge(StreamingStats(2))
    with pytest.raises(ValueError, match="dim"):
        StreamingStats(0)
    stats.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples; these stats hold 1"):
        stats.cov
