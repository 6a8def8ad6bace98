"""evaluate_run on a tiny real training run; refusals; the CLI."""

import json

import numpy as np
import pytest

from repro.io import read_json, write_json
from repro.metrics.evaluate import evaluate_run

KEYS = {"fid", "fid_ci_low", "fid_ci_high", "fid_boot_std", "fid_boot_bias", "fid_eval_std", "fid_eval_values",
        "is_mean", "is_std", "kid_mean", "kid_std", "kid_subset_size", "n_real", "n_fake", "extractor",
        "extractor_sha256", "checkpoint_step", "protocol", "protocol_base", "quantize", "resize", "split",
        "eval_seed", "eval_seeds", "n_boot", "boot_level", "boot_resampled", "settings_sha256"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from repro.config import TrainConfig
    from repro.train import train

    cfg = TrainConfig(architecture="resnet", width=0.0625, batch_size=8, steps=4, checkpoint_every=2,
                      trace_every=1, device="cpu")
    out = tmp_path_factory.mktemp("run")
    record = train(cfg, out, progress=False)
    assert record["status"] == "completed"
    return out


def test_evaluate_run_writes_flat_metrics(run_dir):
    metrics = evaluate_run(run_dir, num_samples=60, all_checkpoints=True, eval_seeds=2, n_boot=20)
    assert KEYS <= set(metrics)
    assert read_json(run_dir / "metrics.json") == metrics  # what is returned is what is written
    assert metrics["extractor"] == "digits-cnn" and len(metrics["extractor_sha256"]) == 64
    assert metrics["n_fake"] == 60 and metrics["n_real"] == 355 and metrics["checkpoint_step"] == 4
    assert 0.0 <= metrics["fid_ci_low"] < metrics["fid_ci_high"]
    assert metrics["fid"] > 0 and metrics["fid_eval_std"] >= 0 and metrics["is_mean"] >= 1.0
    # per-evaluation-seed FIDs (issue 15, item 2): the first is the reported FID, the std is theirs
    values = metrics["fid_eval_values"]
    assert len(values) == metrics["eval_seeds"] == 2 and values[0] == metrics["fid"]
    assert metrics["fid_eval_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert metrics["fid_boot_std"] > 0 and metrics["boot_resampled"] == "both"
    # the settings that produced the numbers (num_samples differs from the protocol's: "custom")
    assert metrics["protocol"] == "custom" and metrics["protocol_base"] == "fid_digits_cnn_test"
    assert metrics["quantize"] == "uint8" and metrics["split"] == "test" and metrics["n_boot"] == 20
    assert metrics["kid_subset_size"] == 30 and metrics["kid_std"] > 0  # 60 samples: subsets of half
    by_step = {c["step"]: c["fid"] for c in metrics["fid_by_step"]}
    assert [c["step"] for c in metrics["fid_by_step"]] == [2, 4]  # one record per checkpoint, in order
    assert by_step[4] == metrics["fid"] and metrics["fid_by_step"][-1]["is_mean"] == metrics["is_mean"]
    assert metrics["fid_min"] == min(by_step.values()) == by_step[metrics["fid_min_step"]]
    # flat for MLflow / DVC: scalars, except the lists of per-seed FIDs and of checkpoint records
    assert all(isinstance(v, (int, float, str)) for k, v in metrics.items() if k not in ("fid_eval_values",
                                                                                         "fid_by_step"))


def test_evaluate_run_is_repeatable_and_seeded(run_dir):
    a = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10)
    b = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10)
    assert a == b  # fixed eval seed, explicit generators, cached real statistics
    c = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10, eval_seed=1)
    assert c["fid"] != a["fid"] and np.isfinite(c["fid"])
    assert a["fid_eval_std"] is None and a["fid_eval_values"] == [a["fid"]]  # one seed: no spread measured
    assert a["settings_sha256"] == b["settings_sha256"] != c["settings_sha256"]  # eval seed is a setting


