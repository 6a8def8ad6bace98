"""The one config: defaults, unknown keys, invalid values named by field, presets as data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.config import FIELD_NAMES, TrainConfig, diff, from_dict, parse_overrides, to_dict
from repro.gan import presets


@pytest.mark.parametrize("field,value,message", [
    ("lr", 0.0, "invalid lr=0.0: must be a finite number > 0"),
    ("lr", -1e-4, "invalid lr=-0.0001"),
    ("n_dis", 0, "invalid n_dis=0: must be an integer >= 1"),
    ("beta1", 1.5, "invalid beta1=1.5: must lie in \\[0, 1\\]"),
    ("beta2", -0.1, "invalid beta2=-0.1"),
    ("penalty_weight", -1.0, "invalid penalty_weight=-1.0: must be a finite number >= 0"),
    ("batch_size", 0, "invalid batch_size=0"),
    ("width", 0.0, "invalid width=0.0"),
    ("device", "tpu", "invalid device='tpu'"),
])
def test_invalid_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field,value,valid", [
    ("loss", "bce", "mm, ns, wgan, ls, hinge"),
    ("penalty", "r1", "none, gp, dragan, l2"),
    ("d_norm", "in", "none, bn, ln, sn"),
    ("architecture", "stylegan", "sndcgan"),
    ("mode", "fast", "deterministic, nondeterministic"),
])
def test_unknown_names_list_the_valid_ones(field, value, valid):
    with pytest.raises(ValueError, match=valid):
        TrainConfig(**{field: value})


def test_unsupported_resolution_names_supported_ones():
    with pytest.raises(ValueError, match="16, 32, 64, 128"):
        TrainConfig(resolution=48)


def test_flags_only_for_resnets_and_only_known():
    with pytest.raises(ValueError, match="valid choices: skip, cin, opt, sum, tan, eps"):
        TrainConfig(flags=("wide",))
    with pytest.raises(ValueError, match="apply to resnet and resnet19"):
        TrainConfig(architecture="sndcgan", flags=("tan",))


def test_unknown_keys_are_errors_not_dropped():
    with pytest.raises(ValueError, match="unknown config key\\(s\\) learning_rate; valid keys: architecture"):
        from_dict({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        parse_overrides(["lrr=1"])


def test_overrides_are_typed_by_the_field():
    assert parse_overrides(["lr=0.001", "n_dis=5", "flags=skip,tan", "loss=hinge"]) == {
        "lr": 0.001, "n_dis": 5, "flags": ("skip", "tan"), "loss": "hinge"}
    with pytest.raises(ValueError, match="expected an integer"):
        parse_overrides(["n_dis=five"])


@given(st.sampled_from(presets.names()))
def test_every_preset_builds_a_valid_config_and_round_trips(name):
    cfg = presets.config_for(name)
    assert from_dict(to_dict(cfg)) == cfg
    assert not diff(cfg, cfg)


def test_presets_table_has_the_study_variants():
    names = set(presets.names())
    assert {"resnet_default", "resnet_skip", "resnet_cin", "resnet_opt", "resnet_cin_opt", "resnet_sum",
            "resnet_tan", "resnet_eps", "resnet_all", "sndcgan", "resnet19"} <= names
    assert len([n for n in names if n.startswith("sndcgan_")]) == 5 * 4 * 4
    assert presets.config_for("resnet_all").flags == ("skip", "cin", "opt", "sum", "tan", "eps")
    assert presets.config_for("resnet_default").flags == ()


def test_diff_names_fields():
    a, b = TrainConfig(), TrainConfig(lr=1e-3, n_dis=5)
    assert diff(a, b) == {"lr": (2e-4, 1e-3), "n_dis": (1, 5)}
    assert set(FIELD_NAMES) >= {"lr", "n_dis", "mode", "seed"}
