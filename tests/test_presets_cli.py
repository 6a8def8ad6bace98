"""`repro variants`, `repro arch` and `repro archdiff` through repro.cli.main."""

from __future__ import annotations

import json

import pytest

from repro.cli import main
from repro.gan import presets

# Transcribed from the seed (seeds/000_*.txt, "ResNet19 generator / discriminator"):
# LAYER, KERNEL, RS, OUTPUT.
SEED_G = """
z | - | - | 128
Linear | - | - | 4x4x512
ResBlock | [3, 3, 1] | U | 8x8x512
ResBlock | [3, 3, 1] | U | 16x16x256
ResBlock | [3, 3, 1] | U | 32x32x256
ResBlock | [3, 3, 1] | U | 64x64x128
ResBlock | [3, 3, 1] | U | 128x128x64
BN, ReLU | - | - | 128x128x64
Conv | [3, 3, 1] | - | 128x128x3
Sigmoid | - | - | 128x128x3
"""
SEED_D = """
ResBlock | [3, 3, 1] | D | 64x64x64
ResBlock | [3, 3, 1] | D | 32x32x128
ResBlock | [3, 3, 1] | D | 16x16x256
ResBlock | [3, 3, 1] | D | 8x8x256
ResBlock | [3, 3, 1] | D | 4x4x512
ResBlock | [3, 3, 1] | D | 2x2x512
ReLU, MP | - | - | 512
Linear | - | - | 1
"""


def _parse(table: str):
    return [tuple(c.strip() for c in line.split("|")) for line in table.strip().splitlines()]


def _row(r):
    kernel = "-" if r["kernel"] is None else "[" + ", ".join(map(str, r["kernel"])) + "]"
    return (r["layer"], kernel, r["resample"], "x".join(map(str, r["output"])))


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_arch_resnet19_128_reproduces_the_seed_tables(capsys):
    out = _json(capsys, ["arch", "resnet19", "--resolution", "128", "--json"])
    assert [_row(r) for r in out["generator"]["rows"]] == _parse(SEED_G)
    assert [_row(r) for r in out["discriminator"]["rows"]] == _parse(SEED_D)
    for net in ("generator", "discriminator"):
        assert out[net]["params"] == sum(r["params"] for r in out[net]["rows"]) > 0
    # compare_gan's resnet5 at its widths (issue 10; tests/test_compare_gan_conformance.py checks the source)
    assert (out["generator"]["params"], out["discriminator"]["params"]) == (13_786_115, 15_086_529)


@pytest.mark.parametrize("variant,g_params,d_params", [("resnet_default", 5_849_603, 1_483_137),
                                                       ("sndcgan", 3_828_739, 5_860_865)])
def test_arch_prints_compare_gans_parameter_counts(capsys, variant, g_params, d_params):
    assert main(["arch", variant, "--resolution", "32"]) == 0  # width 1 (the paper's) by default
    text = capsys.readouterr().out
    assert f"total parameters: {g_params:,}" in text and f"total parameters: {d_params:,}" in text


def test_arch_text_table(capsys):
    assert main(["arch", "resnet_all", "--resolution", "16", "--width", "0.1", "--channels", "1"]) == 0
    text = capsys.readouterr().out
    assert "ResBlock" in text and "Tanh" in text and "ReLU, SP" in text and "total parameters" in text


def test_variants_table_and_json(capsys):
    rows = _json(capsys, ["variants", "--json"])
    assert [r["variant"] for r in rows] == list(presets.names())
    assert main(["variants", "--filter", "resnet_"]) == 0
    text = capsys.readouterr().out
    for name in ("resnet_default", "resnet_cin_opt", "resnet_all"):
        assert name in text
    assert "sndcgan" not in text
    filtered = _json(capsys, ["variants", "--json", "--filter", "cin"])
    assert {r["variant"] for r in filtered} == {"resnet_cin", "resnet_cin_opt"}