def test_protocol_defaults_and_what_changes_the_name(run_dir):
    from repro.metrics.evaluate import DEFAULT_EVAL_SEEDS

    full = evaluate_run(run_dir, eval_seeds=2, n_boot=10)  # the digits protocol as defined: 355 samples
    assert full["protocol"] == full["protocol_base"] == "fid_digits_cnn_test" and full["n_fake"] == 355
    assert full["kid_subset_size"] == 177  # 355 test images: subsets of half, so that they differ
    raw = evaluate_run(run_dir, eval_seeds=2, n_boot=10, quantize=False)
    assert raw["protocol"] == "custom" and raw["quantize"] == "none" and raw["fid"] != full["fid"]
    assert raw["settings_sha256"] != full["settings_sha256"]
    assert DEFAULT_EVAL_SEEDS == 10
    with pytest.raises(ValueError, match="unknown protocol 'fid50k'.*fid_ttur_test"):
        evaluate_run(run_dir, protocol="fid50k")
    with pytest.raises(ValueError, match="protocol fid_ttur_test uses extractor inception-v3-fid, not digits-cnn"):
        evaluate_run(run_dir, protocol="fid_ttur_test", extractor="digits-cnn")


def test_generator_that_outputs_the_real_images_gets_fid_zero():
    import torch

    from repro.data import load
    from repro.metrics.evaluate import prepare
    from repro.metrics.protocols import quantize_uint8

    ev = prepare("digits", protocol="fid_digits_cnn_test")
    real = load("digits", "test").batch(np.arange(355))
    # 0 up to the rounding of the trace terms: the real statistics are streamed in batches, the
    # generated ones computed at once, so their last bits differ (measured 1e-13 of tr S)
    rounding = 1e-12 * float(np.trace(ev.real.cov))
    assert ev.fid(real) <= rounding
    # images that a PNG writer would store as the real images' 8-bit values: identical to the
    # real images under the protocol (TTUR reads PNG files, torch-fidelity takes uint8)
    jitter = (torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) - 0.5) * (0.9 / 255)
    shown = (quantize_uint8(real) + jitter).clamp(0.0, 1.0)
    assert ev.fid(shown) <= rounding
    # without quantisation (the behaviour before the fix) the same images score far above that
    # (measured 4.7e-3, 1e-5 of tr S)
    raw = prepare("digits", protocol="fid_digits_cnn_test", quantize=False)
    assert raw.fid(shown) > 1e3 * rounding


def test_refuses_diverged_and_empty_runs(run_dir, tmp_path):
    import shutil

    bad = tmp_path / "diverged"
    shutil.copytree(run_dir, bad)
    record = read_json(bad / "run.json")
    write_json(bad / "run.json", {**record, "status": "diverged"})
    with pytest.raises(ValueError, match="diverged"):
        evaluate_run(bad)
    empty = tmp_path / "empty"
    shutil.copytree(run_dir, empty)
    shutil.rmtree(empty / "checkpoints")
    with pytest.raises(ValueError, match="no checkpoint"):
        evaluate_run(empty)
    with pytest.raises(ValueError, match="num_samples"):
        evaluate_run(run_dir, num_samples=1)
    with pytest.raises(ValueError, match="no protocol uses extractor .vgg.*digits-cnn"):
        evaluate_run(run_dir, extractor="vgg", num_samples=10)


def test_cli_prints_metrics(run_dir, capsys):
    from repro.cli import main

    assert main(["evaluate", str(run_dir), "--num-samples", "30", "--eval-seeds", "1", "--n-boot", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_fake"] == 30 and printed == read_json(run_dir / "metrics.json")
    assert main(["evaluate", str(run_dir), "--eval-seeds", "1", "--n-boot", "5", "--no-quantize"]) == 0
    assert json.loads(capsys.readouterr().out)["quantize"] == "none"
    assert main(["evaluate", str(run_dir), "--protocol", "nope"]) == 2
    assert main(["evaluate", str(run_dir / "nope")]) == 2


def test_real_statistics_cache_records_its_key(run_dir):
    from repro.metrics.cache import real_features, real_stats
    from repro.metrics.extractors import get
    from repro.metrics.stats import StreamingStats
    from repro.paths import cache_dir

    ext = get("digits-cnn")
    stats, meta = real_stats(ext, "digits", "test")
    feats, _ = real_features(ext, "digits", "test")
    # the streamed statistics equal the batch statistics of the same features (float64 rounding)
    np.testing.assert_allclose(stats.cov, np.cov(feats, rowvar=False), rtol=0, atol=1e-12 * np.abs(stats.cov).max())
    files = sorted((cache_dir() / "stats").glob("digits-test-digits-cnn-*.npz"))
    assert files, "real statistics were not cached"
    loaded, saved = StreamingStats.load(files[0])
    for key in ("extractor", "extractor_sha256", "dataset", "split", "recipe", "dataset_fingerprint", "n"):
        assert saved[key] == meta[key]
    assert saved["extractor_sha256"] == ext.weights_sha256 and saved["n"] == loaded.count == 355
