"""The package's ResNet equals the literal transcriptions in reference_impls/ with weights transplanted.

Flags off == the paper's ResNet CIFAR; all six flags == the SNGAN-style GitHub ResNet. Both at
32x32 without spectral norm (d_norm="none": the references' exact-SVD spectral norm is only the
limit of the package's one-step power iteration), in float64: the two sides order their float
operations differently (nearest upsampling by broadcast vs repetition, pooling by avg_pool2d vs
four strided views, batch norm by the kernel vs its formula), and float32 rounding of those
orders alone reaches ~1e-6; float64 leaves ~1e-15, so 1e-6 then measures the architecture.
"""

from __future__ import annotations

import pytest
import torch

from reference_impls import resnet_github, resnet_paper
from repro import archdiff
from repro.gan import architectures
from repro.gan.presets import config_for
from repro.gan.resnet import scale_channels

WIDTH = 0.0625  # G 16, D 8 channels: fast, and D's first block still changes channels (3 -> 8)
TOL = 1e-6


def _pair(variant, reference, channels):
    cfg = config_for(variant, resolution=32, width=WIDTH, channels=channels, d_norm="none")
    torch.manual_seed(0)
    g, d = (m.double().train() for m in architectures.build(cfg))
    torch.manual_seed(1)  # the reference's own random weights are all overwritten by the transplant
    g_ref = reference.Generator(z_dim=cfg.z_dim, ch=scale_channels(256, WIDTH), channels=channels).double()
    d_ref = reference.Discriminator(ch=scale_channels(128, WIDTH), channels=channels).double()
    g_map, d_map = reference.package_name_map()
    reference.transplant(g, g_ref, g_map)
    reference.transplant(d, d_ref, d_map)
    return cfg, (g, d), (g_ref, d_ref)


def _inputs(cfg, d_ref, channels, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.rand(4, cfg.z_dim, generator=gen, dtype=torch.float64) * 2 - 1
    lo, hi = d_ref.input_range
    x = torch.rand(4, channels, 32, 32, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    return z, x


@pytest.mark.parametrize("variant,reference", [("resnet_default", resnet_paper), ("resnet_all", resnet_github)])
@pytest.mark.parametrize("channels", [1, 3])
def test_package_equals_transcription(variant, reference, channels):
    cfg, (g, d), (g_ref, d_ref) = _pair(variant, reference, channels)
    z, x = _inputs(cfg, d_ref, channels)
    assert g.output_range == d_ref.input_range
    with torch.no_grad():
        torch.testing.assert_close(g(z), g_ref(z), rtol=0, atol=TOL)
        torch.testing.assert_close(d(x), d_ref(x), rtol=0, atol=TOL)
        torch.testing.assert_close(d(g(z)), d_ref(g_ref(z)), rtol=0, atol=TOL)  # the composed pipeline


def test_gradients_agree_too():
    cfg, (g, d), (g_ref, d_ref) = _pair("resnet_all", resnet_github, 3)
    z, _ = _inputs(cfg, d_ref, 3)
    d(g(z)).sum().backward()
    d_ref(g_ref(z)).sum().backward()
    g_map, _ = resnet_github.package_name_map()
    ref_params = dict(g_ref.named_parameters())
    for name, p in g.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[g_map[name]].grad, rtol=0, atol=TOL)


@pytest.mark.parametrize("variant,reference,net", [
    ("resnet_tan", resnet_paper, "g"),  # tanh output: G differs from the paper's sigmoid
    ("resnet_eps", resnet_paper, "g"),  # eps 2e-5 in G's batch norms
    ("resnet_sum", resnet_paper, "d"),  # sum pooling: D logits scale by the map area
])
def test_a_single_flag_breaks_conformance(variant, reference, net):
    # Negative controls: the comparison above is able to fail.
    cfg, (g, d), (g_ref, d_ref) = _pair(variant, reference, 3)
    z, x = _inputs(cfg, d_ref, 3)
    with torch.no_grad():
        err = (g(z) - g_ref(z)).abs().max() if net == "g" else (d(x) - d_ref(x)).abs().max()
    assert err > 1e-9  # conforming pairs agree to ~1e-15 in float64; 1e-9 is far outside that


def test_transplant_refuses_an_incomplete_mapping():
    cfg, (g, _), (g_ref, _) = _pair("resnet_default", resnet_paper, 3)
    g_map, _ = resnet_paper.package_name_map()
    g_map.pop("layers.1.shortcut.weight")
    with pytest.raises(ValueError, match="not mapped.*layers.1.shortcut.weight"):
        resnet_paper.transplant(g, g_ref, g_map)


def test_transcriptions_describe_the_same_structure_as_the_package():
    for variant, ref in (("resnet_default", "paper"), ("resnet_all", "github")):
        result = archdiff.diff_reference(variant, ref, width=WIDTH, check_outputs=False)
        assert result["rows"] == []
        assert result["params"]["package"] == result["params"]["reference"]


def test_reference_spectral_norm_is_the_exact_largest_singular_value():
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    s = torch.linalg.svdvals(resnet_paper.sn(w, True).reshape(5, -1))
    torch.testing.assert_close(s[0], torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-12)  # float64 SVD
