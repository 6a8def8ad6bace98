"""FID bootstrap: coverage of the true FID in simulation (Gaussian features, FID known in closed form).

The population FID of N(mu_g, S_g) vs N(mu_r, S_r) is frechet_distance of the population moments;
FID_N of finite samples is biased upward (O(d / N)). An interval "covers what it claims" when the
95% interval contains that population value in about 95% of independent trials.
"""

import numpy as np
import pytest

from repro.metrics import StreamingStats, fid_bootstrap, frechet_distance
from repro.metrics.uncertainty import fid_bootstrap_summary

LEVEL = 0.95


def _population(d: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    b = rng.standard_normal((d, d))
    s_g = a @ a.T / d + 0.5 * np.eye(d)
    s_r = b @ b.T / d + 0.5 * np.eye(d)
    mu_g, mu_r = 0.3 * rng.standard_normal(d), np.zeros(d)
    return mu_g, s_g, mu_r, s_r


def _coverage(d, n_fake, n_real, trials, n_boot, fixed_real):
    mu_g, s_g, mu_r, s_r = _population(d, seed=d)
    truth = frechet_distance(mu_g, s_g, mu_r, s_r)
    lg, lr = np.linalg.cholesky(s_g), np.linalg.cholesky(s_r)
    rng = np.random.default_rng(1000 + d)
    hits, points = 0, []
    for t in range(trials):
        fake = rng.standard_normal((n_fake, d)) @ lg.T + mu_g
        if fixed_real:  # the real moments are the population's: nothing to resample on that side
            low, high = fid_bootstrap(fake, (mu_r, s_r), n_boot=n_boot, seed=t, level=LEVEL, real_fixed=True)
            points.append(frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), mu_r, s_r))
        else:
            real = rng.standard_normal((n_real, d)) @ lr.T + mu_r
            low, high = fid_bootstrap(fake, real, n_boot=n_boot, seed=t, level=LEVEL)
            points.append(frechet_distance(fake.mean(0), np.cov(fake, rowvar=False),
                                           real.mean(0), np.cov(real, rowvar=False)))
        hits += low <= truth <= high
    return hits / trials, truth, float(np.mean(points))


def test_interval_covers_the_true_fid_when_both_sides_are_finite():
    # 200 trials: a true 95% coverage lands in [0.92, 0.98] with probability ~0.95 (binomial sd 1.5%),
    # so the 90-99% band of the issue fails only for a miscalibrated interval. The seeds are fixed,
    # so the test is deterministic. The old percentile interval (generated side only) covered
    # the truth in 64% of these trials: FID_N's bias (E[FID_N] - truth, asserted below) exceeds the
    # interval's half-width.
    coverage, truth, mean_point = _coverage(d=6, n_fake=150, n_real=150, trials=200, n_boot=200, fixed_real=False)
    assert mean_point - truth > 0.1 * truth  # the simulation has the bias that made the old interval fail
    assert 0.90 <= coverage <= 0.99, f"coverage {coverage:.3f} of the true FID {truth:.4f}"


def test_fixed_real_mode_covers_the_fid_against_those_statistics():
    # real_fixed=True is correct when the real moments are the population's (here: exactly)
    coverage, truth, _ = _coverage(d=6, n_fake=150, n_real=0, trials=200, n_boot=200, fixed_real=True)
    assert 0.90 <= coverage <= 0.99, f"coverage {coverage:.3f} of the true FID {truth:.4f}"


@pytest.mark.slow
@pytest.mark.parametrize("d,n", [(16, 300), (64, 1000)])
def test_coverage_at_larger_dimensions(d, n):
    coverage, truth, _ = _coverage(d=d, n_fake=n, n_real=n, trials=200, n_boot=200, fixed_real=False)
    assert 0.90 <= coverage <= 0.99, f"coverage {coverage:.3f} of the true FID {truth:.4f}"


