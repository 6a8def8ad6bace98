"""What an audit runs, checked in one place: :class:`AuditSpec`.

The command line (``repro audit``), the pipeline's ``params.yaml`` (``repro audit --params``,
``repro params check``) and the Python API build the same record; its checks run when it is
built, before anything trains. It holds the plan (variants, seeds, replicates, perturbations:
:class:`repro.audit.plan.AuditPlan`), the config overrides every run gets, the evaluation, the
analysis settings, the executor, and where files go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from repro.audit.cost import DEFAULT_PAIRS
from repro.audit.plan import AuditPlan, RunSpec
from repro.config import TrainConfig
from repro.errors import InputError
from repro.executor.base import EXECUTORS, ISOLATIONS, default_threads, with_threads
from repro.registry import check_choice
from repro.stats.evidence import PER_SEED

# config fields the plan sets per run: an override of these would contradict the plan
PLAN_FIELDS = ("mode", "seed")


@dataclass(frozen=True)
class Evaluation:
    """How every run is scored (:func:`repro.metrics.evaluate.evaluate_run`)."""

    extractor: str = "auto"  # auto: digits-cnn for digits, inception-v3-fid otherwise
    extractor_weights: str | None = None
    num_samples: int | None = None  # generated samples per FID; None: the test split's size
    eval_seeds: int = 10  # evaluation seeds (z streams) per run: the evaluation noise

    def __post_init__(self) -> None:
        if self.num_samples is not None and (not _is_int(self.num_samples) or self.num_samples < 2):
            raise InputError(f"invalid num_samples={self.num_samples!r}: an integer >= 2 (a covariance needs 2)")
        if not _is_int(self.eval_seeds) or self.eval_seeds < 1:
            raise InputError(f"invalid eval_seeds={self.eval_seeds!r}: must be an integer >= 1")


@dataclass(frozen=True)
class ExecutorSpec:
    """Where runs train and evaluate (:func:`repro.executor.make_executor`)."""

    name: str = "local"
    jobs: int | None = None  # runs at once (local: processes; ray: at most this many)
    ray_address: str | None = None
    threads_per_task: int | None = None
    isolation: str = "process"  # process: every run in a fresh interpreter; in-process: runs share one
    gpus_per_task: float = 1.0  # ray: the GPUs a CUDA run asks for; a fraction packs runs on one GPU

    def __post_init__(self) -> None:
        check_choice("executor", self.name, EXECUTORS)
        check_choice("isolation", self.isolation, ISOLATIONS)
        if self.jobs is not None and (not _is_int(self.jobs) or self.jobs < 1):
            raise InputError(f"invalid --jobs {self.jobs!r}: must be an integer >= 1")
        if self.threads_per_task is not None and (not _is_int(self.threads_per_task) or self.threads_per_task < 1):
            raise InputError(f"invalid --threads-per-task {self.threads_per_task!r}: must be an integer >= 1")
        if self.gpus_per_task != 1.0 and self.name != "ray":
            raise InputError("--gpus-per-task needs --executor ray (local runs use the device they name)")
        if self.ray_address is not None and self.name != "ray":
            raise InputError("--ray-address needs --executor ray")

    @property
    def threads(self) -> int | None:
        """The intra-op threads a run that leaves ``threads`` at 0 gets (None: torch's default)."""
        return default_threads(self.name, self.jobs, self.threads_per_task)


@dataclass(frozen=True)
class AuditSpec:
    """One audit: what to train, how to score and judge it, where, and with what."""

    plan: AuditPlan
    overrides: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig fields every run gets
    evaluation: Evaluation = field(default_factory=Evaluation)
    min_effect: float | None = None  # FID units; None: 5% of the baseline's mean FID
    per_seed: str = "deterministic"  # each seed's observation (repro.stats.evidence.PER_SEED)
    cost_pairs: int = DEFAULT_PAIRS  # interleaved (det, nondet) step pairs per variant
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    out_dir: Path = Path("audits/audit")
    runs_dir: Path | None = None  # default out_dir/runs
    evals_dir: Path | None = None  # default: metrics.json inside each run directory
    train_missing: bool = True  # False: every run must exist (the pipeline trains in its own stages)
    force: bool = False  # retrain runs whose directory holds another config
    use_mlflow: bool = True
    progress: bool = True
    localize: bool = True  # replay every pair that is not identical and name the op where it parts ways
    hunt: int = 0  # > 0: also train each variant in this many fresh processes per thread count (repro hunt)
    hunt_steps: int = 10  # generator steps of each hunt process
    hunt_threads: tuple[int, ...] = (1, 2)  # the hunt's intra-op thread counts
    command: str = "repro.audit.run_audit(...)"

    def __post_init__(self) -> None:
        bad = sorted(set(self.overrides) & set(PLAN_FIELDS))
        if bad:
            raise InputError(f"the audit's plan sets {', '.join(bad)} per run; give the main seed as the plan's "
                             "seed (--seed) and extra seeds with --seeds, not as a config override")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        check_choice("per_seed", self.per_seed, PER_SEED)
        if self.min_effect is not None and not (isinstance(self.min_effect, (int, float)) and not isinstance(
                self.min_effect, bool) and 0 < self.min_effect < math.inf):
            raise InputError(f"invalid min_effect={self.min_effect!r}: must be a finite number of FID units > 0")
        if not _is_int(self.hunt) or self.hunt < 0:
            raise InputError(f"invalid hunt={self.hunt!r}: the number of fresh processes per thread count, >= 0")
        if not _is_int(self.hunt_steps) or self.hunt_steps < 1:
            raise InputError(f"invalid hunt_steps={self.hunt_steps!r}: must be an integer >= 1")
        object.__setattr__(self, "hunt_threads", tuple(self.hunt_threads))
        if not self.hunt_threads or any(not _is_int(t) or t < 1 for t in self.hunt_threads) or len(
                set(self.hunt_threads)) != len(self.hunt_threads):
            raise InputError(f"invalid hunt_threads={list(self.hunt_threads)!r}: distinct integers >= 1")
        if not _is_int(self.cost_pairs) or self.cost_pairs < 2:
            raise InputError(f"invalid cost_pairs={self.cost_pairs!r}: an interval needs at least 2 step pairs")
        configs = self.configs()  # every name and value, before anything trains
        first = next(iter(configs.values()))
        if first.steps < first.checkpoint_every:
            raise InputError(f"steps={first.steps} is below the checkpoint interval checkpoint_every="
                             f"{first.checkpoint_every}: the audit compares checkpoints, so steps must be at least that")

    # ------------------------------------------------------------------ derived
    @property
    def runs_path(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir is not None else self.out_dir / "runs"

    def runs(self) -> list[RunSpec]:
        return self.plan.runs()

    def configs(self, threads: int | None = None) -> dict[str, TrainConfig]:
        """Each run's config, threads explicit where the executor runs them side by side (``threads``:
        an executor's own count, else :attr:`ExecutorSpec.threads`)."""
        threads = self.executor.threads if threads is None else threads
        return {s.id: with_threads(s.config(dict(self.overrides)), threads) for s in self.plan.runs()}

    def primary_config(self, variant: str) -> TrainConfig:
        return self.configs()[self.plan.primary(variant).id]

    def replace(self, **changes: Any) -> "AuditSpec":
        return replace(self, **changes)

    # ------------------------------------------------------------------ builders
    @classmethod
    def build(cls, variant: str, baseline_variant: str = "resnet_default", *, seed: int = 0,
              extra_seeds: tuple[int, ...] = (), replicates: int = 2, perturb: tuple[str, ...] = (),
              overrides: Mapping[str, Any] | None = None, extractor: str = "auto",
              extractor_weights: str | None = None, num_samples: int | None = None, eval_seeds: int = 10,
              executor: str = "local", jobs: int | None = None, ray_address: str | None = None,
              threads_per_task: int | None = None, isolation: str = "process", **rest: Any) -> "AuditSpec":
        """A spec from flat keywords (the Python API's short form): the plan's, the evaluation's and
        the executor's fields by name; ``rest``: the other fields of :class:`AuditSpec`."""
        return cls(plan=AuditPlan(variant, baseline_variant, replicates, seed, tuple(extra_seeds), tuple(perturb)),
                   overrides=dict(overrides or {}),
                   evaluation=Evaluation(extractor, extractor_weights, num_samples, eval_seeds),
                   executor=ExecutorSpec(executor, jobs, ray_address, threads_per_task, isolation), **rest)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **where: Any) -> "AuditSpec":
        """From the ``audit:`` section of the pipeline's ``params.yaml`` (the fields
        :data:`PARAMS_FIELDS` names, each checked here); ``where``: the other fields of the spec
        (out_dir, runs_dir, ...)."""
        problems = params_problems(params)
        if problems:
            raise InputError("; ".join(problems))
        overrides = {k: params[k] for k in ("dataset", "steps", "checkpoint_every", "batch_size")}
        overrides.update(dict(params.get("set") or {}))
        plan = AuditPlan(params["variant"], params["baseline_variant"], PARAMS_REPLICATES, params["seed"],
                         tuple(params["extra_seeds"]), PARAMS_PERTURB)
        return cls(plan=plan, overrides=overrides, evaluation=Evaluation(eval_seeds=params["eval_seeds"]), **where)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# --------------------------------------------------------------------------- params.yaml

# the fields of params.yaml's ``audit:`` section, each with the rule it must follow (also written
# beside each field in params.yaml); ``set`` is optional: more config fields for every run
PARAMS_FIELDS = {
    "variant": "a preset name (repro variants)",
    "baseline_variant": "a preset name other than variant",
    "dataset": "a dataset name (repro data list)",
    "seed": "an integer >= 0",
    "extra_seeds": "a list of distinct integers >= 0 without seed",
    "steps": "an integer >= checkpoint_every",
    "checkpoint_every": "an integer >= 1",
    "batch_size": "an integer >= 1",
    "eval_seeds": "an integer >= 1",
}
PARAMS_OPTIONAL = ("set",)
PARAMS_REPLICATES = 2  # the pipeline trains replicates 0 and 1 per mode; the audit compares them
PARAMS_PERTURB = ("threads",)


def params_problems(audit: Any) -> list[str]:
    """Every violated rule of params.yaml's ``audit:`` section, as short phrases ([] when valid)."""
    if not isinstance(audit, Mapping):
        return [f"audit must be a mapping with the keys {', '.join(PARAMS_FIELDS)}"]
    out = []
    unknown = sorted(set(audit) - set(PARAMS_FIELDS) - set(PARAMS_OPTIONAL))
    if unknown:
        out.append(f"unknown key(s) audit.{', audit.'.join(unknown)} (valid: "
                   f"{', '.join([*PARAMS_FIELDS, *PARAMS_OPTIONAL])})")
    missing = [k for k in PARAMS_FIELDS if k not in audit]
    if missing:
        out.append(f"missing audit.{', audit.'.join(missing)}")
    if "seed" in audit and not (_is_int(audit["seed"]) and audit["seed"] >= 0):
        out.append(f"audit.seed={audit['seed']!r} must be {PARAMS_FIELDS['seed']}")
    for key in ("steps", "checkpoint_every", "batch_size", "eval_seeds"):
        if key in audit and not (_is_int(audit[key]) and audit[key] >= 1):
            out.append(f"audit.{key}={audit[key]!r} must be an integer >= 1")
    steps, every = audit.get("steps"), audit.get("checkpoint_every")
    if _is_int(steps) and _is_int(every) and 1 <= steps < every:
        out.append(f"audit.steps={steps} is below audit.checkpoint_every={every}: the audit compares and "
                   "evaluates checkpoints, so steps must be at least checkpoint_every")
    extra = audit.get("extra_seeds")
    if "extra_seeds" in audit:
        if not (isinstance(extra, list) and all(_is_int(s) and s >= 0 for s in extra)):
            out.append(f"audit.extra_seeds={extra!r} must be {PARAMS_FIELDS['extra_seeds']}")
        elif len(set(extra)) != len(extra) or audit.get("seed") in extra:
            out.append(f"audit.extra_seeds={extra!r} must be distinct and must not repeat audit.seed="
                       f"{audit.get('seed')!r} (each seed is one independent observation)")
    if audit.get("variant") is not None and audit.get("variant") == audit.get("baseline_variant"):
        out.append(f"audit.baseline_variant={audit['baseline_variant']!r} must differ from audit.variant")
    extra_set = audit.get("set")
    if extra_set is not None and not isinstance(extra_set, Mapping):
        out.append(f"audit.set={extra_set!r} must be a mapping of config fields to values")
    return out


__all__ = ["AuditSpec", "Evaluation", "ExecutorSpec", "ISOLATIONS", "PARAMS_FIELDS", "PARAMS_REPLICATES",
           "PARAMS_PERTURB", "params_problems"]
