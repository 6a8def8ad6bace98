"""Table 1 of the study as 24 named settings (repro.hparams), and --hparams on the command line."""

from __future__ import annotations

import itertools

import pytest

from repro import hparams
from repro.cli import build_parser
from repro.cli._common import config_from_args
from repro.config import TrainConfig, from_dict, to_dict
from repro.gan import presets


def test_table1_is_the_papers_24_settings():
    # Kurach et al. 2019, Table 1 (docs/design.md, "Hyperparameters"): lr x lambda x (beta1, beta2, n_dis).
    expected = set(itertools.product((2e-4, 1e-4, 1e-3), (1.0, 10.0),
                                     ((0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5))))
    got = {(r["lr"], r["penalty_weight"], (r["beta1"], r["beta2"], r["n_dis"]))
           for r in (hparams.TABLE1.get(n) for n in hparams.TABLE1)}
    assert len(hparams.TABLE1) == 24 and got == expected
    assert len(set(hparams.names())) == 24
    assert hparams.names()[0] == "lr2e-4_lam1_b0.5-0.9_ndis5"


def test_table1_rows_cannot_be_changed_or_duplicated():
    row = hparams.TABLE1.get("lr1e-3_lam10_b0.9-0.999_ndis5")
    with pytest.raises(TypeError):
        row["lr"] = 1.0
    with pytest.raises(ValueError, match="duplicate"):
        hparams.TABLE1.register("lr1e-3_lam10_b0.9-0.999_ndis5", {})


@pytest.mark.parametrize("name", hparams.names())
def test_apply_sets_the_fields_and_records_the_name(name):
    cfg = hparams.apply(presets.config_for("sndcgan"), name)
    assert cfg.hparams == name and hparams.match(cfg) == name
    assert {k: getattr(cfg, k) for k in hparams.FIELDS} == dict(hparams.TABLE1.get(name))
    assert cfg.architecture == "sndcgan"  # the variant is untouched
    assert from_dict(to_dict(cfg)) == cfg  # recorded in config.json, round trip


def test_a_recorded_name_must_match_its_fields():
    cfg = hparams.apply(TrainConfig(), "lr1e-4_lam10_b0.5-0.9_ndis5")
    with pytest.raises(ValueError, match="invalid hparams.*n_dis=1"):
        cfg.replace(n_dis=1)
    assert cfg.replace(n_dis=1, hparams="").n_dis == 1  # cleared: set one by one
    with pytest.raises(ValueError, match="unknown Table 1 hyperparameter setting 'best'"):
        TrainConfig(hparams="best")


def test_resnet_default_is_compare_gans_resnet_cifar_recipe():
    # example_configs/resnet_cifar10.gin: disc_iters 5, g_lr 0.0002, Adam beta1 0.5, beta2 0.999, lamba 1
    cfg = presets.config_for("resnet_default")
    assert (cfg.n_dis, cfg.lr, cfg.beta1, cfg.beta2, cfg.penalty_weight) == (5, 2e-4, 0.5, 0.999, 1.0)
    assert hparams.match(cfg) == presets.RESNET_CIFAR_RECIPE == "lr2e-4_lam1_b0.5-0.999_ndis5"
    for flag_variant in ("resnet_all", "resnet_skip", "resnet_cin_opt"):  # the ablation compares like with like
        assert hparams.match(presets.config_for(flag_variant)) == presets.RESNET_CIFAR_RECIPE
    assert presets.config_for("resnet_ns_sn_none").n_dis == 1  # grid rows leave hyperparameters to --hparams


@pytest.mark.parametrize("command", ["train", "audit"])
def test_hparams_option_expands_before_set(command):
    extra = ["--out", "x"] if command == "train" else []
    args = build_parser().parse_args([command, "--variant", "resnet19_hinge_sn_gp", "--hparams",
                                      "lr1e-3_lam10_b0.9-0.999_ndis5", "--set", "seed=3", *extra])
    cfg = config_from_args(args)
    assert (cfg.lr, cfg.penalty_weight, cfg.beta1, cfg.n_dis, cfg.seed) == (1e-3, 10.0, 0.9, 5, 3)
    assert cfg.hparams == "lr1e-3_lam10_b0.9-0.999_ndis5" and cfg.loss == "hinge"
