"""Losses: the NumPy table, numerical stability, and the laws the table implies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference_impls import losses_numpy
from repro.gan import losses

NAMES = ("mm", "ns", "wgan", "ls", "hinge")

# Moderate logits, where the literal log(sigmoid) reference is accurate: for |l| <= 10,
# 1 - sigmoid(l) >= 4.5e-5, so forming it in float64 costs < 1e-11 relative, and its log < 1e-11
# absolute. Large logits are tested against asymptotes below instead.
moderate = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
paired_logits = st.integers(1, 16).flatmap(
    lambda n: st.tuples(hnp.arrays(np.float64, n, elements=moderate), hnp.arrays(np.float64, n, elements=moderate))
)


def test_registry_holds_exactly_the_study_losses():
    assert set(losses.REGISTRY.names()) == set(NAMES)
    assert set(losses_numpy.TABLE) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(pair=paired_logits)
def test_loss_equals_numpy_table(name, pair):
    real, fake = pair
    d, g = losses.get(name)(torch.from_numpy(real), torch.from_numpy(fake))
    d_ref, g_ref = losses_numpy.losses(name, real, fake)
    assert d.shape == () and g.shape == ()
    # float64 both sides; the differences are the reference's 1 - sigmoid cancellation (< 1e-11,
    # see ``moderate``) and ulps of terms up to ~20 -> 1e-9 is ample and catches any formula slip.
    torch.testing.assert_close(d, torch.tensor(d_ref, dtype=torch.float64), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(g, torch.tensor(g_ref, dtype=torch.float64), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_column_logits_equal_flat_logits(name):
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(8, generator=gen), torch.randn(8, generator=gen)
    flat = losses.get(name)(real, fake)
    col = losses.get(name)(real[:, None], fake[:, None])
    for a, b in zip(flat, col):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same arithmetic on the same numbers


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_logits_stay_finite_with_finite_gradients(name, dtype):
    big = 1e4 if dtype == torch.float32 else 1e6
    real = torch.tensor([big, -big, 0.0, 3.0], dtype=dtype, requires_grad=True)
    fake = torch.tensor([-big, big, 0.0, -3.0], dtype=dtype, requires_grad=True)
    d, g = losses.get(name)(real, fake)
    assert torch.isfinite(d) and torch.isfinite(g)
    gr, gf = torch.autograd.grad(d + g, (real, fake))
    assert torch.isfinite(gr).all() and torch.isfinite(gf).all()


@settings(max_examples=30, deadline=None)
@given(l=st.floats(-1e5, -40.0))
def test_log_sigmoid_terms_follow_their_asymptote(l):
    # For l << 0: -log s(l) = -l + log(1 + e^l) = -l to double precision (e^l < 4e-18 relative).
    # A naive log(sigmoid(l)) returns -inf / inf here; softplus must not.
    fake = torch.tensor([l], dtype=torch.float64)
    real = torch.tensor([-l], dtype=torch.float64)  # -log(1 - s(-l)) = -log s(l) as well
    _, g_ns = losses.get("ns")(real, fake)
    d_mm, _ = losses.get("mm")(fake, real)  # real logit l: -log s(l) plus fake logit -l: -log(1 - s(-l))
    torch.testing.assert_close(g_ns, torch.tensor(-l, dtype=torch.float64), rtol=1e-15, atol=0)
    torch.testing.assert_close(d_mm, torch.tensor(-2 * l, dtype=torch.float64), rtol=1e-15, atol=0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 64))
def test_hinge_at_zero_logits_is_two(n):
    d, g = losses.get("hinge")(torch.zeros(n), torch.zeros(n))
    assert d.item() == 2.0  # relu(1 - 0) + relu(1 + 0), exactly representable
    assert g.item() == 0.0


@settings(max_examples=30, deadline=None)
@given(pair=paired_logits)
def test_wgan_d_loss_is_antisymmetric(pair):
    real, fake = (torch.from_numpy(a) for a in pair)
    d_rf, _ = losses.get("wgan")(real, fake)
    d_fr, _ = losses.get("wgan")(fake, real)
    torch.testing.assert_close(d_rf, -d_fr, rtol=0, atol=1e-12)  # two float64 means of the same numbers


@settings(max_examples=30, deadline=None)
@given(pair=paired_logits)
def test_mm_and_ns_share_the_discriminator_loss_only(pair):
    real, fake = (torch.from_numpy(a) for a in pair)
    d_mm, g_mm = losses.get("mm")(real, fake)
    d_ns, g_ns = losses.get("ns")(real, fake)
    torch.testing.assert_close(d_mm, d_ns, rtol=0, atol=0)
    # log(1 - s) < 0 < -log s: the generator losses always differ
    assert g_mm.item() < 0.0 < g_ns.item()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(pair=paired_logits)
def test_gradient_signs(name, pair):
    # Every loss rewards D for a higher real and a lower fake logit, and G for a higher fake logit
    # (weakly: hinge and ls saturate, so the derivatives are only non-strict).
    real = torch.from_numpy(pair[0]).requires_grad_(True)
    fake = torch.from_numpy(pair[1]).requires_grad_(True)
    d, g = losses.get(name)(real, fake)
    d_real, d_fake = torch.autograd.grad(d, (real, fake), retain_graph=True)
    (g_fake,) = torch.autograd.grad(g, fake)
    assert (d_real <= 0).all() and (d_fake >= 0).all() and (g_fake <= 0).all()


def test_g_loss_ignores_real_logits():
    # The trainer may pass detached real logits for the G update.
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(6, generator=gen).requires_grad_(True)
    fake = torch.randn(6, generator=gen).requires_grad_(True)
    for name in NAMES:
        _, g = losses.get(name)(real, fake)
        (grad,) = torch.autograd.grad(g, real, allow_unused=True, materialize_grads=True)
        assert torch.count_nonzero(grad) == 0, name


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError) as err:
        losses.get("wasserstein-gp")
    for name in NAMES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "real, fake, fragment",
    [
        (torch.zeros(4, 2), torch.zeros(4), "d_real_logits"),
        (torch.zeros(4), torch.zeros(2, 2, 1), "d_fake_logits"),
        (torch.zeros(0), torch.zeros(3), "N >= 1"),
        (torch.zeros(3, dtype=torch.long), torch.zeros(3), "floating-point"),
    ],
)
def test_bad_logits_are_refused_with_the_input_named(real, fake, fragment):
    with pytest.raises(ValueError, match=fragment):
        losses.get("ns")(real, fake)
