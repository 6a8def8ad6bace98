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


def test_archdiff_cli(capsys):
    out = _json(capsys, ["archdiff", "resnet_default", "resnet_all", "--width", "0.0625", "--json"])
    assert len(out["rows"]) == 6
    assert main(["archdiff", "resnet_default", "resnet_opt", "--width", "0.0625"]) == 0
    assert "block form" in capsys.readouterr().out
    ref = _json(capsys, ["archdiff", "paper", "resnet_all", "--width", "0.0625", "--json"])
    assert len(ref["rows"]) == 6 and ref["a"] == "paper"


@pytest.mark.parametrize("argv,message", [
    (["arch", "resnet_nope"], "unknown variant"),
    (["arch", "resnet19", "--resolution", "100"], "supported: 16, 32, 64, 128"),
    (["arch", "resnet19", "--channels", "2"], "channels"),
    (["archdiff", "resnet_default", "nope"], "unknown variant"),
    (["archdiff", "paper", "resnet_all", "--resolution", "64"], "32x32"),
    (["variants", "--filter", "zzz"], "no variant"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
