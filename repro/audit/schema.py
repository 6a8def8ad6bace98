"""The typed contract between the audit's stages: the run row, the pair, the noise, the
comparison, the cost, the report and the baseline.

Every record is a frozen dataclass. Code builds them, passes them and reads their attributes;
JSON exists only at the file boundary: :func:`to_dict` writes a record as plain JSON types and
:func:`from_dict` reads one back, checking every field's type on the way (missing keys, wrong
types, unknown keys) and naming the path of the first problems. Fields with a default may be
absent from a file (a later minor addition); anything else missing is an error.

Versions: ``repro.audit/4`` (this module) replaced ``repro.audit/3`` (the comparison of issue 22:
rank-based basis, collapse, equivalence by two one-sided tests, seeds needed with a range; noise
intervals that cover; each seed's IS and collapse; each run's protocol, extractor hash and
recipe), ``repro.audit/2`` (per-checkpoint FIDs as a list of records, worker PIDs, typed
settings) and ``repro.audit/1``; ``repro report --upgrade`` converts older reports
(:mod:`repro.audit.upgrade`). Baselines: ``repro.baseline/3`` (per-seed FIDs and the settings that
define the measurement) replaced ``repro.baseline/2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro.audit.plan import AuditPlan
from repro.errors import SchemaError
from repro.localize.result import HuntResult, Localization
from repro.records import from_dict, to_dict
from repro.stats.comparison import VERDICTS
from repro.stats.comparison import Comparison as SeedComparison

REPORT_SCHEMA = "repro.audit/4"
BASELINE_SCHEMA = "repro.baseline/3"
OLDER = {"repro.audit/1": "an audit report of an older repro: convert it with `repro report --upgrade`",
         "repro.audit/2": "an audit report of an older repro: convert it with `repro report --upgrade`",
         "repro.audit/3": "an audit report of an older repro: convert it with `repro report --upgrade`",
         "repro.baseline/1": "a baseline of an older repro: refresh it with `repro gate --update`",
         "repro.baseline/2": "a baseline of an older repro (no per-seed FIDs): refresh it with `repro gate --update` "
                             "from an audit with at least 5 seeds"}
RUN_STATUSES = ("completed", "diverged", "failed")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CheckpointScore:
    """The FID (evaluation seed 0) of one checkpoint of a run."""

    step: int
    fid: float
    is_mean: float | None = None


@dataclass(frozen=True)
class RunRow:
    """One training run of an audit, with its evaluation (``runs[]``)."""

    id: str
    variant: str
    mode: str
    seed: int
    replicate: int
    perturb: str | None
    status: str
    steps_completed: int | None
    diverged_step: int | None
    final_param_hash: str | None
    median_step_time_s: float | None
    wall_time_s: float | None
    threads: int | None
    device: str | None
    fid: float | None  # final checkpoint, evaluation seed 0
    fid_eval_values: list[float] | None  # final checkpoint, one FID per evaluation seed
    fid_eval_std: float | None
    fid_ci_low: float | None  # basic bootstrap interval over generated and real samples
    fid_ci_high: float | None
    fid_boot_std: float | None
    fid_boot_bias: float | None = None
    fid_min: float | None = None  # minimum over checkpoints (compare_gan's number)
    fid_min_step: int | None = None
    is_mean: float | None = None
    is_std: float | None = None
    kid_mean: float | None = None
    kid_std: float | None = None
    n_fake: int | None = None
    checkpoints: list[CheckpointScore] = field(default_factory=list)
    executor: str | None = None
    worker_host: str | None = None
    worker_pid: int | None = None
    threads_differ: bool = False
    protocol: str | None = None  # what defines the measurement (metrics.json): protocol, extractor weights, recipe
    extractor: str | None = None
    extractor_sha256: str | None = None
    recipe: str | None = None

    @property
    def fid_mean_over_eval_seeds(self) -> float | None:
        """The value a comparison uses for this run: FID averaged over its evaluation seeds."""
        values = self.fid_eval_values or ([self.fid] if self.fid is not None else [])
        return sum(values) / len(values) if values else None

    @property
    def usable(self) -> bool:
        """Completed and scored: a run that can stand as evidence."""
        return self.status == "completed" and self.fid is not None


@dataclass(frozen=True)
class PairRow:
    """Two runs of one seed compared bit for bit (``pairs[]``, :mod:`repro.audit.divergence`)."""

    variant: str
    kind: str
    a: str
    b: str
    identical: bool
    evidence: str
    first_divergent_step: int | None
    checkpoint_step: int | None
    first_divergent_tensors: list[str]
    n_divergent_tensors: int
    traced_steps_compared: int
    rel_l2: list[list[float]]  # [[step, ||a - b|| / ||a||], ...] at every common checkpoint
    fid_a: float | None
    fid_b: float | None
    # where the pair parts ways, down to the op (repro.localize), for a pair that is not identical
    localization: Localization | None = None


@dataclass(frozen=True)
class NoiseComponent:
    std: float | None
    ci_low: float | None
    ci_high: float | None
    df: float | None
    note: str
    pct: float | None


@dataclass(frozen=True)
class Selection:
    """How much the minimum over checkpoints lowers FID against the final one, per seed."""

    n_seeds: int
    mean_drop: float | None
    ci_low: float | None
    ci_high: float | None
    drops: list[float]
    rule: str = ""


@dataclass(frozen=True)
class Noise:
    """A variant's FID noise (``variance[variant]``; :func:`repro.audit.variance.decompose`)."""

    fid_mean: float | None
    noise_std: float | None
    eval_std: float | None
    nondet_std: float | None
    seed_std: float | None
    n_seeds: int
    n_runs: int
    per_seed: str
    per_seed_source: str = ""
    seeds: list[int] = field(default_factory=list)
    seed_values: list[float] = field(default_factory=list)
    n_distinct_runs: int | None = None
    identical_groups: list[list[str]] = field(default_factory=list)
    eval_values_per_run: int = 1
    components: dict[str, NoiseComponent] = field(default_factory=dict)
    noise_pct: float | None = None
    noise_basis: str = ""
    boot_std: float | None = None
    boot_pct: float | None = None
    method: str = ""
    threads_fid_delta: float | None = None
    threads_note: str = ""
    selection: Selection | None = None
    note: str = ""
    seed_is: list[float | None] = field(default_factory=list)  # per seed (as ``seeds``): IS of its observation
    seed_collapsed: list[bool | None] = field(default_factory=list)  # per seed: IS < 2 (repro.stats.collapsed)


