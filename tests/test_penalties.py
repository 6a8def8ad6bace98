"""Penalties: GP and DRAGAN against an independent per-sample computation; L2 by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impls import penalties_autograd as ref
from repro.gan import normalization as N
from repro.gan import penalties

NAMES = ("none", "gp", "dragan", "l2")


def _tiny_d(seed: int = 0, norm: str = "none", impl: str = "compare_gan") -> nn.Module:
    """A smooth (Softplus) D that treats samples independently: (N, 1, 4, 4) -> (N, 1), float64."""
    torch.manual_seed(seed)
    return nn.Sequential(
        N.d_conv(norm, impl, 1, 2, 3, padding=1),
        nn.Softplus(),
        nn.Flatten(),
        N.d_linear(norm, impl, 2 * 4 * 4, 1),
    ).double()


def _images(seed: int, n: int = 3, lo: float = 0.0, hi: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    real = lo + (hi - lo) * torch.rand(n, 1, 4, 4, generator=gen, dtype=torch.float64)
    fake = lo + (hi - lo) * torch.rand(n, 1, 4, 4, generator=gen, dtype=torch.float64)
    return real, fake


def _call(name, d, real, fake, seed, data_range=(0.0, 1.0)):
    return penalties.get(name)(d, real, fake, generator=torch.Generator().manual_seed(seed), data_range=data_range)


def test_registry_holds_exactly_the_study_penalties():
    assert set(penalties.REGISTRY.names()) == set(NAMES)


@settings(max_examples=15, deadline=None)
@given(d_seed=st.integers(0, 1000), x_seed=st.integers(0, 1000), seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4))
def test_gp_equals_per_sample_autograd(d_seed, x_seed, seed, n):
    d = _tiny_d(d_seed)
    real, fake = _images(x_seed, n)
    got = _call("gp", d, real, fake, seed)
    # float64 on both sides; batched vs one-at-a-time convolutions differ by rounding only.
    assert got.item() == pytest.approx(ref.gp(d, real, fake, seed), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("data_range", [(0.0, 1.0), (-1.0, 1.0)])
@settings(max_examples=10, deadline=None)
@given(d_seed=st.integers(0, 1000), x_seed=st.integers(0, 1000), seed=st.integers(0, 2**31 - 1))
def test_dragan_equals_per_sample_autograd(data_range, d_seed, x_seed, seed):
    d = _tiny_d(d_seed)
    real, fake = _images(x_seed, 3, *data_range)
    got = _call("dragan", d, real, fake, seed, data_range)
    assert got.item() == pytest.approx(ref.dragan(d, real, seed, data_range), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", ["gp", "dragan"])
def test_penalty_equals_finite_differences(name):
    # No autograd in the reference: central differences, h = 1e-6 in float64 -> truncation
    # ~h^2 and rounding ~1e-16/h = 1e-10 per gradient entry; 1e-6 relative on P is safe.
    d = _tiny_d(1)
    real, fake = _images(2)
    got = _call(name, d, real, fake, 9).item()
    if name == "gp":
        expected = ref.gp(d, real, fake, 9, method="finite_differences")
    else:
        expected = ref.dragan(d, real, 9, method="finite_differences")
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["gp", "dragan"])
@pytest.mark.parametrize("norm", ["none", "sn", "ln"])
def test_penalty_gradient_wrt_d_is_finite_nonzero_and_correct(name, norm):
    d = _tiny_d(2, norm=norm)
    real, fake = _images(3)
    params = [p for p in d.parameters()]
    p = _call(name, d, real, fake, 5)
    grads = torch.autograd.grad(p, params, allow_unused=True, materialize_grads=True)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize("name", ["gp", "dragan"])
def test_penalty_double_backward_matches_numerical_gradient(name):
    # gradcheck: the create_graph path must give the true dP/dtheta for D's last weight
    # (float64; finite-difference step 1e-6, tolerance 1e-6 covers its truncation error).
    d = _tiny_d(4)
    real, fake = _images(4)

    def penalty_of(w):
        def disc(x):
            return torch.nn.functional.linear(d[2](d[1](d[0](x))), w, d[3].bias)

        return penalties.get(name)(disc, real, fake, generator=torch.Generator().manual_seed(1))

    w0 = d[3].weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(penalty_of, (w0,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["gp", "dragan"])
def test_noise_comes_from_the_generator_not_the_global_rng(name):
    d = _tiny_d(0)
    real, fake = _images(1)
    torch.manual_seed(123)
    a = _call(name, d, real, fake, 7)
    torch.manual_seed(456)
    b = _call(name, d, real, fake, 7)
    c = _call(name, d, real, fake, 8)
    assert a.item() == b.item()
    assert a.item() != c.item()


class _Recorder(nn.Module):
    """Records the points D is asked about; a linear D so the gradients exist."""

    def __init__(self, n_in: int):
        super().__init__()
        self.lin = nn.Linear(n_in, 1).double()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.lin(x.flatten(1))


def test_gp_points_lie_on_the_real_fake_segments():
    real, fake = _images(5, n=6)
    d = _Recorder(16)
    _call("gp", d, real, fake, 3)
    (x_hat,) = d.seen
    t = (x_hat - real) / (fake - real)  # one alpha per sample, the same at every pixel
    alpha = t.flatten(1)[:, :1]
    torch.testing.assert_close(t.flatten(1), alpha.expand(-1, 16), rtol=1e-9, atol=1e-9)
    assert ((alpha >= 0) & (alpha < 1)).all() and alpha.unique().numel() == 6


@pytest.mark.parametrize("data_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_dragan_points_are_clipped_real_points_within_half_a_std(data_range):
    real, fake = _images(6, n=8, lo=data_range[0], hi=data_range[1])
    d = _Recorder(16)
    _call("dragan", d, real, fake, 4, data_range)
    (x_noisy,) = d.seen
    std = real.std(correction=0)
    assert x_noisy.min() >= data_range[0] and x_noisy.max() <= data_range[1]
    assert ((x_noisy - real).abs() <= std / 2 + 1e-12).all()
    assert not torch.equal(x_noisy, real)


def test_none_is_a_zero_scalar_on_the_data_device():
    real, fake = _images(0)
    p = _call("none", _tiny_d(), real, fake, 0)
    assert p.shape == () and p.item() == 0.0 and p.dtype == real.dtype and p.device == real.device


def _hand_l2(*tensors):
    # tf.nn.l2_loss = sum(w^2) / 2, averaged over the penalised tensors
    return sum(float((t.detach().double() ** 2).sum()) / 2 for t in tensors) / len(tensors)


def test_l2_equals_hand_computation_excluding_biases_and_norm_params():
    d = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.GroupNorm(1, 2), nn.Flatten(), nn.Linear(8, 1))
    with torch.no_grad():
        d[0].weight.fill_(0.5)  # 18 entries: 18 * 0.25 / 2 = 2.25
        d[4].weight.fill_(2.0)  # 8 entries: 8 * 4 / 2 = 16
        for m in (d[0], d[4]):
            m.bias.fill_(100.0)  # must not count
        d[1].weight.fill_(50.0)
        d[2].weight.fill_(50.0)
    real, fake = _images(0)
    p = _call("l2", d, real.float(), fake.float(), 0)
    assert p.item() == pytest.approx((2.25 + 16.0) / 2, rel=1e-6)  # float32 sums of exact values
    assert [n for n, _ in penalties.penalized_weights(d)] == ["0.weight", "4.weight"]


@pytest.mark.parametrize("impl", N.SN_IMPLS)
def test_l2_with_spectral_norm_uses_raw_weights_and_runs_no_power_iteration(impl):
    d = _tiny_d(3, norm="sn", impl=impl)
    names = [n for n, _ in penalties.penalized_weights(d)]
    if impl == "compare_gan":
        assert names == ["0.module.weight", "3.module.weight"]
    else:
        assert names == ["0.parametrizations.weight.original", "3.parametrizations.weight.original"]
    state = {k: v.clone() for k, v in d.state_dict().items()}
    p = _call("l2", d, *_images(0), 0)
    assert p.item() == pytest.approx(_hand_l2(N.raw_weight(d[0]), N.raw_weight(d[3])), rel=1e-12)
    torch.testing.assert_close(d.state_dict(), state, rtol=0, atol=0)  # no u/v moved
    (g,) = torch.autograd.grad(p, [N.raw_weight(d[3])])
    # d/dw mean_l(sum w_l^2 / 2) = w / n_layers
    torch.testing.assert_close(g, N.raw_weight(d[3]).detach() / 2, rtol=1e-12, atol=0)


def test_l2_without_layers_is_refused():
    with pytest.raises(ValueError, match="no Conv or Linear"):
        _call("l2", nn.Sequential(nn.Flatten()), *_images(0), 0)


def test_unknown_penalty_lists_valid_names():
    with pytest.raises(ValueError) as err:
        penalties.get("r1")
    assert all(n in str(err.value) for n in NAMES)


def test_bad_inputs_are_refused_with_the_problem_named():
    d = _tiny_d()
    real, fake = _images(0)
    with pytest.raises(ValueError, match="same shape"):
        _call("gp", d, real, fake[:2], 0)
    with pytest.raises(ValueError, match="low < high"):
        _call("dragan", d, real, fake, 0, data_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="CPU torch.Generator"):
        penalties.get("gp")(d, real, fake, generator=None)
    with pytest.raises(ValueError, match="floating-point"):
        _call("gp", d, real.long(), fake, 0)


def test_dragan_recipes_name_the_implemented_one():
    assert penalties.DRAGAN_RECIPE in penalties.DRAGAN_RECIPES
    assert all(isinstance(v, str) and v for v in penalties.DRAGAN_RECIPES.values())


# ---------------------------------------------------------------- GPU tier

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("norm", ["none", "sn"])
def test_penalty_on_cuda_equals_cpu_with_the_same_generator_seed(name, norm):
    d_cpu = _tiny_d(6, norm=norm)
    d_gpu = _tiny_d(6, norm=norm).cuda()
    real, fake = _images(7)
    torch.cuda.manual_seed_all(999)  # the device RNG must not matter
    p_gpu = _call(name, d_gpu, real.cuda(), fake.cuda(), 5)
    p_cpu = _call(name, d_cpu, real, fake, 5)
    assert p_gpu.device.type == "cuda"
    # float64; only the convolution's summation order differs between cuDNN and the CPU
    assert p_gpu.item() == pytest.approx(p_cpu.item(), rel=1e-9, abs=1e-12)
    if name in ("gp", "dragan"):
        grads = torch.autograd.grad(p_gpu, list(d_gpu.parameters()), allow_unused=True, materialize_grads=True)
        assert all(torch.isfinite(g).all() for g in grads)
