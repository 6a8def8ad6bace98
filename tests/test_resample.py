"""Resampling ops: compare_gan's zero-insertion unpool, nearest-neighbour upsampling, TF 'SAME' pooling."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.arch.references import compare_gan_ops
from repro.gan.resample import downsample2x, unpool2x, upsample_nearest2x


def test_unpool_inserts_zeros_as_compare_gan():
    # The example of the issue and of docs/design.md, "Architectures": [[1, 2], [3, 4]] -> zero insertion,
    # top-left of each cell.
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    expected = torch.tensor([[1.0, 0.0, 2.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0],
                             [3.0, 0.0, 4.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0]]).reshape(1, 1, 4, 4)
    assert torch.equal(unpool2x(x), expected)


def test_unpool_gradient_is_the_strided_slice():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2).requires_grad_(True)
    g = torch.arange(16.0).reshape(1, 1, 4, 4)  # d(sum(g * unpool(x)))/dx = g at the kept pixels
    (unpool2x(x) * g).sum().backward()
    assert torch.equal(x.grad, torch.tensor([[0.0, 2.0], [8.0, 10.0]]).reshape(1, 1, 2, 2))


def test_unpool_passes_gradcheck_and_gradgradcheck():
    x = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(unpool2x, (x,))
    assert torch.autograd.gradgradcheck(unpool2x, (x,))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2 ** 31 - 1))
def test_unpool_equals_the_literal_tensorflow_transcription(n, c, h, w, seed):
    # compare_gan_ops.unpool is resnet_ops.unpool line by line (reshape, concat zeros, reshape) in NHWC.
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    tf = compare_gan_ops.unpool(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert torch.equal(unpool2x(x), tf)  # both only copy values: bitwise equal
    kept = torch.zeros(2 * h, 2 * w, dtype=torch.bool)
    kept[0::2, 0::2] = True
    assert torch.equal(unpool2x(x)[:, :, kept].reshape(n, c, h, w), x) and not unpool2x(x)[:, :, ~kept].any()


def test_unpool_is_deterministic_under_deterministic_algorithms():
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    grads = []
    with torch.random.fork_rng(devices=[]):
        prev = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)  # raises on ops without a deterministic kernel
        try:
            for _ in range(2):
                x.grad = None
                (unpool2x(x) ** 2).sum().backward()
                grads.append(x.grad.clone())
        finally:
            torch.use_deterministic_algorithms(prev)
    assert torch.equal(grads[0], grads[1])


def test_unpool_rejects_other_ranks():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        unpool2x(torch.zeros(2, 2))


def test_nearest_repeats_each_pixel():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    assert upsample_nearest2x(x)[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 8])
def test_downsample_is_tensorflow_same_average_pooling(size):
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    tf = compare_gan_ops.avg_pool_same(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(downsample2x(x), tf, rtol=0, atol=1e-12)  # float64 means of <= 4 numbers
    if size == 1:
        assert torch.equal(downsample2x(x), x)  # compare_gan's ResNet19 D at 32x32 pools a 1x1 map
