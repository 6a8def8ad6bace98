"""EpochSampler: deterministic shuffled batches from its own generator, exact mid-epoch resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.data import EpochSampler


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), bs=st.integers(1, 60), seed=st.integers(0, 2**32), epochs=st.integers(1, 3))
def test_each_epoch_is_a_drop_last_slice_of_a_permutation(n, bs, seed, epochs):
    if bs > n:
        with pytest.raises(ValueError, match="larger than the split"):
            EpochSampler(n, bs, seed)
        return
    s = EpochSampler(n, bs, seed)
    per_epoch = n // bs
    for _ in range(epochs):
        batches = [s.next_indices() for _ in range(per_epoch)]
        flat = np.concatenate(batches)
        assert all(b.dtype == np.int64 and b.shape == (bs,) for b in batches)
        assert flat.size == per_epoch * bs == np.unique(flat).size  # no repeats within an epoch
        assert flat.min() >= 0 and flat.max() < n


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 50), bs=st.integers(1, 7), seed=st.integers(0, 10**6), k=st.integers(0, 40), m=st.integers(1, 25))
def test_restored_sampler_continues_with_identical_indices(n, bs, seed, k, m):
    bs = min(bs, n)
    a = EpochSampler(n, bs, seed)
    for _ in range(k):
        a.next_indices()
    state = json.loads(json.dumps(a.state_dict()))  # must survive JSON (checkpoints store it so)
    b = EpochSampler(n, bs, seed)
    b.load_state_dict(state)
    for _ in range(m):
        np.testing.assert_array_equal(a.next_indices(), b.next_indices())
    assert a.state_dict() == b.state_dict()


def test_seeds_differ_epochs_reshuffle_and_global_rng_untouched():
    np.random.seed(123)
    torch.manual_seed(123)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    a, b = EpochSampler(100, 10, 0), EpochSampler(100, 10, 1)
    ea = np.concatenate([a.next_indices() for _ in range(10)])
    eb = np.concatenate([b.next_indices() for _ in range(10)])
    ea2 = np.concatenate([a.next_indices() for _ in range(10)])
    assert not np.array_equal(ea, eb)
    assert not np.array_equal(ea, ea2)  # a new permutation each epoch
    np.testing.assert_array_equal(np.sort(ea), np.arange(100))
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_drop_last_skips_the_remainder():
    s = EpochSampler(10, 4, 5)
    epoch0 = [s.next_indices() for _ in range(2)]
    assert s.state_dict()["epoch"] == 0 and s.state_dict()["position"] == 8
    s.next_indices()
    assert s.state_dict()["epoch"] == 1 and s.state_dict()["position"] == 4
    np.testing.assert_array_equal(np.concatenate(epoch0), s.permutation(0)[:8])


def test_bad_arguments_and_states():
    for kwargs, msg in (({"n": 0, "batch_size": 1, "seed": 0}, "n=0"),
                        ({"n": 5, "batch_size": 0, "seed": 0}, "batch_size=0"),
                        ({"n": 5, "batch_size": 2, "seed": -1}, "seed=-1"),
                        ({"n": 5, "batch_size": 2.0, "seed": 0}, "batch_size=2.0")):
        with pytest.raises(ValueError, match=msg):
            EpochSampler(**kwargs)
    s = EpochSampler(10, 2, 0)
    state = s.state_dict()
    with pytest.raises(ValueError, match="seed=1"):
        EpochSampler(10, 2, 1).load_state_dict(state)
    with pytest.raises(ValueError, match="n=10"):
        EpochSampler(12, 2, 0).load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        s.load_state_dict({"epoch": 0})
    with pytest.raises(ValueError, match="position"):
        s.load_state_dict({**state, "position": 11})
