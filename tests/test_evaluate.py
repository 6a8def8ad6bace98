"""evaluate_run on a tiny real training run; refusals; the CLI."""

import json

import numpy as np
import pytest

from repro.io import read_json, write_json
from repro.metrics.evaluate import evaluate_run

KEYS = {"fid", "fid_ci_low", "fid_ci_high", "fid_eval_std", "is_mean", "is_std", "kid_mean", "kid_std",
        "n_real", "n_fake", "extractor", "extractor_sha256", "checkpoint_step"}


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
    assert metrics["fid_step_4"] == metrics["fid"]
    assert metrics["fid_min"] == min(metrics["fid_step_2"], metrics["fid_step_4"])
    assert metrics[f"fid_step_{metrics['fid_min_step']}"] == metrics["fid_min"]
    assert all(isinstance(v, (int, float, str)) for v in metrics.values())  # flat for MLflow / DVC


def test_evaluate_run_is_repeatable_and_seeded(run_dir):
    a = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10)
    b = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10)
    assert a == b  # fixed eval seed, explicit generators, cached real statistics
    c = evaluate_run(run_dir, num_samples=40, eval_seeds=1, n_boot=10, eval_seed=1)
    assert c["fid"] != a["fid"] and np.isfinite(c["fid"])
    assert a["fid_eval_std"] == 0.0


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
    with pytest.raises(ValueError, match="unknown extractor"):
        evaluate_run(run_dir, extractor="vgg", num_samples=10)


def test_cli_prints_metrics(run_dir, capsys):
    from repro.cli import main

    assert main(["evaluate", str(run_dir), "--num-samples", "30", "--eval-seeds", "1", "--n-boot", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_fake"] == 30 and printed == read_json(run_dir / "metrics.json")
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
