"""Fréchet distance: agreement with the TTUR sqrtm formula, laws (hypothesis), bad input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from reference_impls.metrics_numpy import fid_ttur
from repro.metrics import frechet_distance
from repro.metrics.fid import _sqrt_trace_cholesky, _sqrt_trace_eigh


def gaussian_stats(rng, n, d, shift=0.0, scale=1.0):
    x = rng.standard_normal((n, d)) * scale + shift
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


@pytest.mark.parametrize("d", [8, 64, 256])
def test_matches_ttur_sqrtm(d):
    rng = np.random.default_rng(d)
    mu1, s1 = gaussian_stats(rng, 4 * d, d)
    mu2, s2 = gaussian_stats(rng, 4 * d, d, shift=0.3, scale=1.5)
    # 1e-9 relative: the target; both are float64 and the input is well conditioned
    np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), fid_ttur(mu1, s1, mu2, s2), rtol=1e-9)


def test_hand_computed_diagonal():
    # diag covariances: FID = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_singular_covariances_both_paths_agree():
    rng = np.random.default_rng(1)
    mu1, s1 = gaussian_stats(rng, 5, 16)  # rank 4 < d
    mu2, s2 = gaussian_stats(rng, 400, 16, shift=0.2)
    eigh_path = _sqrt_trace_eigh(s1, s2)
    chol_path = _sqrt_trace_cholesky(s1, s2)
    assert _sqrt_trace_cholesky(s2, s1) is None  # s1 singular: no Cholesky
    # the two algebraic routes differ only by rounding of O(d eps |S|)
    np.testing.assert_allclose(chol_path, eigh_path, rtol=1e-9)
    both_singular = frechet_distance(mu1, s1, mu1 + 1.0, gaussian_stats(rng, 3, 16)[1])
    assert np.isfinite(both_singular) and both_singular >= 16.0 - 1e-9  # >= |dmu|^2 = 16 (Gelbrich bound)


def _random_stats(seed, n, d):
    # Independent coordinates with scales in [0.5, 2]: singular when n <= d, otherwise moderately
    # conditioned. (For a covariance of condition number c, tr((S S)^(1/2)) carries rounding of
    # about c eps tr(S) in any algorithm, sqrtm included; mixing by a random d x d matrix gives
    # c ~ 1e8 and 1e-8 relative noise, which would test conditioning rather than this code.)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), d=st.integers(1, 12))
def test_laws(seed, n, d):
    mu1, s1 = _random_stats(seed, n, d)
    mu2, s2 = _random_stats(seed + 1, n + 3, d)
    f12 = frechet_distance(mu1, s1, mu2, s2)
    f21 = frechet_distance(mu2, s2, mu1, s1)
    scale = np.trace(s1) + np.trace(s2) + float((mu1 - mu2) @ (mu1 - mu2)) + 1e-300
    assert f12 >= 0.0 and f21 >= 0.0
    # symmetric up to rounding: singular inputs (n <= d) take different numerical paths
    assert abs(f12 - f21) <= 1e-7 * scale
    # FID(x, x) = 0 up to rounding of the trace terms
    assert frechet_distance(mu1, s1, mu1, s1) <= 1e-9 * (np.trace(s1) + 1e-300)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 10))
def test_equal_covariances_give_squared_mean_distance(seed, d):
    # Well-conditioned covariance (n = 4d + 4 white samples): for an ill-conditioned S, the
    # eigenvalues of S S near 0 carry rounding of eps |S|^2, which the square root turns into
    # sqrt(eps) |S| (1e-8 relative) in any method that works through the product.
    rng = np.random.default_rng(seed)
    mu1, s = gaussian_stats(rng, 4 * d + 4, d, scale=rng.uniform(0.5, 2.0))
    s = np.atleast_2d(s)
    mu2 = mu1 + rng.standard_normal(d)
    expected = float((mu1 - mu2) @ (mu1 - mu2))
    # trace terms cancel to rounding relative to tr(S)
    assert abs(frechet_distance(mu1, s, mu2, s) - expected) <= 1e-9 * (np.trace(s) + expected)


def test_bad_input_names_the_argument():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="mu2"):
        frechet_distance(mu, s, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2.*shape"):
        frechet_distance(mu, s, mu, np.eye(4))
    bad = s.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="sigma1.*non-finite"):
        frechet_distance(mu, bad, mu, s)
    with pytest.raises(ValueError, match="mu1.*non-finite"):
        frechet_distance(np.array([np.inf, 0, 0]), s, mu, s)
    asym = np.eye(3)
    asym[0, 1] = 0.5
    with pytest.raises(ValueError, match="sigma2 is not symmetric"):
        frechet_distance(mu, s, mu, asym)
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(mu, np.diag([1.0, -1.0, 1.0]), mu, s)


# ------------------------------------------------------------------ uncertainty
from repro.metrics import StreamingStats, evaluation_noise, fid_bootstrap  # noqa: E402


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(3)
    real = StreamingStats(4).update(rng.standard_normal((500, 4)))
    fake = rng.standard_normal((200, 4)) + 0.3
    point = frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean, real.cov)
    low, high = fid_bootstrap(fake, real, n_boot=100, seed=0)
    assert low < point < high
    assert fid_bootstrap(fake, real, n_boot=100, seed=0) == (low, high)  # explicit seed: repeatable
    narrow = fid_bootstrap(fake, real, n_boot=100, seed=0, level=0.5)
    assert low <= narrow[0] <= narrow[1] <= high
    with pytest.raises(ValueError, match="dimension"):
        fid_bootstrap(fake[:, :3], real, n_boot=10, seed=0)
    with pytest.raises(ValueError, match="n_boot"):
        fid_bootstrap(fake, real, n_boot=1, seed=0)


def test_evaluation_noise_is_std_over_seeds():
    values = {0: 1.0, 1: 2.0, 2: 4.0}
    out = evaluation_noise(values.__getitem__, [0, 1, 2])
    assert out["values"] == [1.0, 2.0, 4.0]
    assert out["std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        evaluation_noise(values.__getitem__, [0])
