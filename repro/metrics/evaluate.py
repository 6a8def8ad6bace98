"""Evaluate a run directory under a named protocol: FID (bootstrap interval, evaluation-seed
values), IS and KID, with the settings that produced them.

Protocol (``repro.metrics.protocols``; docs/metrics.md, "Protocols"): real statistics of the test split;
as many generated samples as test images unless ``num_samples`` says otherwise; both image sets
rounded to 8-bit levels; z from the fixed evaluation seed. Results are flat (one list: the
per-seed FIDs) and written atomically to ``RUN_DIR/metrics.json``.

Evaluation seeds (DEFAULT_EVAL_SEEDS = 10): the FID is computed again with the generated samples
drawn from seeds eval_seed .. eval_seed + k - 1, and every value is stored (``fid_eval_values``)
so that a nested model can use them. Why 10: the relative standard error of a standard deviation
estimated from k values is about 1 / sqrt(2 (k - 1)) (normal data): +-71% with 2 seeds, +-50%
with 3 (the former default), +-24% with 10, +-16% with 20. 10 seeds cost 10 generations and
feature passes of the final checkpoint; the bootstrap standard deviation (``fid_boot_std``) is a
second, independent estimate of the sampling noise from the same samples.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro import hashing
from repro.errors import InputError
from repro.gan.sampling import generate
from repro.io import write_json
from repro.metrics.cache import real_features, real_stats
from repro.metrics.extractors import get
from repro.metrics.extractors.base import Extractor
from repro.metrics.fid import frechet_distance
from repro.metrics.inception_score import inception_score
from repro.metrics.kid import fit_subset_size, kid
from repro.metrics.protocols import DEFAULT_EVAL_SEEDS, N_BOOT, Protocol, get_protocol, protocol_for, quantize_uint8
from repro.metrics.stats import StreamingStats, stats_of
from repro.metrics.uncertainty import fid_bootstrap_summary
from repro.rundir import checkpoint_steps, load_generator, read_run

__all__ = ["DEFAULT_EVAL_SEEDS", "N_BOOT", "SETTINGS_KEYS", "Evaluator", "evaluate_run", "prepare", "settings_sha256"]

METRICS_SCHEMA = 3  # 3: per-checkpoint scores as a list (fid_by_step); 2: protocol, settings, basic bootstrap, per-seed FIDs
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # Binkowski et al.; half the smaller set when the sets are not larger
IS_SPLITS = 10
BOOT_LEVEL = 0.95
# DEFAULT_EVAL_SEEDS (10, see the module docstring) and N_BOOT (200) live in repro.metrics.protocols,
# which the CLI can import without torch.

# The keys of metrics.json that describe how the numbers were made (hashed into settings_sha256):
# a consumer compares them, or the hash, to tell stale metrics from current ones.
SETTINGS_KEYS = ("metrics_schema", "protocol", "protocol_base", "extractor", "extractor_sha256", "resize",
                 "quantize", "dataset", "recipe", "split", "dataset_fingerprint", "n_real", "n_fake", "eval_seed",
                 "eval_seeds", "n_boot", "boot_level", "boot_resampled", "is_splits", "kid_subsets",
                 "kid_subset_size")


def default_extractor(dataset: str) -> str:
    """"auto": the digits classifier for the digits dataset, the FID Inception-v3 otherwise."""
    return get_protocol(protocol_for(dataset)).extractor


def settings_sha256(metrics: dict[str, Any]) -> str:
    """sha256 of the SETTINGS_KEYS entries of ``metrics`` (canonical JSON)."""
    settings = {k: metrics.get(k) for k in SETTINGS_KEYS}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


@dataclass
class Evaluator:
    """A protocol bound to its extractor and the real split's features (what scoring needs)."""

    protocol: Protocol
    extractor: Extractor
    quantize: str  # "uint8" or "none": applied to every image set scored here
    real_feats: np.ndarray  # (N_real, d)
    real: StreamingStats
    real_meta: dict[str, Any]

    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W) in [0, 1] -> (features (N, d), logits (N, C)), encoded as the protocol says."""
        return self.extractor.extract(quantize_uint8(images) if self.quantize == "uint8" else images)

    def fid_of_features(self, feats: np.ndarray) -> float:
        fake = stats_of(feats)
        return frechet_distance(fake.mean, fake.cov, self.real.mean, self.real.cov)

    def fid(self, images: torch.Tensor) -> float:
        """FID of ``images`` against the real split under this protocol."""
        return self.fid_of_features(self.features(images)[0])


def _quantize_mode(protocol: Protocol, quantize: bool | None) -> str:
    if quantize is None:
        return protocol.quantize
    if not isinstance(quantize, bool):
        raise InputError(f"quantize must be True, False or None (the protocol's choice), got {quantize!r}")
    return "uint8" if quantize else "none"


def prepare(dataset: str, *, protocol: str = "auto", extractor: str = "auto", extractor_weights=None,
            quantize: bool | None = None, root: str = "", recipe: str = "") -> Evaluator:
    """Resolve the protocol, build its extractor and load (or compute and cache) the real features.

    ``protocol`` "auto" picks by ``extractor``, else by ``dataset``; a named protocol with a
    different named extractor is an error. ``quantize`` None follows the protocol; False skips
    the 8-bit rounding (the result is then not the protocol's).
    """
    if protocol == "auto":
        proto = get_protocol(protocol_for(dataset, extractor))
    else:
        proto = get_protocol(protocol)
        if extractor not in ("auto", proto.extractor):
            raise InputError(f"protocol {proto.name} uses extractor {proto.extractor}, not {extractor}; "
                             f"leave the extractor out or pick the protocol that uses it")
    mode = _quantize_mode(proto, quantize)
    ext = get(proto.extractor) if extractor_weights is None else get(proto.extractor, weights=extractor_weights)
    feats, _ = real_features(ext, dataset, proto.split, root=root, recipe=recipe, quantize=mode)
    real, meta = real_stats(ext, dataset, proto.split, root=root, recipe=recipe, quantize=mode)
    return Evaluator(proto, ext, mode, feats, real, meta)


def _generated(ev: Evaluator, net, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return ev.features(generate(net, n, seed=seed))


def evaluate_run(run_dir: str | Path, *, protocol: str = "auto", extractor: str = "auto",
                 num_samples: int | None = None, quantize: bool | None = None, all_checkpoints: bool = False,
                 eval_seed: int = 0, eval_seeds: int = DEFAULT_EVAL_SEEDS, n_boot: int = N_BOOT,
                 extractor_weights: str | Path | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Score the latest checkpoint of ``run_dir`` and write ``out`` (default ``RUN_DIR/metrics.json``).

    ``protocol``: a name from ``repro.metrics.protocols`` or "auto" (by ``extractor``, else by the
    run's dataset). ``num_samples`` (default: the real split's size) and ``quantize`` (default: the
    protocol's) may depart from the protocol; ``protocol`` is then recorded as "custom", and
    ``protocol_base`` names the one departed from. ``extractor_weights`` is the extractor's weights
    file (default: its cache / environment variable). ``out`` lets a pipeline keep metrics outside
    the run directory.

    Keys (FID values in squared feature units):
        fid: FID_N of the eval_seed samples; fid_ci_low, fid_ci_high: 95% basic bootstrap interval
        of the population FID (generated and real features resampled; repro.metrics.uncertainty);
        fid_boot_std: the bootstrap standard deviation; fid_boot_bias: the bootstrap estimate of
        FID_N's upward bias; fid_eval_values: FID for seeds eval_seed .. eval_seed + eval_seeds - 1
        (the first is ``fid``); fid_eval_std: their std (ddof=1), None with one seed;
        is_mean, is_std (over every sample, IS_SPLITS parts); kid_mean, kid_std, kid_subset_size,
        kid_subsets; the settings in SETTINGS_KEYS and their hash settings_sha256; checkpoint_step;
        run_status (the run's status when scored) and generator_hash (``repro.hashing.state_hash``
        of the scored generator, equal to the combined ``generator.*`` hashes of its checkpoint);
        with ``all_checkpoints`` also ``fid_by_step`` (``[{"step", "fid", "is_mean"}]``, one record
        per checkpoint, evaluation seed 0), fid_min and fid_min_step (compare_gan's selection:
        reported beside the final).

    Raises:
        ValueError: for a diverged run, a run without checkpoints, or bad options.
    """
    run_dir = Path(run_dir)
    record = read_run(run_dir)
    if record.get("status") == "diverged":
        raise InputError(f"run {run_dir} diverged (run.json status 'diverged'): there is no model to evaluate")
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise InputError(f"run {run_dir} has no checkpoint to evaluate")
    if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 2):
        raise InputError(f"num_samples must be an integer >= 2 (a covariance needs 2 samples), got {num_samples!r}")
    if not isinstance(eval_seeds, int) or eval_seeds < 1:
        raise InputError(f"eval_seeds must be an integer >= 1, got {eval_seeds!r}")

    net, cfg = load_generator(run_dir)
    ev = prepare(cfg.dataset, protocol=protocol, extractor=extractor, extractor_weights=extractor_weights,
                 quantize=quantize, root=cfg.data_root, recipe=cfg.recipe)
    n_real = ev.real.count
    n_fake = n_real if num_samples is None else num_samples
    exact = ev.quantize == ev.protocol.quantize and n_fake == (ev.protocol.num_samples or n_real)

    feats, logits = _generated(ev, net, n_fake, eval_seed)
    fid = ev.fid_of_features(feats)
    boot = fid_bootstrap_summary(feats, ev.real_feats, n_boot=n_boot, seed=eval_seed, level=BOOT_LEVEL)
    values = [fid] + [ev.fid_of_features(_generated(ev, net, n_fake, s)[0])
                             for s in range(eval_seed + 1, eval_seed + eval_seeds)]
    is_mean, is_std = inception_score(logits, splits=min(IS_SPLITS, n_fake), kind="logits")
    subset = fit_subset_size(len(ev.real_feats), n_fake, KID_SUBSET_SIZE)
    kid_mean, kid_std = kid(ev.real_feats, feats, num_subsets=KID_SUBSETS, subset_size=subset, seed=eval_seed)

    metrics: dict[str, Any] = {
        "fid": fid, "fid_ci_low": boot.low, "fid_ci_high": boot.high, "fid_boot_std": boot.std,
        "fid_boot_bias": boot.bias, "fid_eval_values": values,
        "fid_eval_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "is_mean": is_mean, "is_std": is_std, "kid_mean": kid_mean, "kid_std": kid_std,
        "metrics_schema": METRICS_SCHEMA, "protocol": ev.protocol.name if exact else "custom",
        "protocol_base": ev.protocol.name, "extractor": ev.extractor.name,
        "extractor_sha256": ev.extractor.weights_sha256, "resize": ev.protocol.resize, "quantize": ev.quantize,
        "dataset": cfg.dataset, "recipe": ev.real_meta["recipe"], "split": ev.protocol.split,
        "dataset_fingerprint": ev.real_meta["dataset_fingerprint"], "n_real": n_real, "n_fake": n_fake,
        "eval_seed": eval_seed, "eval_seeds": eval_seeds, "n_boot": n_boot, "boot_level": BOOT_LEVEL,
        "boot_resampled": boot.resampled, "is_splits": min(IS_SPLITS, n_fake), "kid_subsets": KID_SUBSETS,
        "kid_subset_size": subset, "checkpoint_step": steps[-1],
        # which run state was scored, so that a reader can tell these numbers from a retrained run's
        "run_status": record.get("status"), "generator_hash": hashing.state_hash({"generator": net.state_dict()}),
    }
    metrics["settings_sha256"] = settings_sha256(metrics)
    if all_checkpoints:
        scores = []
        for step in steps:
            if step == steps[-1]:
                scores.append({"step": step, "fid": fid, "is_mean": is_mean})
                continue
            g, _ = load_generator(run_dir, step)
            step_feats, step_logits = _generated(ev, g, n_fake, eval_seed)
            scores.append({"step": step, "fid": ev.fid_of_features(step_feats),
                           "is_mean": inception_score(step_logits, splits=min(IS_SPLITS, n_fake), kind="logits")[0]})
        metrics["fid_by_step"] = scores
        best = min(scores, key=lambda s: (s["fid"], s["step"]))
        metrics["fid_min"], metrics["fid_min_step"] = best["fid"], best["step"]
    for key, value in metrics.items():
        for v in value if isinstance(value, list) else [value]:
            for x in v.values() if isinstance(v, dict) else [v]:
                if isinstance(x, float) and not math.isfinite(x):
                    raise InputError(f"metric {key} is not finite ({x}); refusing to write metrics.json")
    write_json(out if out is not None else run_dir / "metrics.json", metrics)
    return metrics
