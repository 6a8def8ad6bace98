"""The package's ResNet equals the paper and GitHub transcriptions in repro/arch/references/ with weights transplanted.

Every ResNet ablation preset == the paper's ResNet CIFAR with the same flags (resnet_paper);
``resnet_all`` with ``resnet_code="sngan"`` == the SNGAN authors' code (resnet_github). Both at
32x32 without spectral norm (d_norm="none": the references' exact-SVD spectral norm is only the
limit of the package's one-step power iteration), in float64: the two sides order their float
operations differently (upsampling by broadcast or strided copy vs repetition, pooling by
avg_pool2d vs four strided views, batch norm by the kernel vs its formula), and float32 rounding
of those orders alone reaches ~1e-6; float64 leaves ~1e-14, so 1e-6 then measures the architecture.
Weights are rescaled (archdiff.randomize_weights) so that outputs are of order 1, not the ~1e-20 logits
of the N(0, 0.02) init, where an absolute tolerance would compare nothing.
"""

from __future__ import annotations

import pytest
import torch

from repro.arch import archdiff
from repro.arch.references import resnet_github, resnet_paper
from repro.config import RESNET_FLAGS
from repro.gan import architectures
from repro.gan.presets import config_for
from repro.gan.resnet import scale_channels

WIDTH = 0.0625  # G 16, D 8 channels: fast, and D's first block still changes channels (3 -> 8)
TOL = 1e-6
ABLATIONS = ["resnet_default", *[f"resnet_{f}" for f in RESNET_FLAGS], "resnet_cin_opt", "resnet_all"]


def _pair(variant, reference, channels, **changes):
    cfg = config_for(variant, resolution=32, width=WIDTH, channels=channels, d_norm="none", **changes)
    torch.manual_seed(0)
    g, d = (m.double().train() for m in architectures.build(cfg))
    gen = torch.Generator().manual_seed(0)
    archdiff.randomize_weights(g, gen)
    archdiff.randomize_weights(d, gen)
    torch.manual_seed(1)  # the reference's own random weights are all overwritten by the transplant
    ch_g, ch_d = scale_channels(256, WIDTH), scale_channels(128, WIDTH)
    if reference is resnet_paper:
        g_ref = resnet_paper.Generator(cfg.z_dim, ch_g, channels, flags=cfg.flags).double()
        d_ref = resnet_paper.Discriminator(ch_d, channels, flags=cfg.flags).double()
    else:
        g_ref, d_ref = resnet_github.Generator(cfg.z_dim, ch_g, channels).double(), \
            resnet_github.Discriminator(ch_d, channels).double()
    g_map, d_map = reference.package_name_map(g_ref, d_ref)
    reference.transplant(g, g_ref, g_map)
    reference.transplant(d, d_ref, d_map)
    return cfg, (g, d), (g_ref, d_ref)