@dataclass(frozen=True)
class Comparison(SeedComparison):
    """The variant-vs-baseline verdict: :class:`repro.stats.Comparison` (the one rule) plus the
    evidence it was computed from."""

    per_seed: str = "deterministic"
    per_seed_source: str = ""
    seeds_variant: list[int] = field(default_factory=list)
    seeds_baseline: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Interleaved:
    """The cost measurement the gate checks (:func:`repro.audit.cost.interleaved`)."""

    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    pairs: int
    confidence: float = 0.95
    det_median_step_s: float | None = None
    nondet_median_step_s: float | None = None
    warmup: int = 0
    order: str = ""
    device: str = ""
    diverged: str | None = None
    key: str = ""  # what it was measured on (config, pairs, environment): reused only for the same key


@dataclass(frozen=True)
class Cost:
    """The cost of determinism of one variant (``cost[variant]``, :mod:`repro.audit.cost`)."""

    ratio: float | None
    det_median_step_s: float | None
    nondet_median_step_s: float | None
    det_iqr_s: list[float] | None = None
    nondet_iqr_s: list[float] | None = None
    det_wall_s: float = 0.0
    nondet_wall_s: float = 0.0
    det_steps_timed: int = 0
    nondet_steps_timed: int = 0
    interleaved: Interleaved | None = None


@dataclass(frozen=True)
class Settings:
    """What the audit asked for and what its runs were (``settings``)."""

    variant: str
    baseline_variant: str
    replicates: int
    seed: int
    seeds: list[int]
    extra_seeds: list[int]
    perturb: list[str]
    steps: int
    dataset: str
    resolution: int
    width: float
    batch_size: int
    overrides: dict[str, Any]
    eval_seeds: int
    runs_dir: str
    trace_every: int
    checkpoint_every: int
    cost_pairs: int
    min_effect: float | None
    per_seed: str
    channels: int = 1
    extractor: str = "auto"
    num_samples: int | None = None
    isolation: str = "in-process"  # what a report written before isolation was recorded did


@dataclass(frozen=True)
class Report:
    """``report.json`` (schema :data:`REPORT_SCHEMA`)."""

    schema: str
    created: str
    command: str
    commit: str | None
    fingerprint: dict[str, Any]  # repro.fingerprint.collect(); read through repro.fingerprint
    fingerprint_summary: dict[str, str]
    plan: AuditPlan
    settings: Settings
    runs: list[RunRow]
    pairs: list[PairRow]
    variance: dict[str, Noise]
    comparison: Comparison
    cost: dict[str, Cost]
    archdiff: dict[str, Any] = field(default_factory=dict)  # repro.arch.archdiff results, rendered by it
    hunt: dict[str, HuntResult] = field(default_factory=dict)  # per variant, with --hunt N (repro hunt)
    mlflow_run_id: str | None = None
    upgraded_from: dict[str, Any] | None = None

    def run(self, run_id: str) -> RunRow:
        for r in self.runs:
            if r.id == run_id:
                return r
        raise KeyError(run_id)

    def runs_of(self, variant: str) -> list[RunRow]:
        return [r for r in self.runs if r.variant == variant]


