"""What an audit may reuse: runs whose config matches, metrics made with the settings asked for,
and the interleaved cost measurement of an unchanged config in an unchanged environment."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from repro import fingerprint, hashing, io, rundir
from repro.audit import cost as cost_mod
from repro.audit import schema
from repro.audit.plan import RunSpec
from repro.audit.schema import Interleaved, from_dict
from repro.audit.spec import Evaluation
from repro.config import TrainConfig, diff, to_dict
from repro.errors import InputError
from repro.metrics.evaluate import METRICS_SCHEMA, default_extractor
from repro.metrics.extractors import get
from repro.metrics.extractors.base import sha256_file

log = logging.getLogger(__name__)


def run_action(spec: RunSpec, run_dir: Path, cfg: TrainConfig, force: bool) -> tuple[str, str]:
    """What the audit does with one run: ``(action, what to log)``; action is reuse, resume,
    train or retrain. A run trained with another config, or a finished run whose trace is damaged
    (:class:`repro.rundir.DamagedTrace`, naming the file and line), is an error unless ``force``,
    which retrains it."""
    if not (run_dir / rundir.CONFIG).exists() or not rundir.is_run_dir(run_dir):
        return "train", "training"  # train() refuses a folder that is not a run directory
    differing = diff(rundir.read_config(run_dir), cfg)
    if differing:
        fields = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in differing.items())
        if not force:
            raise InputError(f"run {spec.id} in {run_dir} was trained with another config ({fields}); "
                             "pass --force to retrain the runs whose config differs")
        return "retrain", f"retraining: its config differs ({fields})"
    try:
        record = rundir.read_run(run_dir)
    except ValueError:
        record = {}
    if record.get("status") in ("completed", "diverged"):
        try:
            rundir.check_trace(run_dir)  # a finished run's damaged trace line would drop steps from the comparison
        except rundir.DamagedTrace as err:
            if not force:
                raise
            return "retrain", f"retraining: {err.path} line {err.line} is damaged"
        return "reuse", f"reusing ({record['status']})"
    steps = rundir.checkpoint_steps(run_dir)
    return "resume", f"resuming from step {steps[-1]}" if steps else "training (no checkpoint to resume from)"


def interleaved_cost(previous_report: Path, variant: str, cfg: TrainConfig, pairs: int, fp: dict) -> Interleaved:
    """The interleaved cost measurement of ``variant`` (:func:`repro.audit.cost.interleaved`).

    Reused from the audit's previous ``report.json`` when it was measured on the same config, pair
    count and environment summary (its ``key``), so that a re-run audit, which trains nothing
    again, measures nothing again either; measured otherwise. Kept in the report, not beside it,
    so that the audit writes no file its DVC stage does not declare.
    """
    wanted = {"config": to_dict(cfg), "pairs": pairs, "warmup": cost_mod.DEFAULT_WARMUP_PAIRS,
              "environment": fingerprint.summary(fp)}
    key = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()
    try:
        previous = schema.report_from_dict(io.read_json(previous_report, "audit report"))
        old = previous.cost[variant].interleaved
        if old is not None and old.key == key:
            return old
    except (ValueError, KeyError):
        pass  # no previous report, one of another layout, or one without this measurement
    log.info(f"measuring the cost of determinism of {variant}: {pairs} interleaved step pairs")
    return from_dict(Interleaved, {**cost_mod.interleaved(cfg, pairs=pairs), "key": key})


class EvalSettings:
    """The evaluation settings an audit asks for, and the check of a metrics file against them."""

    def __init__(self, extractor: str, weights: str | None, num_samples: int | None, eval_seeds: int):
        self.extractor, self.weights, self.num_samples, self.eval_seeds = extractor, weights, num_samples, eval_seeds
        self._sha: dict[str, str] = {}

    @classmethod
    def of(cls, evaluation: Evaluation) -> "EvalSettings":
        return cls(evaluation.extractor, evaluation.extractor_weights, evaluation.num_samples, evaluation.eval_seeds)

    def name(self, dataset: str) -> str:
        return default_extractor(dataset) if self.extractor == "auto" else self.extractor

    def weights_sha256(self, name: str) -> str:
        """sha256 of the weights that would be used now (the file given, else the extractor's own)."""
        if name not in self._sha:
            if self.weights is not None:
                self._sha[name] = sha256_file(self.weights)
            else:
                self._sha[name] = get(name).weights_sha256
        return self._sha[name]

    def mismatches(self, metrics: dict[str, Any], cfg: TrainConfig, run_dir: Path, step: int) -> list[str]:
        """Why ``metrics`` cannot stand for the run's final checkpoint under these settings
        (empty when it can). Compared keys: metrics_schema, checkpoint_step, generator_hash, extractor,
        extractor_sha256, n_fake (num_samples, or the test size n_real), eval_seeds, eval_seed, fid_min."""
        out = []
        if metrics.get("metrics_schema") != METRICS_SCHEMA:
            out.append(f"metrics_schema {metrics.get('metrics_schema')}, this repro writes {METRICS_SCHEMA}")
        if metrics.get("checkpoint_step") != step:
            out.append(f"it scored checkpoint step {metrics.get('checkpoint_step')}, the run ends at {step}")
        digests = rundir.read_hashes(run_dir, step)
        scored = hashing.combine({k: v for k, v in digests.items() if k.startswith("generator.")})
        if metrics.get("generator_hash") != scored:
            out.append("it does not record the generator it scored" if "generator_hash" not in metrics
                       else "it scored another generator than the run's final checkpoint")
        name = self.name(cfg.dataset)
        if metrics.get("extractor") != name:
            out.append(f"extractor {metrics.get('extractor')!r}, asked {name!r}")
        elif metrics.get("extractor_sha256") != self.weights_sha256(name):
            out.append(f"extractor weights sha256 {str(metrics.get('extractor_sha256'))[:12]}, "
                       f"asked {self.weights_sha256(name)[:12]}")
        wanted = self.num_samples if self.num_samples is not None else metrics.get("n_real")
        if metrics.get("n_fake") != wanted:
            out.append(f"n_fake {metrics.get('n_fake')}, asked {self.num_samples if self.num_samples is not None else f'the test size {wanted}'}")
        if metrics.get("eval_seeds") != self.eval_seeds:
            out.append(f"eval_seeds {metrics.get('eval_seeds', 'not recorded')}, asked {self.eval_seeds}")
        if metrics.get("eval_seed", 0) != 0:
            out.append(f"eval_seed {metrics.get('eval_seed')}, the audit uses 0")
        if "fid_min" not in metrics or "fid_by_step" not in metrics:
            out.append("no FID of every checkpoint (fid_by_step, fid_min)")
        return out