def test_variants_mark_what_lies_beyond_the_study(capsys):
    rows = {r["variant"]: r for r in _json(capsys, ["variants", "--json"])}
    beyond = {n for n, r in rows.items() if r["study"] != "yes"}
    assert beyond == {f"sndcgan_{loss}_{norm}_{pen}" for loss in presets.GRID_LOSSES for norm in ("bn", "ln")
                      for pen in presets.GRID_PENALTIES}
    assert "sndcgan.py" in rows["sndcgan_ns_bn_none"]["study"]
    assert rows["resnet_default"]["table1"] == "lr2e-4_lam1_b0.5-0.999_ndis5"  # compare_gan's ResNet CIFAR recipe
    assert main(["variants", "--filter", "sndcgan_ns_ln"]) == 0
    text = capsys.readouterr().out
    assert "no [1]" in text and "[1] beyond the study: compare_gan's SNDCGAN discriminator" in text


def test_archdiff_cli(capsys):
    out = _json(capsys, ["archdiff", "resnet_default", "resnet_all", "--width", "0.0625", "--json"])
    assert len(out["rows"]) == 6
    assert main(["archdiff", "resnet_default", "resnet_opt", "--width", "0.0625"]) == 0
    assert "block form" in capsys.readouterr().out
    ref = _json(capsys, ["archdiff", "paper", "resnet_all", "--width", "0.0625", "--json"])
    assert ref["rows"] == [] and ref["a"] == "paper"  # the paper transcription takes the variant's flags
    ref = _json(capsys, ["archdiff", "compare_gan", "resnet_all", "--width", "0.0625", "--json"])
    assert len(ref["rows"]) == 6 and ref["a"] == "compare_gan"
    assert ref["rows"][0]["changes"][0]["a"] != ref["rows"][0]["changes"][0]["b"]


def test_archdiff_cli_github_names_the_unlisted_differences(capsys):
    assert main(["archdiff", "resnet_all", "github", "--width", "0.0625"]) == 0
    text = capsys.readouterr().out
    listed, unlisted = text.split("differences the paper did not list:")
    assert "no structural differences" in listed
    assert "G upsampling" in unlisted and "unpool -> nearest" in unlisted and "G shortcut" in unlisted
    back = _json(capsys, ["archdiff", "github", "resnet_all", "--width", "0.0625", "--json"])
    assert {c["a"] for r in back["unlisted"] for c in r["changes"] if r["kind"] == "G upsampling"} == {"nearest"}


@pytest.mark.parametrize("variant,resolution", [("resnet_default", 32), ("resnet19", 32), ("sndcgan", 16)])
def test_archdiff_cli_no_difference_from_compare_gan(capsys, variant, resolution):
    assert main(["archdiff", variant, "compare_gan", "--resolution", str(resolution), "--width", "0.0625"]) == 0
    text = capsys.readouterr().out
    assert f"no structural differences between {variant} and compare_gan" in text
    assert "outputs with transplanted weights" in text


@pytest.mark.parametrize("argv,message", [
    (["arch", "resnet_nope"], "unknown variant"),
    (["arch", "resnet19", "--resolution", "100"], "supported: 16, 32, 64, 128"),
    (["arch", "resnet19", "--channels", "2"], "channels"),
    (["archdiff", "resnet_default", "nope"], "unknown variant"),
    (["archdiff", "paper", "resnet_all", "--resolution", "64"], "32x32"),
    (["archdiff", "resnet_default", "compare_gan", "--resolution", "64"], "resnet_cifar.py"),
    (["archdiff", "sndcgan_ns_bn_none", "compare_gan"], "no batch or layer norm"),
    (["archdiff", "sndcgan", "github"], "ResNet CIFAR"),
    (["train", "--hparams", "lr9", "--out", "/nonexistent/x"], "unknown Table 1 hyperparameter setting 'lr9'"),
    (["train", "--hparams", "lr1e-3_lam10_b0.9-0.999_ndis5", "--set", "lr=0.5", "--out", "/nonexistent/x"],
     "invalid hparams"),
    (["train", "--set", "d_batch=both", "--out", "/nonexistent/x"], "valid choices: concat, split"),
    (["variants", "--filter", "zzz"], "no variant"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
