"""Architecture diff: counts per ResNet flag, read from the modules (not from a list)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repro import archdiff
from repro.gan import architectures
from repro.gan.presets import config_for

WIDTH = 0.0625
SINGLE = {"resnet_skip": "shortcut", "resnet_cin": "hidden channels", "resnet_opt": "block form",
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
    assert rows["shortcut"]["where"] == ["D.block1", "D.block2", "D.block3"]
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
    assert len(rows) == 1 and rows[0]["kind"] == "shortcut" and rows[0]["where"] == ["D.block2"]
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
    # 171 names are too many for one error line: the closest few and where the list is
    with pytest.raises(ValueError, match=r"did you mean resnet_opt.*`repro variants` lists them"):
        archdiff.diff_variants("resnet_nope", "resnet_all")
    with pytest.raises(ValueError, match="paper, github"):
        archdiff.diff_reference("resnet_default", "arxiv")


def test_diff_against_the_references():
    paper = archdiff.diff_reference("resnet_default", "paper", width=WIDTH)
    assert paper["rows"] == []
    assert paper["conformance"]["generator_max_abs_diff"] < 1e-6  # float64 (see test_resnet_conformance)
    assert paper["conformance"]["discriminator_max_abs_diff"] < 1e-6
    github = archdiff.diff_reference("resnet_default", "github", width=WIDTH)
    assert sorted(r["kind"] for r in github["rows"]) == sorted(SINGLE.values())
    assert "conformance" not in github