def _inputs(cfg, d_ref, channels, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.rand(4, cfg.z_dim, generator=gen, dtype=torch.float64) * 2 - 1
    lo, hi = d_ref.input_range
    x = torch.rand(4, channels, 32, 32, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    return z, x


@pytest.mark.parametrize("variant", ABLATIONS)
def test_every_ablation_equals_the_paper_transcription(variant):
    cfg, (g, d), (g_ref, d_ref) = _pair(variant, resnet_paper, 3)
    z, x = _inputs(cfg, d_ref, 3)
    assert g.output_range == g_ref.output_range and d.input_range == d_ref.input_range
    with torch.no_grad():
        assert g(z).abs().max() > 0.1 and d(x).abs().max() > 0.1  # outputs of order 1: the comparison compares
        torch.testing.assert_close(g(z), g_ref(z), rtol=0, atol=TOL)
        torch.testing.assert_close(d(x), d_ref(x), rtol=0, atol=TOL)
        torch.testing.assert_close(d(g(z)), d_ref(g_ref(z)), rtol=0, atol=TOL)  # the composed pipeline


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_all_with_sngan_code_equals_the_github_transcription(channels):
    cfg, (g, d), (g_ref, d_ref) = _pair("resnet_all", resnet_github, channels, resnet_code="sngan")
    z, x = _inputs(cfg, d_ref, channels)
    with torch.no_grad():
        torch.testing.assert_close(g(z), g_ref(z), rtol=0, atol=TOL)
        torch.testing.assert_close(d(x), d_ref(x), rtol=0, atol=TOL)


def test_gradients_agree_too():
    cfg, (g, d), (g_ref, d_ref) = _pair("resnet_all", resnet_github, 3, resnet_code="sngan")
    z, _ = _inputs(cfg, d_ref, 3)
    d(g(z)).sum().backward()
    d_ref(g_ref(z)).sum().backward()
    g_map, _ = resnet_github.package_name_map(g_ref, d_ref)
    ref_params = dict(g_ref.named_parameters())
    for name, p in g.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[g_map[name]].grad, rtol=1e-9, atol=1e-9)  # float64


@pytest.mark.parametrize("variant,net", [
    ("resnet_tan", "g"),  # tanh output: G differs from the paper's sigmoid
    ("resnet_eps", "g"),  # eps 2e-5 in G's batch norms
    ("resnet_sum", "d"),  # sum pooling: D logits scale by the map area
])
def test_a_single_flag_breaks_conformance_with_the_default(variant, net):
    # Negative controls: the comparison above is able to fail (this reference keeps no flags).
    cfg = config_for(variant, resolution=32, width=WIDTH, channels=3, d_norm="none")
    torch.manual_seed(0)
    g, d = (m.double().train() for m in architectures.build(cfg))
    gen = torch.Generator().manual_seed(0)
    archdiff.randomize_weights(g, gen)
    archdiff.randomize_weights(d, gen)
    g0 = resnet_paper.Generator(cfg.z_dim, scale_channels(256, WIDTH), 3).double()
    d0 = resnet_paper.Discriminator(scale_channels(128, WIDTH), 3).double()
    g_map, d_map = resnet_paper.package_name_map(g0, d0)
    resnet_paper.transplant(g, g0, g_map)
    resnet_paper.transplant(d, d0, d_map)
    z, x = _inputs(cfg, d0, 3)
    with torch.no_grad():
        err = (g(z) - g0(z)).abs().max() if net == "g" else (d(x) - d0(x)).abs().max()
    assert err > 1e-9  # conforming pairs agree to ~1e-14 in float64; 1e-9 is far outside that


def test_the_sngan_details_break_conformance_with_the_paper():
    # resnet_all (compare_gan's unlisted details) vs the SNGAN code: the transplant itself refuses
    # (different shortcut shapes, a missing logit bias), so the unlisted differences are real.
    cfg = config_for("resnet_all", resolution=32, width=WIDTH, channels=3, d_norm="none")
    torch.manual_seed(0)
    g, d = architectures.build(cfg)
    g_ref, d_ref = resnet_github.Generator(128, 16, 3), resnet_github.Discriminator(8, 3)
    g_map, d_map = resnet_github.package_name_map(g_ref, d_ref)
    with pytest.raises(ValueError, match="shape mismatch"):
        resnet_github.transplant(g, g_ref, g_map)
    with pytest.raises(ValueError, match="not mapped"):
        resnet_github.transplant(d, d_ref, d_map)


def test_transplant_refuses_an_incomplete_mapping():
    cfg, (g, _), (g_ref, d_ref) = _pair("resnet_default", resnet_paper, 3)
    g_map, _ = resnet_paper.package_name_map(g_ref, d_ref)
    g_map.pop("layers.1.shortcut.weight")
    with pytest.raises(ValueError, match="not mapped.*layers.1.shortcut.weight"):
        resnet_paper.transplant(g, g_ref, g_map)


@pytest.mark.parametrize("variant,ref,changes", [("resnet_default", "paper", {}), ("resnet_all", "paper", {}),
                                                 ("resnet_cin_opt", "paper", {}),
                                                 ("resnet_all", "github", {"resnet_code": "sngan"})])
def test_transcriptions_describe_the_same_structure_as_the_package(variant, ref, changes):
    cfg = config_for(variant, resolution=32, width=WIDTH, channels=3, **changes)
    package = archdiff._build(cfg)
    reference = archdiff.reference_model(ref, cfg)
    assert archdiff.diff(package, reference) == []
    assert archdiff.param_counts(package) == archdiff.param_counts(reference)


def test_reference_spectral_norm_is_the_exact_largest_singular_value():
    w = torch.randn(5, 3, 3, 3, dtype=torch.float64)
    s = torch.linalg.svdvals(resnet_paper.sn(w, True).reshape(5, -1))
    torch.testing.assert_close(s[0], torch.tensor(1.0, dtype=torch.float64), rtol=0, atol=1e-12)  # float64 SVD


def test_paper_transcription_refuses_unknown_flags():
    with pytest.raises(ValueError, match="valid flags: skip, cin, opt, sum, tan, eps"):
        resnet_paper.Generator(flags=("wide",))
