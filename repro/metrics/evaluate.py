"""Evaluate a run directory: FID (with bootstrap interval and evaluation noise), IS and KID.

Protocol (DESIGN.md, Metrics): real statistics of the test split; as many generated samples as
test images unless ``num_samples`` says otherwise; z from the fixed evaluation seed. Results are
flat and written atomically to ``RUN_DIR/metrics.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from repro import hashing
from repro.io import write_json
from repro.metrics.cache import real_features, real_stats
from repro.metrics.extractors import get
from repro.metrics.fid import frechet_distance
from repro.metrics.inception_score import inception_score
from repro.metrics.kid import kid
from repro.metrics.stats import StreamingStats, stats_of
from repro.metrics.uncertainty import evaluation_noise, fid_bootstrap

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # Binkowski et al.; clipped to the sample size for small test splits
IS_SPLITS = 10


def default_extractor(dataset: str) -> str:
    """"auto": the digits classifier for the digits dataset, the FID Inception-v3 otherwise."""
    return "digits-cnn" if dataset == "digits" else "inception-v3-fid"


def _features(extractor, net, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from repro.gan.sampling import generate

    return extractor.extract(generate(net, n, seed=seed))


def _fid(feats: np.ndarray, real: StreamingStats) -> float:
    fake = stats_of(feats)
    return frechet_distance(fake.mean, fake.cov, real.mean, real.cov)


def evaluate_run(run_dir: str | Path, *, extractor: str = "auto", num_samples: int | None = None,
                 all_checkpoints: bool = False, eval_seed: int = 0, eval_seeds: int = 3,
                 n_boot: int = 200, extractor_weights: str | Path | None = None,
                 out: str | Path | None = None) -> dict[str, Any]:
    """Score the latest checkpoint of ``run_dir`` and write ``out`` (default ``RUN_DIR/metrics.json``).

    ``extractor_weights`` is the extractor's weights file (default: its cache / environment
    variable). ``out`` lets a pipeline keep metrics outside the run directory.

    Keys: fid, fid_ci_low, fid_ci_high (95% bootstrap over generated samples), fid_eval_std
    (std of FID over seeds eval_seed .. eval_seed + eval_seeds - 1; 0.0 when eval_seeds == 1),
    is_mean, is_std, kid_mean, kid_std, kid_subset_size, n_real, n_fake, extractor,
    extractor_sha256, checkpoint_step, eval_seed, eval_seeds, run_status (the run's status when
    scored) and generator_hash (``repro.hashing.state_hash`` of the scored generator); with
    ``all_checkpoints`` also fid_step_<N> per checkpoint, fid_min and fid_min_step (compare_gan's
    selection: reported beside the final).

    Raises:
        ValueError: for a diverged run, a run without checkpoints, or bad options.
    """
    from repro.train.rundir import checkpoint_steps, load_generator, read_run

    run_dir = Path(run_dir)
    record = read_run(run_dir)
    if record.get("status") == "diverged":
        raise ValueError(f"run {run_dir} diverged (run.json status 'diverged'): there is no model to evaluate")
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise ValueError(f"run {run_dir} has no checkpoint to evaluate")
    if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 2):
        raise ValueError(f"num_samples must be an integer >= 2 (a covariance needs 2 samples), got {num_samples!r}")
    if not isinstance(eval_seeds, int) or eval_seeds < 1:
        raise ValueError(f"eval_seeds must be an integer >= 1, got {eval_seeds!r}")

    net, cfg = load_generator(run_dir)
    name = default_extractor(cfg.dataset) if extractor == "auto" else extractor
    ext = get(name) if extractor_weights is None else get(name, weights=extractor_weights)
    real_feats, _ = real_features(ext, cfg.dataset, "test", root=cfg.data_root, recipe=cfg.recipe)
    real, real_meta = real_stats(ext, cfg.dataset, "test", root=cfg.data_root, recipe=cfg.recipe)
    n_fake = real.count if num_samples is None else num_samples

    feats, logits = _features(ext, net, n_fake, eval_seed)
    fid = _fid(feats, real)
    low, high = fid_bootstrap(feats, real, n_boot=n_boot, seed=eval_seed)
    if eval_seeds > 1:
        noise = evaluation_noise(lambda s: fid if s == eval_seed else _fid(_features(ext, net, n_fake, s)[0], real),
                                 range(eval_seed, eval_seed + eval_seeds))
        eval_std = noise["std"]
    else:
        eval_std = 0.0
    is_mean, is_std = inception_score(logits, splits=min(IS_SPLITS, n_fake), kind="logits")
    subset = min(KID_SUBSET_SIZE, len(real_feats), n_fake)
    kid_mean, kid_std = kid(real_feats, feats, num_subsets=KID_SUBSETS, subset_size=subset, seed=eval_seed)

    metrics: dict[str, Any] = {
        "fid": fid, "fid_ci_low": low, "fid_ci_high": high, "fid_eval_std": eval_std,
        "is_mean": is_mean, "is_std": is_std, "kid_mean": kid_mean, "kid_std": kid_std, "kid_subset_size": subset,
        "n_real": real.count, "n_fake": n_fake, "extractor": ext.name, "extractor_sha256": ext.weights_sha256,
        "checkpoint_step": steps[-1], "eval_seed": eval_seed, "dataset": cfg.dataset,
        "dataset_fingerprint": real_meta["dataset_fingerprint"],
        # what produced these numbers, so that a caller asking for other settings can tell (repro audit)
        "eval_seeds": eval_seeds, "run_status": record.get("status"),
        "generator_hash": hashing.state_hash({"generator": net.state_dict()}),
    }
    if all_checkpoints:
        per_step = {}
        for step in steps:
            if step == steps[-1]:
                per_step[step] = fid
            else:
                g, _ = load_generator(run_dir, step)
                per_step[step] = _fid(_features(ext, g, n_fake, eval_seed)[0], real)
            metrics[f"fid_step_{step}"] = per_step[step]
        best = min(per_step, key=lambda s: (per_step[s], s))
        metrics["fid_min"], metrics["fid_min_step"] = per_step[best], best
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {key} is not finite ({value}); refusing to write metrics.json")
    write_json(out if out is not None else run_dir / "metrics.json", metrics)
    return metrics