@dataclass(frozen=True)
class BaselineVariant:
    fid_mean: float
    noise_std: float
    eval_std: float | None
    nondet_std: float | None
    seed_std: float | None
    n_seeds: int
    eval_values_per_run: int
    seeds: list[int]
    seed_values: list[float]  # one FID per seed, as the comparison uses it: what the gate's band tests against
    seed_collapsed: list[bool | None]


@dataclass(frozen=True)
class Baseline:
    """``audits/baselines/*.json`` (schema :data:`BASELINE_SCHEMA`)."""

    schema: str
    created: str
    commit: str | None
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    measurement: dict[str, Any]  # the settings that define the measurement (repro.audit.baseline.measurement)
    variants: dict[str, BaselineVariant]
    cost: dict[str, float | None]
    final_param_hashes: dict[str, str]
    source_report: str


# --------------------------------------------------------------------------- files


def _check_version(data: Any, expected: str, source: str) -> None:
    if not isinstance(data, dict):
        raise SchemaError(f"{source}: holds a JSON {type(data).__name__}, expected an object")
    if "schema" not in data:
        raise SchemaError(f"{source}: has no 'schema' key; expected schema {expected!r}")
    got = data["schema"]
    if got != expected:
        known = {REPORT_SCHEMA: "an audit report", BASELINE_SCHEMA: "a baseline"}.get(got) or OLDER.get(got)
        raise SchemaError(f"{source}: schema {got!r} is not supported" + (f" (it is {known})" if known else "")
                          + f"; expected {expected!r}")


def check_report(report: Report, source: str = "report") -> Report:
    """The rules between a report's parts: statuses and verdict words, and runs exactly the plan's."""
    for run in report.runs:
        if run.status not in RUN_STATUSES:
            raise SchemaError(f"{source}: run {run.id!r} has status {run.status!r}; valid statuses: "
                              f"{', '.join(RUN_STATUSES)}")
    if report.comparison.verdict not in VERDICTS:
        raise SchemaError(f"{source}: comparison.verdict {report.comparison.verdict!r} is not one of "
                          f"{', '.join(VERDICTS)}")
    ids = [r.id for r in report.runs]
    expected = [s.id for s in report.plan.runs()]
    if sorted(ids) != sorted(expected):
        extra, missing = sorted(set(ids) - set(expected)), sorted(set(expected) - set(ids))
        raise SchemaError(f"{source}: runs do not match the plan: missing {missing or 'none'}, "
                          f"not in the plan {extra or 'none'}")
    known = set(ids)
    ghosts = sorted({x for p in report.pairs for x in (p.a, p.b)} - known)
    if ghosts:
        raise SchemaError(f"{source}: pairs name runs that are not in the report: {', '.join(ghosts)}")
    return report


def report_from_dict(data: Any, source: str = "report") -> Report:
    """A ``repro.audit/4`` report: version, typed parts, and the rules between them."""
    _check_version(data, REPORT_SCHEMA, source)
    return check_report(from_dict(Report, data, source), source)


def baseline_from_dict(data: Any, source: str = "baseline") -> Baseline:
    """A ``repro.baseline/3`` file."""
    _check_version(data, BASELINE_SCHEMA, source)
    baseline = from_dict(Baseline, data, source)
    for name, v in baseline.variants.items():
        if not v.noise_std >= 0 or v.n_seeds < 1:
            raise SchemaError(f"{source}: variants[{name!r}] needs noise_std >= 0 and n_seeds >= 1")
        if len(v.seed_values) != v.n_seeds or len(v.seeds) != v.n_seeds or len(v.seed_collapsed) != v.n_seeds:
            raise SchemaError(f"{source}: variants[{name!r}] has {v.n_seeds} seeds but {len(v.seeds)} seed ids, "
                              f"{len(v.seed_values)} per-seed FIDs and {len(v.seed_collapsed)} collapse flags")
    return baseline


def validate_report(data: Any, source: str = "report") -> dict[str, Any]:
    """Check a report dict (:func:`report_from_dict`) and return it unchanged."""
    report_from_dict(data, source)
    return data


def validate_baseline(data: Any, source: str = "baseline") -> dict[str, Any]:
    """Check a baseline dict (:func:`baseline_from_dict`) and return it unchanged."""
    baseline_from_dict(data, source)
    return data


__all__ = ["REPORT_SCHEMA", "BASELINE_SCHEMA", "RUN_STATUSES", "VERDICTS", "SchemaError", "CheckpointScore",
           "RunRow", "PairRow", "NoiseComponent", "Selection", "Noise", "Comparison", "Interleaved", "Cost",
           "Settings", "Report", "BaselineVariant", "Baseline", "to_dict", "from_dict", "check_report",
           "report_from_dict", "baseline_from_dict", "validate_report", "validate_baseline"]
