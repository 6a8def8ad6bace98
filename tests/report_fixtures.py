"""Synthetic audit reports: real records (repro.audit.schema) with chosen numbers, for tests of the
stages that read reports (plots, MLflow, gate) without training anything."""

from __future__ import annotations

import dataclasses

from repro.audit import schema, variance
from repro.audit.plan import AuditPlan
from repro.audit.schema import CheckpointScore, Cost, PairRow, Report, RunRow, Settings


def run_row(spec, *, fid: float, digest: str, steps=(50, 100), **changes) -> RunRow:
    """A completed, scored run of ``spec`` whose checkpoints score ``fid + 1000 / step``... ending at ``fid``."""
    checkpoints = [CheckpointScore(step=s, fid=fid + (steps[-1] - s) / 10.0) for s in steps]
    row = RunRow(id=spec.id, variant=spec.variant, mode=spec.mode, seed=spec.seed, replicate=spec.replicate,
                 perturb=spec.perturb, status="completed", steps_completed=steps[-1], diverged_step=None,
                 final_param_hash=digest, median_step_time_s=0.1, wall_time_s=1.0, threads=2, device="cpu",
                 fid=fid, fid_eval_values=[fid, fid + 0.5], fid_eval_std=0.35, fid_ci_low=fid - 1, fid_ci_high=fid + 1,
                 fid_boot_std=0.5, fid_min=min(c.fid for c in checkpoints), fid_min_step=steps[-1],
                 checkpoints=checkpoints, executor="local", worker_host="host", worker_pid=1)
    return dataclasses.replace(row, **changes)


def synthetic_report(plan: AuditPlan, *, steps=(50, 100), fid=lambda spec: 100.0 + spec.seed,
                     rel_l2=lambda pair, step: 0.0, identical=lambda pair: True, runs_dir: str = "runs",
                     overrides: dict | None = None) -> Report:
    """A report of ``plan`` whose numbers come from the functions given; the analysis (noise and
    verdict) is the audit's own, over those numbers."""
    rows = []
    for spec in plan.runs():
        same_model = spec.seed == plan.seed and spec.perturb is None  # on a CPU the seed's replicates agree
        digest = f"{spec.variant}-s{spec.seed}" if same_model else spec.id
        rows.append(run_row(spec, fid=fid(spec), digest=digest, steps=steps))
    by_id = {r.id: r for r in rows}
    pairs = [PairRow(variant=p.variant, kind=p.kind, a=p.a.id, b=p.b.id, identical=identical(p),
                     evidence=f"{len(steps)} traced step(s) compared",
                     first_divergent_step=None if identical(p) else steps[0], checkpoint_step=None,
                     first_divergent_tensors=[], n_divergent_tensors=0, traced_steps_compared=len(steps),
                     rel_l2=[[s, rel_l2(p, s)] for s in steps], fid_a=by_id[p.a.id].fid, fid_b=by_id[p.b.id].fid)
             for p in plan.pairs()]
    settings = Settings(variant=plan.variant, baseline_variant=plan.baseline_variant, replicates=plan.replicates,
                        seed=plan.seed, seeds=plan.seeds, extra_seeds=list(plan.extra_seeds),
                        perturb=list(plan.perturb), steps=steps[-1], dataset="digits", resolution=16, width=0.25,
                        batch_size=32, overrides=dict(overrides or {}), eval_seeds=2, runs_dir=runs_dir,
                        trace_every=10, checkpoint_every=steps[0], cost_pairs=4, min_effect=None,
                        per_seed="deterministic")
    return Report(schema=schema.REPORT_SCHEMA, created="2026-12-04T00:00:00+00:00", command="repro audit ...",
                  commit=None, fingerprint={}, fingerprint_summary={"torch": "2.x", "commit": "abc"}, plan=plan,
                  settings=settings, runs=rows, pairs=pairs,
                  variance={v: variance.decompose(rows, v, n_boot=20) for v in plan.variants},
                  comparison=variance.compare(rows, plan.variant, plan.baseline_variant),
                  cost={v: Cost(ratio=1.0, det_median_step_s=0.1, nondet_median_step_s=0.1) for v in plan.variants})
