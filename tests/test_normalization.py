"""Discriminator normalizations: compare_gan spectral norm against SVD and a NumPy transcription."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impls import spectral_norm_svd as ref
from repro.gan import normalization as N
from repro.io import torch_load, torch_save


def _conv_sn(seed=0, c_in=3, c_out=4, k=3, impl="compare_gan", dtype=torch.float32):
    torch.manual_seed(seed)
    return N.spectral_norm(nn.Conv2d(c_in, c_out, k, padding=1).to(dtype), impl)


def _with_spectral_gap(weight: torch.Tensor, ratio: float = 1.5) -> None:
    """Rescale the top singular value of the weight's matrix to ``ratio`` x the second one, in place,
    so power iteration provably converges fast (error ~ (1/ratio)^(2k)) whatever shape hypothesis picks."""
    mat = weight.detach().double().reshape(weight.shape[0], -1)
    u, s, vh = torch.linalg.svd(mat, full_matrices=False)
    if s.numel() > 1:
        s = s.clone()
        s[0] = ratio * s[1]
    with torch.no_grad():
        weight.copy_(((u * s) @ vh).reshape(weight.shape).to(weight.dtype))


# ---------------------------------------------------------------- compare_gan spectral norm


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["conv", "linear"]),
    c_in=st.integers(1, 6),
    c_out=st.integers(1, 6),
    k=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_sn_converges_to_svd_and_normalised_weight_has_unit_norm(kind, c_in, c_out, k, seed):
    torch.manual_seed(seed)
    layer = nn.Conv2d(c_in, c_out, k) if kind == "conv" else nn.Linear(c_in * k, c_out)
    _with_spectral_gap(layer.weight)
    sn = N.spectral_norm(layer, "compare_gan").eval()  # eval: compare_gan iterates there too
    x = torch.zeros((1, c_in, k, k) if kind == "conv" else (1, c_in * k))
    with torch.no_grad():
        for _ in range(40):  # (1/1.5)^80 ~ 1e-14: converged to float32 resolution
            sn(x)
    expected = ref.largest_singular_value(layer.weight.detach().numpy())
    # float32 weights and matmuls: a few ulps relative
    assert N.sigma(sn) == pytest.approx(expected, rel=1e-5)
    w_sn = sn.normalized_weight().detach().double()
    top = torch.linalg.matrix_norm(N.sn_matrix(w_sn), ord=2).item()
    assert top == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_one_call_is_one_compare_gan_power_step(kind):
    torch.manual_seed(3)
    layer = (nn.Conv2d(2, 3, 3, padding=1) if kind == "conv" else nn.Linear(5, 4)).double()
    sn = N.SpectralNorm(layer)
    x = torch.randn((2, 2, 5, 5) if kind == "conv" else (2, 5), dtype=torch.float64)
    w = layer.weight.detach().numpy()
    u_ref, sigma_ref = ref.power_step(w, sn.u.numpy())
    out = sn(x)
    # float64 on both sides; an ordering slip (e.g. torch's (c_out, -1) view) changes u completely.
    np.testing.assert_allclose(sn.u.numpy(), u_ref, rtol=1e-12, atol=1e-14)
    w_sn = layer.weight / torch.tensor(sigma_ref, dtype=torch.float64)
    expected = F.conv2d(x, w_sn, layer.bias, padding=1) if kind == "conv" else F.linear(x, w_sn, layer.bias)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    assert sn.u.shape == (ref.compare_gan_matrix(w).shape[0],)


def test_sn_matrix_matches_tf_kernel_layout():
    w = torch.arange(2 * 3 * 2 * 2, dtype=torch.float64).reshape(2, 3, 2, 2)  # (c_out, c_in, kh, kw)
    mat = N.sn_matrix(w)
    assert mat.shape == (2 * 2 * 3, 2)
    # row index = (i*kw + j)*c_in + c for kernel position (i, j) and input channel c
    for i in range(2):
        for j in range(2):
            for c in range(3):
                for o in range(2):
                    assert mat[(i * 2 + j) * 3 + c, o] == w[o, c, i, j]
    np.testing.assert_array_equal(mat.numpy(), ref.compare_gan_matrix(w.numpy()))


def test_gradient_treats_u_and_v_as_constants():
    torch.manual_seed(5)
    layer = nn.Conv2d(2, 3, 3).double()
    sn = N.SpectralNorm(layer)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    w0 = layer.weight.detach().numpy()
    u_before = sn.u.numpy().copy()
    (sn(x) ** 2).sum().backward()
    # Independent: u', v from the NumPy step, held constant; only W carries gradient.
    u_new, _ = ref.power_step(w0, u_before)
    v = ref.l2_normalize(ref.compare_gan_matrix(w0).T @ u_before)
    w = torch.tensor(w0, requires_grad=True)
    sigma = torch.tensor(u_new) @ w.permute(2, 3, 1, 0).reshape(-1, 3) @ torch.tensor(v)
    (F.conv2d(x, w / sigma, layer.bias) ** 2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad, rtol=1e-10, atol=1e-12)  # float64 rounding only
    assert not sn.u.requires_grad and "u" not in dict(sn.named_parameters())


def test_u_is_a_persistent_buffer_with_readable_keys():
    sn = _conv_sn()
    keys = set(sn.state_dict())
    assert keys == {"module.weight", "module.bias", "u"}
    assert [n for n, _ in sn.named_parameters()] == ["module.weight", "module.bias"]
    assert sn.u.shape == (3 * 3 * 3,)  # kh * kw * c_in


def test_u_is_deterministic_under_manual_seed_and_explicit_generator():
    a, b = _conv_sn(seed=7), _conv_sn(seed=7)
    assert torch.equal(a.u, b.u) and torch.equal(a.module.weight, b.module.weight)
    assert not torch.equal(a.u, _conv_sn(seed=8).u)
    g1, g2 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    c = N.SpectralNorm(nn.Linear(4, 2), generator=g1)
    d = N.SpectralNorm(nn.Linear(4, 2), generator=g2)
    assert torch.equal(c.u, d.u)


def test_compare_gan_u_advances_in_eval_mode_and_torch_u_does_not():
    x = torch.randn(2, 3, 5, 5)
    cg = _conv_sn(impl="compare_gan").eval()
    before = cg.u.clone()
    with torch.no_grad():
        cg(x)
    assert not torch.equal(before, cg.u)

    tc = _conv_sn(impl="torch")
    u_buf = tc.parametrizations.weight[0]._u
    tc.eval()
    before = u_buf.clone()
    with torch.no_grad():
        tc(x)
    assert torch.equal(before, u_buf)
    tc.train()
    tc(x)
    assert not torch.equal(before, u_buf)
    assert u_buf.shape == (4,)  # torch's u lives in R^{c_out}


def test_inference_mode_still_advances_u():
    cg = _conv_sn()
    before = cg.u.clone()
    with torch.inference_mode():
        cg(torch.randn(1, 3, 4, 4))
    assert not torch.equal(before, cg.u)


@pytest.mark.parametrize("impl", N.SN_IMPLS)
def test_state_dict_round_trip_reproduces_outputs(impl, tmp_path):
    x = torch.randn(2, 3, 6, 6)
    a = _conv_sn(seed=1, impl=impl)
    for _ in range(3):
        a(x)
    torch_save(tmp_path / "sn.pt", a.state_dict())
    b = _conv_sn(seed=2, impl=impl)  # different init, overwritten by the load
    b.load_state_dict(torch_load(tmp_path / "sn.pt"))
    for _ in range(2):  # and they stay in lock-step afterwards
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)  # same numbers, same ops: bitwise
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize("impl", N.SN_IMPLS)
def test_sigma_helper_is_what_the_next_forward_divides_by(impl):
    layer = _conv_sn(seed=4, impl=impl).eval()
    x = torch.randn(2, 3, 5, 5)
    s = N.sigma(layer)
    assert N.sigma(layer) == s  # reading sigma changes no state
    raw = N.raw_weight(layer)
    out = layer(x)
    torch.testing.assert_close(out, F.conv2d(x, raw / s, layer.bias if impl == "torch" else layer.module.bias, padding=1),
                               rtol=1e-5, atol=1e-6)  # float32 conv; sigma returned as a Python float


def test_torch_impl_converges_to_svd_too():
    layer = nn.Linear(6, 5)
    torch.manual_seed(0)
    _with_spectral_gap(layer.weight)
    sn = N.spectral_norm(layer, "torch")
    for _ in range(40):
        sn(torch.zeros(1, 6))
    assert N.sigma(sn) == pytest.approx(ref.largest_singular_value(N.raw_weight(sn).detach().numpy()), rel=1e-5)


def test_raw_weight_does_not_run_a_power_iteration():
    tc = _conv_sn(impl="torch")
    u = tc.parametrizations.weight[0]._u.clone()
    assert N.raw_weight(tc) is tc.parametrizations.weight.original
    assert torch.equal(u, tc.parametrizations.weight[0]._u)
    cg = _conv_sn()
    assert N.raw_weight(cg) is cg.module.weight


def test_introspection_helpers():
    plain = nn.Conv2d(1, 1, 1)
    assert N.spectral_norm_impl(_conv_sn()) == "compare_gan"
    assert N.spectral_norm_impl(_conv_sn(impl="torch")) == "torch"
    assert N.spectral_norm_impl(plain) is None and not N.is_spectral_normed(plain)
    with pytest.raises(ValueError, match="not spectrally normalized"):
        N.sigma(plain)


# ---------------------------------------------------------------- builders


@pytest.mark.parametrize("norm", N.NORMS)
@pytest.mark.parametrize("impl", N.SN_IMPLS)
def test_d_conv_and_d_linear_are_sn_wrapped_iff_sn(norm, impl):
    conv = N.d_conv(norm, impl, 3, 8, 3, stride=2, padding=1)
    lin = N.d_linear(norm, impl, 8, 1)
    assert N.is_spectral_normed(conv) == (norm == "sn") == N.is_spectral_normed(lin)
    if norm == "sn":
        assert N.spectral_norm_impl(conv) == impl
    assert conv(torch.randn(2, 3, 8, 8)).shape == (2, 8, 4, 4)
    assert lin(torch.randn(2, 8)).shape == (2, 1)
    assert N.d_conv(norm, impl, 3, 8, 3, bias=False).state_dict().get("bias") is None


def test_d_feature_norm_kinds():
    assert isinstance(N.d_feature_norm("bn", 4), nn.BatchNorm2d)
    assert isinstance(N.d_feature_norm("none", 4), nn.Identity)
    assert isinstance(N.d_feature_norm("sn", 4), nn.Identity)
    bn = N.d_feature_norm("bn", 4)  # compare_gan's effective setting: decay 0.9 (momentum 0.1), eps 1e-5
    assert bn.eps == 1e-5 and bn.momentum == pytest.approx(0.1)


def test_layer_norm_is_per_sample_over_chw_with_per_channel_affine():
    ln = N.d_feature_norm("ln", 3)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64) * 3 + 2
    ln = ln.double()
    # identity affine at init: must equal the textbook layer norm over (C, H, W)
    torch.testing.assert_close(ln(x), F.layer_norm(x, x.shape[1:], eps=N.LN_EPS), rtol=1e-10, atol=1e-10)
    assert [tuple(p.shape) for p in ln.parameters()] == [(3,), (3,)]  # one scale, one offset per channel
    # works at any resolution (not tied to H, W)
    assert ln(torch.randn(2, 3, 8, 8, dtype=torch.float64)).shape == (2, 3, 8, 8)


# ---------------------------------------------------------------- bad input


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError) as err:
        N.d_conv("wn", "compare_gan", 1, 1, 3)
    assert all(n in str(err.value) for n in N.NORMS)
    with pytest.raises(ValueError) as err:
        N.spectral_norm(nn.Linear(2, 2), impl="miyato")
    assert all(n in str(err.value) for n in N.SN_IMPLS)
    with pytest.raises(ValueError, match="sn_impl"):
        N.d_linear("none", "tf", 2, 2)
    with pytest.raises(ValueError, match="d_norm"):
        N.d_feature_norm("gn", 4)


def test_spectral_norm_refuses_other_layers():
    with pytest.raises(ValueError, match="Conv2d, Linear"):
        N.spectral_norm(nn.Conv1d(1, 1, 3))
    with pytest.raises(ValueError, match="Conv2d, Linear"):
        N.SpectralNorm(nn.BatchNorm2d(3))


# ---------------------------------------------------------------- GPU tier

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
def test_sn_on_cuda_matches_cpu():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    cpu = _conv_sn(seed=9, dtype=torch.float64)
    torch.manual_seed(9)
    gpu = N.spectral_norm(nn.Conv2d(3, 4, 3, padding=1).double().cuda(), "compare_gan")  # u built on the device
    assert gpu.u.device.type == "cuda"
    torch.testing.assert_close(gpu.u.cpu(), cpu.u, rtol=0, atol=0)  # u drawn on the CPU either way
    gpu.eval()
    for _ in range(3):
        # float64; cuDNN vs CPU convolution order differs by rounding only
        torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gpu.u.cpu(), cpu.u, rtol=1e-10, atol=1e-12)
    moved = _conv_sn(seed=1, dtype=torch.float64)
    moved.load_state_dict({k: v.cpu() for k, v in gpu.state_dict().items()})
    torch.testing.assert_close(moved(x), gpu(x.cuda()).cpu(), rtol=1e-10, atol=1e-12)
