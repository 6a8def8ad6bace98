"""Named evaluation protocols and the uint8 quantisation they apply to both image sets."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.metrics.protocols import PROTOCOLS, get_protocol, protocol_for, quantize_uint8


def test_registry_names_and_contents():
    assert set(PROTOCOLS.names()) == {"fid_ttur_test", "fid_digits_cnn_test"}
    ttur = get_protocol("fid_ttur_test")
    assert (ttur.extractor, ttur.quantize, ttur.split, ttur.num_samples) == ("inception-v3-fid", "uint8", "test", None)
    assert "TF1" in ttur.resize
    with pytest.raises(ValueError, match="valid protocol names: fid_ttur_test, fid_digits_cnn_test"):
        get_protocol("fid_clean")  # not offered: clean-fid's resize and network are not implemented here
    assert protocol_for("digits", "auto") == "fid_digits_cnn_test"
    assert protocol_for("cifar10", "auto") == "fid_ttur_test"
    assert protocol_for("cifar10", "digits-cnn") == "fid_digits_cnn_test"


def test_quantize_is_identity_on_8bit_images():
    # every uint8 value survives x / 255 -> quantise exactly (real CIFAR / CelebA / LSUN images)
    levels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    x = levels.to(torch.float32) / 255.0
    assert torch.equal(quantize_uint8(x), x)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_quantize_rounds_to_nearest_level_and_is_idempotent(seed):
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    q = quantize_uint8(x)
    assert torch.equal(quantize_uint8(q), q)  # idempotent
    assert float((q - x).abs().max()) <= 0.5 / 255 + 1e-7  # nearest level (float32 rounding)
    assert torch.equal(torch.round(q * 255), q * 255)  # on the 8-bit grid
    assert q.dtype == torch.float32 and 0.0 <= float(q.min()) and float(q.max()) <= 1.0
