"""Architectures: shapes, ranges, flags, resolutions, init determinism, layer tables."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from repro.arch import layer_table
from repro.config import TrainConfig
from repro.gan import architectures, resnet
from repro.gan.resample import upsample_nearest2x
from repro.gan.resblocks import DResBlock, GResBlock

TINY = 0.05  # width multiplier: a few channels per layer keeps every build + forward in milliseconds
CASES = [(arch, norm, res) for arch in architectures.REGISTRY.names() for norm in ("none", "bn", "ln", "sn")
         for res in architectures.SUPPORTED_RESOLUTIONS[arch]]


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"width": TINY, **kw})


def test_registry_holds_the_four_architectures():
    assert set(architectures.REGISTRY.names()) == {"sndcgan", "dcgan", "resnet", "resnet19"}
    for arch in architectures.REGISTRY.names():
        assert set(architectures.SUPPORTED_RESOLUTIONS[arch]) >= {16, 32, 64, 128}


@pytest.mark.parametrize("arch,norm,res", CASES)
def test_builds_with_right_shapes_and_ranges(arch, norm, res):
    channels = 3 if res % 32 == 0 else 1
    cfg = _cfg(architecture=arch, d_norm=norm, resolution=res, channels=channels)
    torch.manual_seed(0)
    g, d = architectures.build(cfg)
    z = torch.rand(2, cfg.z_dim) * 2 - 1
    x = g(z)
    assert x.shape == (2, channels, res, res)
    lo, hi = g.output_range
    assert torch.all(x >= lo) and torch.all(x <= hi)
    assert d.input_range == g.output_range
    logits = d(x)
    assert logits.shape == (2,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", ["resnet", "resnet19"])
def test_tan_flag_changes_range_and_eps_flag_changes_g_batch_norm(arch):
    torch.manual_seed(0)
    g, d = architectures.build(_cfg(architecture=arch, flags=("tan", "eps")))
    assert g.output_range == (-1.0, 1.0) and d.input_range == (-1.0, 1.0)
    x = g(torch.rand(3, 128) * 2 - 1)
    assert x.min() < 0  # tanh output reaches below 0 (sigmoid never does)
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 2e-5 for m in bns)
    g0, _ = architectures.build(_cfg(architecture=arch))
    assert all(m.eps == 1e-5 for m in g0.modules() if isinstance(m, nn.BatchNorm2d))
    assert g0.output_range == (0.0, 1.0)


def test_flags_shape_the_discriminator_blocks():
    torch.manual_seed(0)
    _, d = architectures.build(_cfg(architecture="resnet", resolution=32, width=0.25, flags=("skip", "cin", "opt")))
    blocks = [m for m in d.modules() if isinstance(m, DResBlock)]
    first, rest = blocks[0].structure(), [b.structure() for b in blocks[1:]]
    assert first["form"] == "optimized" and first["leading_activation"] == "none"
    assert first["shortcut"] == "avgpool, conv1x1" and first["hidden_channels"] == first["out_channels"]
    assert all(r["shortcut"] == "identity" and r["hidden_rule"] == "c_in" for r in rest)
    _, d0 = architectures.build(_cfg(architecture="resnet", resolution=32, width=0.25))
    b0 = [m.structure() for m in d0.modules() if isinstance(m, DResBlock)]
    assert all(r["shortcut"] == "conv3x3" and r["form"] == "pre-activation" for r in b0)
    assert b0[0]["hidden_channels"] == b0[0]["out_channels"] != b0[0]["in_channels"]


def test_sum_flag_pools_by_sum():
    # Same weights, mean vs sum pooling: logits minus bias scale by the pooled area (8x8 at 32px).
    torch.manual_seed(0)
    _, d_mean = architectures.build(_cfg(architecture="resnet", resolution=32, d_norm="none"))
    torch.manual_seed(0)
    _, d_sum = architectures.build(_cfg(architecture="resnet", resolution=32, d_norm="none", flags=("sum",)))
    d_sum.load_state_dict(d_mean.state_dict())
    with torch.no_grad():
        d_mean.layers[-1].linear.bias.fill_(0.0)
        d_sum.layers[-1].linear.bias.fill_(0.0)
    x = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    d_mean, d_sum = d_mean.double(), d_sum.double()
    torch.testing.assert_close(d_sum(x), 64 * d_mean(x), rtol=1e-12, atol=1e-12)  # float64: exact up to rounding


def test_resnet_schedules_follow_compare_gan():
    for res in resnet.RESOLUTIONS:
        s = resnet.resnet_cifar_schedule(res)
        assert len(s.g_blocks) == {16: 2, 32: 3, 64: 4, 128: 5}[res] and set(s.g_blocks) == {(256, True)}
        downs = [down for _, down in s.d_blocks]
        assert res // 2 ** sum(downs) == 8 and downs[-2:] == [False, False]
        # resnet5.py: always five G blocks (the first log2(R/4) upsampling) and six downsampling D blocks
        s19 = resnet.resnet19_schedule(res)
        assert [c for c, _ in s19.g_blocks] == [512, 256, 256, 128, 64]
        assert [up for _, up in s19.g_blocks] == [i < {16: 2, 32: 3, 64: 4, 128: 5}[res] for i in range(5)]
        assert s19.d_blocks == ((64, True), (128, True), (256, True), (256, True), (512, True), (512, True))
    assert resnet.resnet_cifar_schedule(32).d_blocks == ((128, True), (128, True), (128, False), (128, False))


def test_resnet19_d_keeps_a_1x1_map_at_32px():
    # TF 'SAME' pooling of a 1x1 map is the map itself: compare_gan's ResNet19 D at 32x32 ends 1x1x512.
    torch.manual_seed(0)
    g, d = architectures.build(_cfg(architecture="resnet19", resolution=32, channels=3))
    rows = layer_table.table_dict(g, d)["discriminator"]["rows"]
    assert [r["output"][:2] for r in rows[:6]] == [[16, 16], [8, 8], [4, 4], [2, 2], [1, 1], [1, 1]]
    assert [r["resample"] for r in layer_table.table_dict(g, d)["generator"]["rows"][2:7]] == ["U", "U", "U", "-", "-"]


@pytest.mark.parametrize("arch", ["sndcgan", "dcgan", "resnet", "resnet19"])
@pytest.mark.parametrize("res", [8, 24, 48, 256])
def test_unsupported_resolution_names_the_supported_ones(arch, res):
    with pytest.raises(ValueError, match="supported: 16, 32, 64, 128"):
        architectures.check_resolution(arch, res)
    with pytest.raises(ValueError, match="supported"):
        TrainConfig(architecture=arch, resolution=res)


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ValueError, match="sndcgan.*dcgan.*resnet.*resnet19"):
        architectures.check_resolution("stylegan", 32)


@pytest.mark.parametrize("arch", ["sndcgan", "resnet"])
def test_init_is_deterministic_given_the_seed(arch):
    cfg = _cfg(architecture=arch, resolution=16)

    def state(seed):
        torch.manual_seed(seed)
        g, d = architectures.build(cfg)
        return {**{f"g.{k}": v for k, v in g.state_dict().items()}, **{f"d.{k}": v for k, v in d.state_dict().items()}}

    a, b, c = state(1), state(1), state(2)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_init_is_compare_gan_normal_002():
    torch.manual_seed(0)
    g, _ = architectures.build(_cfg(architecture="resnet19", resolution=64, width=0.5))
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.Conv2d)])
    # ~1e5 draws: the sample std is within 2% of 0.02 with overwhelming probability
    assert abs(w.std().item() - 0.02) < 0.02 * 0.02 and abs(w.mean().item()) < 1e-3


@given(st.floats(0.01, 4.0), st.integers(1, 512))
def test_width_rounding_half_up_and_at_least_one(width, channels):
    c = resnet.scale_channels(channels, width)
    assert c >= 1 and abs(c - channels * width) <= 0.5 + 1e-9 or c == 1


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-2.0, 0.5)]), st.integers(0, 2 ** 31 - 1))
def test_range_maps_are_inverse_affine(value_range, seed):
    x = torch.rand(4, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y = architectures.to_model_range(x, value_range)
    assert y.min() >= value_range[0] and y.max() <= value_range[1]
    torch.testing.assert_close(architectures.to_unit_range(y, value_range), x, rtol=0, atol=1e-12)  # float64 affine
    ends = architectures.to_model_range(torch.tensor([0.0, 1.0]), value_range)
    assert ends.tolist() == list(value_range)


def test_range_maps_refuse_empty_ranges():
    with pytest.raises(ValueError, match="low < high"):
        architectures.to_model_range(torch.zeros(1), (1.0, 1.0))


def test_upsample_nearest2x_is_nearest_neighbour():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(upsample_nearest2x(x), nn.functional.interpolate(x, scale_factor=2, mode="nearest"),
                               rtol=0, atol=0)  # pure copies: bitwise equal


@pytest.mark.parametrize("upsample,shortcut,k", [("unpool", "conv3x3", 3), ("nearest", "conv1x1", 1)])
def test_g_block_doubles_the_map_with_its_shortcut(upsample, shortcut, k):
    blk = GResBlock(4, 6, 1e-5, upsample=upsample, shortcut=shortcut)
    assert blk(torch.randn(2, 4, 4, 4)).shape == (2, 6, 8, 8)
    assert blk.shortcut.kernel_size == (k, k)
    assert blk.structure()["upsampling"] == upsample and blk.structure()["g_shortcut"] == shortcut


def test_resnet_code_sets_the_unlisted_details():
    torch.manual_seed(0)
    g, d = architectures.build(_cfg(architecture="resnet", resolution=32, flags=("skip",)))
    torch.manual_seed(0)
    g2, d2 = architectures.build(_cfg(architecture="resnet", resolution=32, flags=("skip",), resnet_code="sngan"))
    blocks = [m for m in g.modules() if isinstance(m, GResBlock)]
    blocks2 = [m for m in g2.modules() if isinstance(m, GResBlock)]
    assert {(b.upsample, b.shortcut.kernel_size) for b in blocks} == {("unpool", (3, 3))}
    assert {(b.upsample, b.shortcut.kernel_size) for b in blocks2} == {("nearest", (1, 1))}
    d_sc = [m.structure()["shortcut"] for m in d.modules() if isinstance(m, DResBlock)]
    d2_sc = [m.structure()["shortcut"] for m in d2.modules() if isinstance(m, DResBlock)]
    assert d_sc == ["conv1x1", "identity", "identity", "identity"]  # 3 -> c: a 1x1 where the channels change
    assert d2_sc == ["conv1x1", "conv1x1", "identity", "identity"]  # SNGAN: also where the block downsamples
    assert d.layers[-1].linear.module.bias is not None and d2.layers[-1].linear.module.bias is None
    with pytest.raises(ValueError, match="resnet_code"):
        TrainConfig(architecture="sndcgan", resnet_code="sngan")


@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_resnet_d_normalises_the_raw_input_and_not_the_head(norm):
    torch.manual_seed(0)
    _, d = architectures.build(_cfg(architecture="resnet", resolution=32, d_norm=norm))
    first = [m for m in d.modules() if isinstance(m, DResBlock)][0]
    assert first.structure()["input_norm"] == {"bn": "batch", "ln": "layer"}[norm]
    head = d.layers[-2]
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in head.modules())
    # the first norm acts on the image: scaling the image's contrast changes nothing before the convs see it
    x = torch.rand(4, 1, 32, 32, dtype=torch.float64)
    d = d.double()
    with torch.no_grad():
        pre = first.pre[0]
        # equal up to the epsilon: eps / (2 var) ~ 1e-5 / (2 / 12) relative, on values up to ~2
        torch.testing.assert_close(pre(x * 3 + 1), pre(x), rtol=0, atol=1e-3)
        assert not torch.allclose(pre(x), x, atol=1e-1)  # and it does normalise


def test_sndcgan_matches_compare_gan_details():
    torch.manual_seed(0)
    g, d = architectures.build(_cfg(architecture="sndcgan", resolution=32, channels=3, width=1.0))
    assert sum(p.numel() for p in g.parameters()) == 3_828_739  # the flat first BN: 2 x 4*4*512 parameters
    stem = g.layers[0]
    assert isinstance(stem.bn, nn.BatchNorm1d) and stem.bn.num_features == 4 * 4 * 512
    assert g.layers[-1].kind == "tanh_unit" and g.output_range == (0.0, 1.0) == d.input_range
    assert d.layers[0].structure() == {"part": "input_map", "map": "x*2-1"}
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(d.layers[0](x), x * 2 - 1, rtol=0, atol=0)
    z = torch.randn(2, 128) * 10
    out = g.layers[-1](z)
    torch.testing.assert_close(out, (torch.tanh(z) + 1) / 2, rtol=0, atol=0)  # the same float ops


def test_dcgan_d_batch_norm_is_compare_gans_effective_setting():
    torch.manual_seed(0)
    _, d = architectures.build(_cfg(architecture="dcgan", resolution=32, d_norm="bn"))
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 3 and all(m.eps == 1e-5 and m.momentum == pytest.approx(0.1) for m in bns)


@pytest.mark.parametrize("k,stride,size", [(5, 2, 8), (4, 2, 8), (3, 1, 8), (5, 2, 4)])
def test_same_padding_aligns_as_tensorflow(k, stride, size):
    # A 'SAME' conv of a one-hot image puts the kernel where TF does: out[i] reads x[s*i - before + j].
    from repro.gan.blocks import same_conv, same_deconv, same_padding

    before, _ = same_padding(k, stride)
    conv = same_conv(lambda pad: nn.Conv2d(1, 1, k, stride=stride, padding=pad, bias=False), k, stride)
    with torch.no_grad():
        (conv.inner if hasattr(conv, "inner") else conv).weight.copy_(
            torch.arange(k * k, dtype=torch.float32).reshape(1, 1, k, k))
    x = torch.zeros(1, 1, size, size)
    x[0, 0, 1, 1] = 1.0
    y = conv(x)
    assert y.shape[-1] == size // stride
    for i in range(y.shape[-1]):
        j = 1 - (stride * i - before)  # the kernel tap that lands on pixel 1
        expected = float(j * k + j) if 0 <= j < k else 0.0
        assert y[0, 0, i, i].item() == expected
    deconv = same_deconv(1, 1, k, stride)
    assert deconv(torch.zeros(1, 1, size, size)).shape[-1] == size * stride


@pytest.mark.parametrize("arch", ["sndcgan", "dcgan", "resnet", "resnet19"])
def test_layer_table_agrees_with_the_modules(arch):
    torch.manual_seed(0)
    cfg = _cfg(architecture=arch, resolution=32, channels=3, d_norm="sn")
    g, d = architectures.build(cfg)
    u_before = [b.clone() for b in d.buffers()]
    tables = layer_table.table_dict(g, d)
    assert all(torch.equal(a, b) for a, b in zip(u_before, d.buffers()))  # the dry run leaves SN's u alone
    assert g.training and d.training
    for net, key in ((g, "generator"), (d, "discriminator")):
        rows = tables[key]["rows"]
        assert sum(r["params"] for r in rows) == tables[key]["params"] == sum(p.numel() for p in net.parameters())
    assert tables["generator"]["rows"][0] == {"layer": "z", "kernel": None, "resample": "-", "output": [128],
                                              "params": 0}
    assert tables["generator"]["rows"][-1]["output"] == [32, 32, 3]
    assert tables["discriminator"]["rows"][-1]["output"] == [1]
