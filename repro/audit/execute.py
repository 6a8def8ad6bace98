"""The audit's training and evaluation loop, through an executor (:mod:`repro.executor`).

Everything that decides (reuse, resume, retrain, which metrics are stale) happens here in the
driver before any task starts; the executor only trains and evaluates. Rows come back in plan
order whatever order the runs finish in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter as _Tally
from pathlib import Path
from typing import Any, Callable

from repro import io, rundir
from repro.audit import reuse
from repro.audit.plan import RunSpec
from repro.audit.schema import CheckpointScore, RunRow
from repro.audit.spec import AuditSpec
from repro.config import TrainConfig
from repro.errors import InputError
from repro.executor import EvalTask, Executor, TrainTask, describe, plan_cost
from repro.executor.progress import Counter
from repro.train import train

log = logging.getLogger(__name__)


def metrics_path(spec: RunSpec, run_dir: Path, evals_dir: Path | None) -> Path:
    return (evals_dir / f"{spec.id}.json") if evals_dir else run_dir / rundir.METRICS


def train_and_evaluate(specs: list[RunSpec], configs: dict[str, TrainConfig], run_dirs: dict[str, Path], *,
                       executor: Executor, force: bool, train_missing: bool, runs_dir: Path,
                       evals_dir: Path | None, expected: reuse.EvalSettings, progress: bool,
                       callbacks: dict[str, Callable] | None = None
                       ) -> tuple[list[RunRow], dict[str, dict[str, Any] | None]]:
    """Train what is missing, evaluate what has no usable metrics. Returns one report row per spec
    and each run's metrics by id (None for a run without a score)."""
    n = len(specs)
    records: dict[str, dict] = {}
    tasks = []
    for i, spec in enumerate(specs, 1):  # every decision first: a config error stops the audit before training
        run_dir, cfg = run_dirs[spec.id], configs[spec.id]
        action, what = reuse.run_action(spec, run_dir, cfg, force)
        if action != "reuse" and not train_missing:
            raise InputError(f"run {spec.id} is missing or unfinished in {runs_dir} and training was disabled")
        log.info(f"{i}/{n} {spec.id}: {what}")
        meta = {"variant": spec.variant, "replicate": spec.replicate, "perturb": spec.perturb}
        if action == "reuse":  # in the driver: the lock still catches a run another process is writing
            records[spec.id] = train(cfg, run_dir, resume=True, progress=False, meta=meta)
        else:
            tasks.append(TrainTask(spec.id, cfg, run_dir, resume=action != "retrain", force=action == "retrain",
                                   meta=meta, progress=progress and executor.jobs == 1,
                                   step_callback=(callbacks or {}).get(spec.id)))
    if tasks:
        log.info(f"training {len(tasks)} run(s) with the {executor.name} executor ({executor.jobs} at a time)")
    # a bar of runs where runs go side by side; one at a time, each run shows its own step bar
    bar = None if progress and executor.jobs > 1 else False
    count = Counter("trained", n, n - len(tasks), bar=bar)
    try:
        records.update(executor.train(tasks, on_done=lambda t, r: count.finished(t.run_id, describe(r))))
    finally:
        count.close()

    metrics: dict[str, dict | None] = {s.id: None for s in specs}
    evals = []
    for spec in specs:
        record = records[spec.id]
        if record["status"] != "completed":
            continue  # a diverged run is a result with no score
        run_dir = run_dirs[spec.id]
        path = metrics_path(spec, run_dir, evals_dir)
        if path.exists():
            old = io.read_json(path, "run metrics")
            stale = expected.mismatches(old, rundir.read_config(run_dir), run_dir, record["steps_completed"])
            if not stale:
                metrics[spec.id] = old
                continue
            log.info(f"re-evaluating {spec.id}: {path} does not match the settings asked for: {'; '.join(stale)}")
        else:
            log.info(f"evaluating {spec.id}")
        # every checkpoint: compare_gan reports the minimum over checkpoints, a selection effect the
        # report shows beside the final FID
        evals.append(EvalTask(spec.id, run_dir, path, {
            "extractor": expected.extractor, "extractor_weights": expected.weights,
            "num_samples": expected.num_samples, "eval_seeds": expected.eval_seeds, "all_checkpoints": True}))
    count = Counter("evaluated", sum(r["status"] == "completed" for r in records.values()),
                    sum(m is not None for m in metrics.values()), bar=bar)
    try:
        metrics.update(executor.evaluate(evals, on_done=lambda t, m: count.finished(t.run_id, f"FID {m.get('fid'):.3f}"
                                                                                   if isinstance(m.get("fid"), float)
                                                                                   else "")))
    finally:
        count.close()

    rows = [run_row(spec, records[spec.id], metrics[spec.id], executor.name) for spec in specs]
    return mark_thread_mismatch(rows), metrics


