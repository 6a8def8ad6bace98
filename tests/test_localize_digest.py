"""The op recorder's tensor digest: exact (equal bits, equal digest; one ulp, another digest),
independent of strides, and the same function on the CPU fast path and the device path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.localize import digest

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.uint8,
          torch.bool, torch.complex64]


def _tensor(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype)
    return torch.randint(0, 100, shape, generator=g, dtype=dtype)


def _device_path_sum(t: torch.Tensor) -> int:
    """What a GPU computes (torch int64 ops), run on the CPU."""
    w = digest.words(t)
    return 0 if w.numel() == 0 else int(digest.device_sum(w))


def _flip_one_ulp(t: torch.Tensor, index: int) -> torch.Tensor:
    """``t`` with one element changed by the smallest step its dtype has."""
    out = t.clone()
    flat = out.view(-1) if not out.is_complex() else torch.view_as_real(out).view(-1)
    i = index % flat.numel()
    if flat.dtype == torch.bool:
        flat[i] = ~flat[i]
    elif flat.dtype.is_floating_point:
        flat[i] = torch.nextafter(flat[i:i + 1], torch.full((1,), float("inf"), dtype=flat.dtype))[0]
    else:
        flat[i] = flat[i] + 1
    return out


shapes = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(DTYPES), shape=shapes, seed=st.integers(0, 2**16), index=st.integers(0, 10**6))
def test_equal_tensors_give_equal_digests_and_one_ulp_another(dtype, shape, seed, index):
    t = _tensor(dtype, shape, seed)
    same = _tensor(dtype, shape, seed)
    assert digest.digest(t) == digest.digest(same)
    assert digest.digest(_flip_one_ulp(t, index)) != digest.digest(t)


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_strides_do_not_matter_and_both_paths_agree(dtype, seed):
    t = _tensor(dtype, (5, 7), seed)
    transposed = t.t().contiguous().t()  # same values, column-major storage
    assert not transposed.is_contiguous()
    assert digest.digest(transposed) == digest.digest(t)
    assert digest.digest(t[1:4, ::2]) == digest.digest(t[1:4, ::2].contiguous())
    assert digest.tensor_sum(t) == _device_path_sum(t)  # NumPy's dot on the CPU = torch's int64 ops on a device


def test_shape_dtype_and_empty_tensors_are_told_apart():
    x = torch.arange(6, dtype=torch.float32)
    assert digest.digest(x) != digest.digest(x.view(2, 3))
    assert digest.digest(torch.zeros(0)) != digest.digest(torch.zeros(0, 3))
    assert digest.digest(torch.zeros(3, dtype=torch.int32)) != digest.digest(torch.zeros(3, dtype=torch.float32))
    assert digest.digest(torch.tensor(1.0)) == digest.digest(torch.tensor(1.0))
    assert digest.digest(torch.tensor(0.0)) != digest.digest(torch.tensor(-0.0))  # bits, not values
    nan = torch.tensor([float("nan")])
    assert digest.digest(nan) == digest.digest(nan.clone())


def test_swapped_elements_and_cancelling_flips_change_the_digest():
    """What an XOR reduction (torch.hash_tensor) misses: a permutation, two equal bit flips."""
    x = torch.randn(64)
    assert digest.digest(x.flip(0)) != digest.digest(x)
    bits = x.view(torch.int32).clone()
    bits[3] ^= 1
    bits[9] ^= 1
    assert digest.digest(bits.view(torch.float32)) != digest.digest(x)


def test_pending_resolves_to_the_immediate_digests():
    tensors = [torch.randn(3, 4), torch.arange(5), torch.zeros(0), torch.tensor([True])]
    pending = digest.Pending()
    slots = [pending.add(t) for t in tensors] + [pending.add_value((1, 2.5, "x"))]
    out = pending.resolve()
    assert [out[s] for s in slots[:-1]] == [digest.digest(t) for t in tensors]
    assert out[slots[-1]] == digest.value_digest((1, 2.5, "x"))
    assert len(pending) == 0


def test_keys_are_odd_and_fixed():
    keys = digest._make_keys(1000)
    assert np.all(keys % 2 != 0)
    assert np.array_equal(keys, digest._make_keys(1000))
    assert np.array_equal(digest._make_keys(10), keys[:10])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_digest_equals_cpu_digest():
    t = torch.randn(1000, 33)
    assert digest.digest(t.cuda()) == digest.digest(t)
