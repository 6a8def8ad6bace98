"""Fréchet distance: agreement with the TTUR sqrtm formula, laws (hypothesis), bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    # FID(x, x) = 0 up to rounding: of the trace terms (1e-9 tr S) and, for an ill-conditioned S
    # (few samples: n = 9, d = 8 gave 2.6e-8 against tr S = 17), of the eigenvalues of S S near 0,
    # which carry eps |S|^2 and come out of the square root as sqrt(eps) |S| each (see below)
    sqrt_eps = float(np.sqrt(np.finfo(np.float64).eps))
    bound = 1e-9 * np.trace(s1) + d * sqrt_eps * float(np.linalg.norm(s1, 2)) + 1e-300
    assert frechet_distance(mu1, s1, mu1, s1) <= bound


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


# ------------------------------------------------------------------ float32 input (issue 15, item 6)
def _rank_deficient_features(seed, n=40, d=64, scale=13.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * scale + rng.standard_normal(d)).astype(np.float32)


def _cov32(x):
    """Covariance computed in float32 (as a float32 pipeline would), returned as float64, symmetric."""
    xc = x - x.mean(0)
    s = (xc.T @ xc / np.float32(x.shape[0] - 1)).astype(np.float64)
    return x.mean(0).astype(np.float64), 0.5 * (s + s.T)


def test_float32_covariances_with_tiny_negative_eigenvalues_are_clipped_with_a_warning():
    # N < d features, covariances computed in float32: the null-space eigenvalues come out at
    # about -4e-5 against a largest of ~800 (5e-8 relative, float32 rounding), which the old
    # 1e-8 tolerance rejected ("not positive semi-definite") when both inputs were singular
    x1, x2 = _rank_deficient_features(0), _rank_deficient_features(1)
    (mu1, s1), (mu2, s2) = _cov32(x1), _cov32(x2)
    lam = np.linalg.eigvalsh(s1)
    assert lam.min() < -1e-8 * lam.max()
    with pytest.warns(UserWarning, match="sigma1 has a negative eigenvalue.*float32.*clipped to 0"):
        value = frechet_distance(mu1, s1, mu2, s2)
    # reference: the float64 covariances of the same float32 features. Float32 rounding leaves the
    # null-space eigenvalues uncertain by ~4e-5; through the square root that is ~sqrt(4e-5 x 800)
    # per null direction, ~1e-4 of this FID: the bound is 1e-4 (float32 input is worth no more)
    ref = frechet_distance(x1.astype(np.float64).mean(0), np.cov(x1.astype(np.float64), rowvar=False),
                           x2.astype(np.float64).mean(0), np.cov(x2.astype(np.float64), rowvar=False))
    np.testing.assert_allclose(value, ref, rtol=1e-4)
    with pytest.warns(UserWarning, match="negative eigenvalue.*clipped"):
        np.testing.assert_allclose(frechet_distance(mu2, s2, mu1, s1), ref, rtol=1e-4)
    bad = s1 - 1e-3 * lam.max() * np.eye(64)  # clearly not PSD: still an error
    with pytest.raises(ValueError, match="sigma1 is not positive semi-definite"):
        frechet_distance(mu1, bad, mu2, s2)


def test_float32_asymmetry_is_symmetrised_with_a_warning():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 32)).astype(np.float32)
    xc = x - x.mean(0)
    s32 = (xc.T @ xc / np.float32(299)).astype(np.float64)
    s32[0, 1] += 1e-7 * np.abs(s32).max()  # float32 GEMM rounding does not respect symmetry
    assert np.abs(s32 - s32.T).max() > 1e-10 * np.abs(s32).max()  # rejected before the fix
    mu, s = gaussian_stats(rng, 300, 32, shift=0.2)
    with pytest.warns(UserWarning, match="sigma2 is asymmetric.*symmetrised"):
        value = frechet_distance(mu, s, x.mean(0), s32)
    sym = 0.5 * (s32 + s32.T)
    np.testing.assert_allclose(value, frechet_distance(mu, s, x.mean(0), sym), rtol=1e-12)  # exactly that input
    big = s.copy()
    big[0, 1] += 1e-3 * np.abs(s).max()  # far beyond float32 rounding: not a covariance
    with pytest.raises(ValueError, match="sigma1 is not symmetric"):
        frechet_distance(mu, big, mu, s)


def test_float64_rounding_is_silent():
    import warnings

    rng = np.random.default_rng(4)
    mu1, s1 = gaussian_stats(rng, 10, 32)  # singular, float64: rounding-level negative eigenvalues only
    mu2, s2 = gaussian_stats(rng, 200, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance(mu1, s1, mu2, s2)
        frechet_distance(mu2, s2, mu1, s1)


# ------------------------------------------------------------------ eigenvalue clipping (issue 15, item 7)
def _commuting_pair(d, spectrum_a, spectrum_b, seed):
    """S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: tr((S1 S2)^(1/2)) = sum sqrt(a b) exactly."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s1, s2 = (q * spectrum_a) @ q.T, (q * spectrum_b) @ q.T
    exact = float(np.sum(spectrum_a) + np.sum(spectrum_b) - 2.0 * np.sum(np.sqrt(spectrum_a * spectrum_b)))
    return 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T), exact


def test_no_clipping_bias_with_feature_variances_from_1e_minus_3_to_1e3():
    # Two samples of the same distribution, feature variances log-spaced over 1e-3..1e3, N a little
    # above d: the sample spectra reach ~1e-13 of their maximum, above float64 resolution but
    # below the old d * eps * max threshold, which zeroed them (relative bias 1.2e-4 here).
    d, n = 256, 300
    rng = np.random.default_rng(5)
    var = np.logspace(-3, 3, d)
    a = np.sort(np.linalg.eigvalsh(np.cov(rng.standard_normal((n, d)) * np.sqrt(var), rowvar=False)))
    b = np.sort(np.linalg.eigvalsh(np.cov(rng.standard_normal((n, d)) * np.sqrt(var), rowvar=False)))
    s1, s2, exact = _commuting_pair(d, a, b, seed=6)
    value = frechet_distance(np.zeros(d), s1, np.zeros(d), s2)
    # 1e-8: what float64 resolves here (the products' condition number is ~1e13)
    assert abs(value - exact) <= 1e-8 * exact, f"relative error {(value - exact) / exact:.2e}"


@pytest.mark.parametrize("d,rank1,rank2", [(256, 50, 256), (512, 100, 100), (512, 400, 300)])
def test_singular_inputs_stay_exact(d, rank1, rank2):
    # rank-deficient covariances: the null-space eigenvalues come out as +-few eps x max and must be
    # zeroed, or each adds sqrt(eps x max) (a rank-dependent bias of ~1e-9 relative)
    rng = np.random.default_rng(d + rank1)
    a, b = np.zeros(d), np.zeros(d)
    a[:rank1] = rng.uniform(0.5, 2.0, rank1)
    b[rng.permutation(d)[:rank2]] = rng.uniform(0.5, 2.0, rank2)
    s1, s2, exact = _commuting_pair(d, a, b, seed=d)
    # 1e-12: the rounding of the inputs themselves (entries built from a rotation in float64)
    np.testing.assert_allclose(frechet_distance(np.zeros(d), s1, np.zeros(d), s2), exact, rtol=1e-12)
    np.testing.assert_allclose(frechet_distance(np.zeros(d), s2, np.zeros(d), s1), exact, rtol=1e-12)
