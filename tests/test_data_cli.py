"""``repro data check`` and ``repro data list``."""

from __future__ import annotations

import json

import pytest
from data_fixtures import fake_cifar, write_cifar_binary

import repro.data as data
from repro.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REPRO_CIFAR10_ROOT", raising=False)


def test_data_check_digits(capsys):
    assert main(["data", "check", "digits"]) == 0
    out = json.loads(capsys.readouterr().out)
    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert out["name"] == "digits" and out["recipe"] == "bilinear16" and out["shape"] == [1, 16, 16]
    assert (out["n_train"], out["n_test"]) == (len(train), len(test))
    assert out["fingerprint_train"] == train.fingerprint() and out["fingerprint_test"] == test.fingerprint()
    assert out["min"] == min(train.value_range()[0], test.value_range()[0])
    assert out["max"] == max(train.value_range()[1], test.value_range()[1])


def test_data_check_cifar_root_and_recipe(tmp_path, capsys):
    write_cifar_binary(tmp_path, fake_cifar(n_per_batch=2))
    assert main(["data", "check", "cifar10", "--root", str(tmp_path), "--recipe", "div255"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n_train"], out["n_test"], out["format"], out["shape"]) == (10, 2, "binary", [3, 32, 32])
    assert out["expected_n_train"] == 50000 and out["expected_n_test"] == 10000


def test_data_check_errors_are_one_line(capsys):
    assert main(["data", "check", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro: error: cifar10: no dataset root given") and "REPRO_CIFAR10_ROOT" in err
    assert main(["data", "check", "imagenet"]) == 2
    assert "valid dataset names" in capsys.readouterr().err


def test_data_list(capsys):
    assert main(["data", "list"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == sorted(data.REGISTRY.names())
    assert out["lsun_bedroom"]["recipes"] == ["compare_gan", "center_crop_resize"]
    assert out["cifar10"]["env_var"] == "REPRO_CIFAR10_ROOT"