def run_row(spec: RunSpec, record: dict[str, Any], metrics: dict[str, Any] | None, executor: str) -> RunRow:
    """One run of the report: what ``run.json`` says of its training (``record``) and what its
    evaluation measured (``metrics``, None for a run without a score)."""
    m = metrics or {}
    worker = record.get("worker") or {}  # an executor's worker, or the process of `repro train` (a pipeline stage)
    return RunRow(
        id=spec.id, variant=spec.variant, mode=spec.mode, seed=spec.seed, replicate=spec.replicate,
        perturb=spec.perturb, status=record.get("status"), steps_completed=record.get("steps_completed"),
        diverged_step=record.get("diverged_step"), final_param_hash=record.get("final_param_hash"),
        median_step_time_s=record.get("median_step_time_s"), wall_time_s=record.get("wall_time_s"),
        threads=(record.get("execution") or {}).get("threads"), device=record.get("device"),
        fid=m.get("fid"), fid_eval_values=m.get("fid_eval_values"), fid_eval_std=m.get("fid_eval_std"),
        fid_ci_low=m.get("fid_ci_low"), fid_ci_high=m.get("fid_ci_high"), fid_boot_std=m.get("fid_boot_std"),
        fid_boot_bias=m.get("fid_boot_bias"), fid_min=m.get("fid_min"), fid_min_step=m.get("fid_min_step"),
        is_mean=m.get("is_mean"), is_std=m.get("is_std"), kid_mean=m.get("kid_mean"), kid_std=m.get("kid_std"),
        n_fake=m.get("n_fake"), checkpoints=[CheckpointScore(**c) for c in m.get("fid_by_step", [])],
        executor=executor, worker_host=worker.get("host"), worker_pid=worker.get("pid"),
        protocol=m.get("protocol"), extractor=m.get("extractor"), extractor_sha256=m.get("extractor_sha256"),
        recipe=m.get("recipe"))


def mark_thread_mismatch(rows: list[RunRow]) -> list[RunRow]:
    """The rows with ``threads_differ`` set where a run's intra-op thread count differs from the
    most common count among the audit's unperturbed runs, so its bits (CPU) are not comparable
    with theirs. The ``threads`` perturbation differs by design and is not flagged."""
    counts = _Tally(r.threads for r in rows if r.perturb is None and r.threads is not None)
    common = counts.most_common(1)[0][0] if counts else None
    return [dataclasses.replace(r, threads_differ=bool(r.perturb is None and r.threads is not None
                                                       and common is not None and r.threads != common))
            for r in rows]


def plan_only(spec: AuditSpec, *, step_time_s: float | None = None, workers: tuple[int, ...] = ()) -> str:
    """The audit's plan and its cost model (:mod:`repro.executor.plan_cost`) as text; trains nothing."""
    configs = spec.configs()
    runs = list(configs.items())
    costs = plan_cost.run_costs(runs, step_time_s=step_time_s,
                                run_dirs={s.id: s.run_dir(spec.runs_path) for s in spec.runs()})
    model = plan_cost.cost_model(costs, workers=tuple(plan_cost.DEFAULT_WORKERS) + tuple(workers))
    return plan_cost.format_plan(costs, model)