def test_summary_reports_std_bias_and_the_interval():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((300, 4)), rng.standard_normal((200, 4)) + 0.3
    s = fid_bootstrap_summary(fake, real, n_boot=100, seed=0)
    assert (s.low, s.high) == fid_bootstrap(fake, real, n_boot=100, seed=0)  # one computation, two views
    assert fid_bootstrap_summary(fake, real, n_boot=100, seed=0) == s  # explicit seed: repeatable
    assert s.point == frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
    assert s.std > 0 and s.bias > 0  # FID_N is biased upward; the bootstrap sees it
    # basic bootstrap: the interval is centred near the bias-corrected estimate, not the point
    assert s.low < s.point - s.bias < s.high
    assert s.resampled == "both" and s.n_boot == 100 and s.level == 0.95
    narrow = fid_bootstrap(fake, real, n_boot=100, seed=0, level=0.5)
    assert s.low <= narrow[0] <= narrow[1] <= s.high


def test_bad_input():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((50, 4)), rng.standard_normal((40, 4))
    stats = StreamingStats(4).update(real)
    with pytest.raises(ValueError, match="real_fixed=True"):
        fid_bootstrap(fake, stats, n_boot=10, seed=0)  # a finite real sample must be resampled, or say so
    assert fid_bootstrap(fake, stats, n_boot=10, seed=0, real_fixed=True)[0] >= 0.0
    with pytest.raises(ValueError, match="dimension"):
        fid_bootstrap(fake[:, :3], real, n_boot=10, seed=0)
    with pytest.raises(ValueError, match="n_boot"):
        fid_bootstrap(fake, real, n_boot=1, seed=0)
    with pytest.raises(ValueError, match="level"):
        fid_bootstrap(fake, real, n_boot=10, seed=0, level=1.0)


def test_evaluation_noise_is_std_over_seeds():
    from repro.metrics import evaluation_noise

    values = {0: 1.0, 1: 2.0, 2: 4.0}
    out = evaluation_noise(values.__getitem__, [0, 1, 2])
    assert out["values"] == [1.0, 2.0, 4.0]
    assert out["std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        evaluation_noise(values.__getitem__, [0])


def _spread(d, n, mean_shift, trials=100, n_boot=150):
    """(mean bootstrap std / std of FID_N over fresh samples, coverage, share flagged bias-dominated)."""
    mu_g, s_g, mu_r, s_r = _population(d, seed=d)
    s_r = s_g  # the same covariance: the FID is |mu_g - mu_r|^2, set by mean_shift
    direction = mu_g / np.linalg.norm(mu_g)
    mu_g = direction * mean_shift
    truth = frechet_distance(mu_g, s_g, mu_r, s_r)
    lg = np.linalg.cholesky(s_g)
    rng = np.random.default_rng(7)
    points, stds, hits, flagged = [], [], 0, 0
    for t in range(trials):
        fake = rng.standard_normal((n, d)) @ lg.T + mu_g
        real = rng.standard_normal((n, d)) @ lg.T + mu_r
        s = fid_bootstrap_summary(fake, real, n_boot=n_boot, seed=t)
        points.append(s.point)
        stds.append(s.std)
        hits += s.low <= truth <= s.high
        flagged += s.bias_dominated
    return float(np.mean(stds) / np.std(points, ddof=1)), hits / trials, flagged / trials


def test_bootstrap_std_overstates_the_spread_where_fid_is_near_its_bias_and_says_so():
    # issue 22 item 10: at a population FID of 0 the whole FID_N is bias; the bootstrap's world has
    # FID_N as its population and spreads more than FID_N does over fresh samples: its std
    # overstates by ~1.6x and the 95% interval covers ~100%. bias_dominated flags that regime;
    # far above the bias the bootstrap is calibrated and the flag is off.
    ratio, coverage, flagged = _spread(d=6, n=150, mean_shift=0.0)
    assert ratio > 1.3 and coverage >= 0.98 and flagged >= 0.95
    ratio, coverage, flagged = _spread(d=6, n=150, mean_shift=2.0)  # population FID 4, bias ~0.3
    assert ratio < 1.2 and 0.9 <= coverage <= 0.99 and flagged <= 0.05


def test_bias_dominated_rule():
    from repro.metrics import bias_dominated

    assert bias_dominated(1.0, 0.5) is True  # FID_N 1, bias 0.5: bias-corrected 0.5 < 2 x bias
    assert bias_dominated(2.0, 0.5) is False
    assert bias_dominated(1.0, None) is None and bias_dominated(1.0, -0.1) is False
