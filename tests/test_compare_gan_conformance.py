"""Every architecture equals its transcription of compare_gan's source (repro/arch/references/compare_gan.py).

Same structure (archdiff finds nothing), same parameter counts, and the same outputs with the
package's weights transplanted into the transcription's TensorFlow layout, for every normalization
compare_gan has and at several resolutions. In float64: the transcription computes in NHWC with
TensorFlow's formulas (moments from sums of squares, conv2d_transpose as a vector-Jacobian product),
whose float32 rounding alone reaches ~1e-6; float64 leaves ~1e-14, so 1e-6 measures the
architecture. Weights are rescaled so that outputs are of order 1 (archdiff.randomize_weights).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repro.arch import archdiff
from repro.arch.references import compare_gan, compare_gan_transplant
from repro.config import TrainConfig
from repro.gan import architectures

WIDTH = 0.0625  # base 4 channels: ResNet CIFAR G 16 / D 8, ResNet19 32..4, SNDCGAN 4..32
TOL = 1e-6
CASES = ([("resnet", 32, n) for n in ("none", "bn", "ln", "sn")]
         + [("resnet19", r, n) for r in (16, 32) for n in ("none", "bn", "ln", "sn")] + [("resnet19", 64, "sn")]
         + [("sndcgan", r, n) for r in (16, 32) for n in ("none", "sn")] + [("sndcgan", 64, "sn")]
         + [("dcgan", r, n) for r in (16, 32) for n in ("none", "bn", "sn")])


def _cfg(arch, res, norm, width=WIDTH, channels=3):
    return TrainConfig(architecture=arch, resolution=res, d_norm=norm, width=width, channels=channels)


@pytest.mark.parametrize("arch,res,norm", CASES)
def test_package_equals_compare_gan(arch, res, norm):
    cfg = _cfg(arch, res, norm)
    package, reference = archdiff._build(cfg), archdiff.reference_model("compare_gan", cfg)
    assert archdiff.diff(package, reference) == []
    assert archdiff.param_counts(package) == archdiff.param_counts(reference)
    c = archdiff.conformance(cfg, "compare_gan")
    assert c["generator_max_abs"] > 0.1 and c["discriminator_max_abs"] > 0.01  # outputs that say something
    assert c["generator_max_abs_diff"] < TOL and c["discriminator_max_abs_diff"] < TOL


@pytest.mark.slow
@pytest.mark.parametrize("arch,norm", [("resnet19", "bn"), ("sndcgan", "sn"), ("dcgan", "bn")])
def test_package_equals_compare_gan_at_128(arch, norm):
    c = archdiff.conformance(_cfg(arch, 128, norm), "compare_gan")
    assert c["generator_max_abs_diff"] < TOL and c["discriminator_max_abs_diff"] < TOL


def test_one_channel_images_conform_too():
    c = archdiff.conformance(_cfg("resnet", 32, "ln", channels=1), "compare_gan")
    assert c["generator_max_abs_diff"] < TOL and c["discriminator_max_abs_diff"] < TOL


@pytest.mark.parametrize("arch", ["resnet", "sndcgan"])
def test_spectral_norm_vectors_advance_identically(arch):
    # One D call each: the package's u and compare_gan's u_var take the same power-iteration step.
    cfg = _cfg(arch, 32, "sn")
    g, d = (m.double().train() for m in archdiff._build(cfg))
    g_ref, d_ref = (m.double().train() for m in archdiff.reference_model("compare_gan", cfg))
    compare_gan_transplant.transplant((g, d), (g_ref, d_ref), arch)
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        d(x), d_ref(x)
    build = compare_gan_transplant._resnet_maps if arch == "resnet" else compare_gan_transplant._dcgan_maps
    _, d_map = build(g, d, g_ref, d_ref)
    refs = dict(d_ref.store.named_buffers())
    us = [(p, t, fn) for p, t, fn in d_map.entries if t.endswith("u_var")]
    assert len(us) == sum(1 for n, _ in d.named_buffers() if n.endswith(".u")) > 0
    for pkg_name, tf_name, fn in us:
        torch.testing.assert_close(fn(d_map.pkg[pkg_name]), refs[tf_name], rtol=0, atol=1e-12)  # float64


# ------------------------------------------------------------------ negative controls
def test_nearest_upsampling_breaks_conformance():
    cfg = _cfg("resnet", 32, "none")
    c = archdiff.conformance(cfg, "compare_gan")
    assert c["generator_max_abs_diff"] < TOL
    original = architectures.REGISTRY.get("resnet")

    def nearest(cfg_):
        g, d = original(cfg_)
        for m in g.modules():
            if getattr(m, "upsample", None) == "unpool":
                m.upsample = "nearest"  # the same weights, SNGAN's upsampling
        return g, d

    architectures.REGISTRY._items["resnet"] = nearest
    try:
        c = archdiff.conformance(cfg, "compare_gan")
        rows = archdiff.diff(archdiff._build(cfg), archdiff.reference_model("compare_gan", cfg))
    finally:
        architectures.REGISTRY._items["resnet"] = original
    assert c["generator_max_abs_diff"] > 1e-3
    assert [r["kind"] for r in rows] == ["G upsampling"]


def test_symmetric_padding_breaks_dcgan_conformance():
    # The old DCGAN padded its 5x5 stride-2 convs 2/2 (PyTorch) instead of TF's 1/2.
    cfg = _cfg("dcgan", 32, "none")
    original = architectures.REGISTRY.get("dcgan")

    def symmetric(cfg_):
        g, d = original(cfg_)
        for row in d.layers[:4]:
            pad = row.conv
            conv = pad.inner
            conv.padding = (2, 2)
            row.conv = conv
        return g, d

    architectures.REGISTRY._items["dcgan"] = symmetric
    try:
        c = archdiff.conformance(cfg, "compare_gan")
        rows = archdiff.diff(archdiff._build(cfg), archdiff.reference_model("compare_gan", cfg))
    finally:
        architectures.REGISTRY._items["dcgan"] = original
    assert c["discriminator_max_abs_diff"] > 1e-3
    assert [r["kind"] for r in rows] == ["padding"]


@pytest.mark.parametrize("arch,res,norm,message", [
    ("resnet", 64, "sn", "32 pixels"),
    ("sndcgan", 32, "bn", "no batch or layer norm"),
    ("sndcgan", 32, "ln", "no batch or layer norm"),
    ("dcgan", 32, "ln", "no layer norm"),
])
def test_the_transcription_refuses_what_compare_gan_does_not_have(arch, res, norm, message):
    with pytest.raises(ValueError, match=message):
        archdiff.reference_model("compare_gan", _cfg(arch, res, norm))


def test_transplant_names_what_it_cannot_cover():
    cfg = _cfg("resnet", 32, "none")
    g, d = archdiff._build(cfg)
    g_ref, d_ref = archdiff.reference_model("compare_gan", cfg)
    d.layers[0].shortcut = nn.Identity()  # a package D without the first shortcut conv
    with pytest.raises(ValueError, match="expected one weight under layers.0.shortcut"):
        compare_gan_transplant.transplant((g, d), (g_ref, d_ref), "resnet")


# ------------------------------------------------------------------ the numbers, at compare_gan's widths
@pytest.mark.parametrize("arch,res,g_params,d_params", [
    ("resnet", 32, 5_849_603, 1_483_137),  # ResNet CIFAR
    ("resnet19", 32, 13_786_115, 15_086_529),  # ResNet19: the counts do not depend on the resolution
    ("sndcgan", 32, 3_828_739, 5_860_865),
])
def test_parameter_counts_at_compare_gans_widths(arch, res, g_params, d_params):
    cfg = _cfg(arch, res, "sn", width=1.0)
    package = archdiff.param_counts(archdiff._build(cfg))
    reference = archdiff.param_counts(compare_gan.build(arch, resolution=res, d_norm="sn"))
    assert package == reference == {"G": g_params, "D": d_params, "total": g_params + d_params}


@pytest.mark.parametrize("arch,layers", [("sndcgan", 8), ("dcgan", 5), ("resnet", 13), ("resnet19", 19)])
def test_discriminator_weight_layers_match_compare_gans_count(arch, layers):
    # The 2018 code checks its L2 penalty saw N_DISCRIMINATOR_LAYERS kernels (src/gans/consts.py:55-60);
    # "ResNet19" is named after its 19.
    _, d = archdiff._build(_cfg(arch, 32, "none"))
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in d.modules()) == layers
