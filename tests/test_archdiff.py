"""Architecture diff: counts per ResNet flag, read from the modules (not from a list)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repro.arch import archdiff
from repro.gan import architectures
from repro.gan.presets import config_for

WIDTH = 0.0625
SINGLE = {"resnet_skip": "D shortcut", "resnet_cin": "hidden channels", "resnet_opt": "block form",
          "resnet_sum": "output pooling", "resnet_tan": "output activation / input range",
          "resnet_eps": "batch-norm epsilon"}


def _kinds(a, b, resolution=32):
    return [r["kind"] for r in archdiff.diff_variants(a, b, resolution=resolution, width=WIDTH)["rows"]]


@pytest.mark.parametrize("variant", list(SINGLE))
def test_each_single_flag_is_exactly_one_difference(variant):
    assert _kinds("resnet_default", variant) == [SINGLE[variant]]


@pytest.mark.parametrize("resolution", [16, 32])
def test_all_flags_are_exactly_the_six_differences(resolution):
    kinds = _kinds("resnet_default", "resnet_all", resolution)
    assert sorted(kinds) == sorted(SINGLE.values())


def test_cin_opt_is_two_differences():
    assert sorted(_kinds("resnet_default", "resnet_cin_opt")) == sorted(["block form", "hidden channels"])


def test_a_variant_against_itself_has_no_differences():
    result = archdiff.diff_variants("resnet_all", "resnet_all", width=WIDTH)
    assert result["rows"] == [] and result["params"]["a"] == result["params"]["b"]


def test_skip_row_names_the_blocks_and_opt_takes_the_first_block():
    rows = {r["kind"]: r for r in archdiff.diff_variants("resnet_default", "resnet_all", width=WIDTH)["rows"]}
    assert rows["D shortcut"]["where"] == ["D.block1", "D.block2", "D.block3"]
    assert rows["block form"]["changes"] == [{"where": ["D.block0"], "a": "pre-activation", "b": "optimized"}]
    assert rows["output pooling"]["changes"][0]["a"] == "mean" and rows["output pooling"]["changes"][0]["b"] == "sum"


def test_a_hand_modified_block_shows_up():
    cfg = config_for("resnet_default", resolution=32, width=WIDTH)
    torch.manual_seed(0)
    model_a = architectures.build(cfg)
    torch.manual_seed(0)
    g, d = architectures.build(cfg)
    d.layers[2].shortcut = nn.Identity()  # hand-made SKIP on one block only
    rows = archdiff.diff(model_a, (g, d))
    assert len(rows) == 1 and rows[0]["kind"] == "D shortcut" and rows[0]["where"] == ["D.block2"]
    assert rows[0]["changes"][0]["a"] == "conv3x3" and rows[0]["changes"][0]["b"] == "identity"
    d.layers[0].pre = nn.Identity()  # a leading activation removed without the optimized form
    kinds = [r["kind"] for r in archdiff.diff(model_a, (g, d))]
    assert "leading activation" in kinds


def test_different_layouts_are_reported_not_crashed():
    result = archdiff.diff_variants("resnet_default", "resnet19", width=WIDTH)
    assert "layout" in [r["kind"] for r in result["rows"]]
    assert result["params"]["a"]["total"] != result["params"]["b"]["total"]


def test_param_counts_are_a_summary():
    result = archdiff.diff_variants("resnet_default", "resnet_skip", width=WIDTH)
    pa, pb = result["params"]["a"], result["params"]["b"]
    assert pa["G"] == pb["G"] and pa["D"] > pb["D"]  # identity shortcuts drop the 3x3 shortcut convs
    assert "parameters" not in [r["kind"] for r in result["rows"]]


def test_unknown_variant_names_the_closest_variants():
    # over 200 names are too many for one error line: the closest few and where the list is
    with pytest.raises(ValueError, match=r"did you mean resnet_opt.*`repro variants` lists them"):
        archdiff.diff_variants("resnet_nope", "resnet_all")
    with pytest.raises(ValueError, match="paper, github, compare_gan"):
        archdiff.diff_reference("resnet_default", "arxiv")


def test_diff_against_the_references():
    paper = archdiff.diff_reference("resnet_default", "paper", width=WIDTH)
    assert paper["rows"] == []
    assert paper["conformance"]["generator_max_abs_diff"] < 1e-6  # float64 (see test_resnet_conformance)
    assert paper["conformance"]["discriminator_max_abs_diff"] < 1e-6
    github = archdiff.diff_reference("resnet_default", "github", width=WIDTH)
    assert sorted(r["kind"] for r in github["listed"]) == sorted(SINGLE.values())
    assert "conformance" not in github


UNLISTED = {"G upsampling": [("unpool", "nearest")], "G shortcut": [("conv3x3", "conv1x1")],
            "D shortcut": [("identity", "conv1x1")], "D logit bias": [("True", "False")]}


def test_resnet_all_vs_github_is_exactly_what_the_paper_did_not_list():
    result = archdiff.diff_reference("resnet_all", "github", width=WIDTH)
    assert result["listed"] == []  # all six of the paper's differences are already in resnet_all
    assert result["unlisted"] == result["rows"]
    got = {r["kind"]: [(c["a"], c["b"]) for c in r["changes"]] for r in result["unlisted"]}
    assert got == UNLISTED
    where = {r["kind"]: r["where"] for r in result["unlisted"]}
    assert where["D shortcut"] == ["D.block1"]  # SNGAN keeps a learned 1x1 conv where the block downsamples
    assert where["G upsampling"] == where["G shortcut"] == ["G.block0", "G.block1", "G.block2"]


def test_every_ablation_splits_into_its_missing_flags_and_the_unlisted_four():
    for variant, kind in SINGLE.items():
        result = archdiff.diff_reference(variant, "github", width=WIDTH, check_outputs=False)
        assert sorted(r["kind"] for r in result["listed"]) == sorted(k for k in SINGLE.values() if k != kind)
        assert sorted(r["kind"] for r in result["unlisted"]) == sorted(UNLISTED)


def test_the_sngan_code_closes_the_unlisted_differences():
    from repro.gan.presets import config_for

    cfg = config_for("resnet_all", resolution=32, width=WIDTH, resnet_code="sngan")
    assert archdiff.diff(archdiff._build(cfg), archdiff.reference_model("github", cfg)) == []


@pytest.mark.parametrize("variant,resolution", [("resnet_default", 32), ("resnet19", 16), ("resnet19", 128),
                                                ("sndcgan", 16), ("sndcgan", 64)])
def test_study_defaults_have_no_difference_from_compare_gan(variant, resolution):
    result = archdiff.diff_reference(variant, "compare_gan", resolution=resolution, width=WIDTH)
    assert result["rows"] == [] and result["params"]["package"] == result["params"]["reference"]
    c = result["conformance"]
    assert c["generator_max_abs_diff"] < 1e-6 and c["discriminator_max_abs_diff"] < 1e-6  # float64


def test_flags_show_up_against_compare_gan():
    result = archdiff.diff_reference("resnet_all", "compare_gan", width=WIDTH, check_outputs=False)
    assert sorted(r["kind"] for r in result["rows"]) == sorted(SINGLE.values())


def test_widths_compare_gan_cannot_express_are_refused():
    with pytest.raises(ValueError, match="64 x width must be an integer"):
        archdiff.diff_reference("sndcgan", "compare_gan", width=0.3)


def test_audit_report_carries_the_unlisted_section():
    diff = archdiff.diff_reference("resnet_all", "github", width=WIDTH)
    text = "\n".join(archdiff.format_markdown("resnet_all vs github transcription", diff))
    assert f"Built at 32x32x3, width {WIDTH:g}" in text  # every section says what it was built at
    listed, unlisted = text.split("#### differences the paper did not list")
    assert "#### differences the paper lists (its six flags)" in listed and "None." in listed
    assert "G upsampling" in unlisted and "unpool -> nearest" in unlisted and "D logit bias" in unlisted


def test_audit_records_a_reference_without_the_model_as_not_comparable():
    from repro.audit.run import _archdiffs

    out = _archdiffs("sndcgan_ns_bn_none", "sndcgan", 16, 1)
    assert set(out) == {"sndcgan_ns_bn_none vs sndcgan", "sndcgan_ns_bn_none vs compare_gan transcription"}
    err = out["sndcgan_ns_bn_none vs compare_gan transcription"]
    assert "no batch or layer norm" in err["error"]
    assert "Not comparable: compare_gan's sndcgan" in "\n".join(archdiff.format_markdown("x", err))
