"""``run_audit``: train what is missing, evaluate, analyse, report, log to MLflow.

An audit directory has one writer at a time (:mod:`repro.lock`). Runs are reused when their
config matches, resumed when unfinished, and retrained with ``force`` only when their config
differs; per-run metrics are reused only when they were made with the settings asked for.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from repro import fingerprint, io, lock, mlflow_store, rundir
from repro.arch import archdiff
from repro.audit import cost as cost_mod
from repro.audit import divergence, execute, figures, plotdata, reuse, schema, tracking, variance
from repro.audit import report as report_mod
from repro.audit.plan import AuditPlan, RunSpec, plan
from repro.errors import InputError
from repro.executor import default_threads, make_executor, with_threads
from repro.gan.presets import config_for
from repro.gan.sampling import generate
from repro.stats.evidence import PER_SEED

if TYPE_CHECKING:
    from repro.executor import Executor

log = logging.getLogger(__name__)




def _archdiffs(variant: str, baseline: str, resolution: int, channels: int) -> dict[str, Any]:
    """Structure of ``variant`` against the baseline (at the run's resolution, paper widths) and
    against the reference transcriptions: compare_gan (the study's code) at the run's resolution
    where compare_gan defines the architecture there, else at 32x32; the paper's and the SNGAN
    authors' (github) ResNet CIFAR at 32x32. A reference without such a model is recorded as an error."""
    out = {f"{variant} vs {baseline}": archdiff.diff_variants(variant, baseline, resolution=resolution,
                                                               channels=channels)}
    arch = config_for(variant).architecture
    for ref in archdiff.REFERENCES:
        sizes = archdiff.reference_resolutions(ref, arch)
        if sizes == ():
            continue
        res = resolution if sizes is None or resolution in sizes else 32
        try:
            out[f"{variant} vs {ref} transcription"] = archdiff.diff_reference(
                variant, ref, resolution=res, channels=channels if ref == "compare_gan" else 3)
        except ValueError as err:  # e.g. a normalization the reference does not have
            out[f"{variant} vs {ref} transcription"] = {"error": str(err), "rows": []}
    return out


def run_audit(variant: str, *, baseline_variant: str = "resnet_default", replicates: int = 2,
              extra_seeds: tuple[int, ...] = (), perturb: tuple[str, ...] = (), overrides: dict[str, Any] | None = None,
              out_dir: str | os.PathLike = "audits/audit", runs_dir: str | os.PathLike | None = None,
              evals_dir: str | os.PathLike | None = None, train_missing: bool = True, force: bool = False,
              extractor: str = "auto", extractor_weights: str | None = None, num_samples: int | None = None,
              eval_seeds: int = 10, use_mlflow: bool = True, progress: bool = True,
              callbacks: dict[str, Callable] | None = None, command: str | None = None,
              cost_pairs: int = cost_mod.DEFAULT_PAIRS, min_effect: float | None = None,
              per_seed: str = "deterministic", executor: "str | Executor" = "local",
              jobs: int | None = None, ray_address: str | None = None,
              threads_per_task: int | None = None) -> dict[str, Any]:
    """Run (or finish) one audit and write ``out_dir/report.json`` and friends.

    Runs live in ``runs_dir`` (default ``out_dir/runs``) under ``RunSpec.id``; completed runs
    are reused, interrupted ones resumed, so re-running an audit continues where it stopped.
    A run whose config differs from the one asked for is an error, or with ``force`` retrained.
    ``train_missing=False`` refuses to train (the DVC pipeline trains in its own stages).
    ``callbacks`` maps a run id to a per-step hook (used to inject faults in tests).
    ``cost_pairs`` is the number of interleaved (det, nondet) step pairs of the cost
    measurement per variant (:func:`repro.audit.cost.interleaved`).
    ``min_effect`` (FID units; default 5% of the baseline's mean FID) is the smallest difference
    that matters to the verdict; ``per_seed`` picks each seed's observation
    (:func:`repro.stats.seed_evidence`).
    ``executor`` (``local`` | ``ray``, or an :class:`repro.executor.Executor`), ``jobs``,
    ``ray_address``, ``threads_per_task``: where runs train and evaluate
    (:func:`repro.executor.make_executor`); a run whose config leaves ``threads`` at 0 gets the
    executor's ``threads_per_task`` when it sets one (every executor but ``local`` with one job).
    """
    overrides = dict(overrides or {})
    seed = int(overrides.pop("seed", 0))
    the_plan = AuditPlan(variant, baseline_variant, replicates, seed, tuple(extra_seeds), tuple(perturb))
    specs = the_plan.runs()

    threads = (executor.threads_per_task if not isinstance(executor, str)
               else default_threads(executor, jobs, threads_per_task))
    # validates every name and value before training; threads explicit where runs share the CPUs
    configs = {s.id: with_threads(s.config(overrides), threads) for s in specs}
    first = configs[specs[0].id]
    if first.steps < first.checkpoint_every:
        raise InputError(f"steps={first.steps} is below the checkpoint interval checkpoint_every="
                         f"{first.checkpoint_every}: the audit compares checkpoints, so steps must be at least that")

    if per_seed not in PER_SEED:
        raise InputError(f"invalid per_seed={per_seed!r}; valid choices: {', '.join(PER_SEED)}")
    if min_effect is not None and not (isinstance(min_effect, (int, float)) and 0 < min_effect < float("inf")):
        raise InputError(f"invalid min_effect={min_effect!r}: must be a finite number of FID units > 0")
    if not isinstance(cost_pairs, int) or cost_pairs < 2:
        raise InputError(f"invalid cost_pairs={cost_pairs!r}: an interval needs at least 2 step pairs")
    out_dir = io.check_output_dir(out_dir, "audit directory")
    runs_dir = io.check_output_dir(runs_dir, "runs directory") if runs_dir else out_dir / "runs"
    evals_dir = io.check_output_dir(evals_dir, "evals directory") if evals_dir else None
    if use_mlflow:
        mlflow_store.check_store()  # an unusable store fails now, not after hours of training

    run_dirs = {s.id: s.run_dir(runs_dir) for s in specs}
    expected = reuse.EvalSettings(extractor, extractor_weights, num_samples, eval_seeds)
    with lock.writing(out_dir, "audit directory"):
        for folder in (out_dir, out_dir / "figures", out_dir / "plots"):
            io.clean_temp_files(folder)
        ex = make_executor(executor, jobs=jobs, ray_address=ray_address,
                           threads_per_task=threads_per_task) if isinstance(executor, str) else executor
        try:
            rows, metrics_by_id = execute.train_and_evaluate(specs, configs, run_dirs, executor=ex, force=force,
                                              train_missing=train_missing, runs_dir=runs_dir, evals_dir=evals_dir,
                                              expected=expected, progress=progress, callbacks=callbacks)
        finally:
            if ex is not executor:
                ex.close()

        by_id = {r["id"]: r for r in rows}
        pairs = []
        for pair in the_plan.pairs():  # train() raises on failure: every run here completed or diverged
            a, b = pair.a, pair.b
            result = divergence.compare(run_dirs[a.id], run_dirs[b.id])
            pairs.append({"variant": a.variant, "kind": pair.kind, "a": a.id, "b": b.id, **result,
                          "fid_a": by_id[a.id]["fid"], "fid_b": by_id[b.id]["fid"]})
        var = {v: variance.decompose(rows, v, per_seed=per_seed, main_seed=seed) for v in the_plan.variants}

        fp = fingerprint.collect()
        costs = {v: cost_mod.cost(rows, run_dirs, v, seed) for v in the_plan.variants}
        for v in the_plan.variants:
            primary = the_plan.primary(v)
            costs[v]["interleaved"] = reuse.interleaved_cost(out_dir / "report.json", v, configs[primary.id],
                                                             cost_pairs, fp)
        report = {
            "schema": schema.REPORT_SCHEMA,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command or "repro.audit.run_audit(...)",
            "commit": (fp.get("git") or {}).get("commit"),
            "fingerprint": fp,
            "fingerprint_summary": fingerprint.summary(fp),
            "plan": {**the_plan.to_dict(), "id": the_plan.id},
            "settings": {"variant": variant, "baseline_variant": baseline_variant, "replicates": replicates,
                         "seed": seed, "seeds": the_plan.seeds, "extra_seeds": list(extra_seeds),
                         "perturb": list(perturb), "steps": first.steps, "dataset": first.dataset,
                         "resolution": first.resolution, "width": first.width, "batch_size": first.batch_size,
                         "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
                         "eval_seeds": eval_seeds, "runs_dir": str(runs_dir), "trace_every": first.trace_every,
                         "checkpoint_every": first.checkpoint_every, "cost_pairs": cost_pairs,
                         "min_effect": min_effect, "per_seed": per_seed},
            "runs": rows,
            "pairs": pairs,
            "variance": var,
            "comparison": variance.compare(rows, variant, baseline_variant, per_seed=per_seed, min_effect=min_effect),
            "cost": costs,
            "archdiff": _archdiffs(variant, baseline_variant, first.resolution, first.channels),
        }


        schema.validate_report(report, "the audit report being written")  # the contract, before anything lands
        primaries = [the_plan.primary(v, m) for v in the_plan.variants for m in ("deterministic", "nondeterministic")]
        traces = {f"{s.variant}/{s.mode}": rundir.read_trace(run_dirs[s.id]) for s in primaries}
        _write_figures(report, out_dir, run_dirs, the_plan, traces)
        report_mod.write_all(report, out_dir, traces)
        plotdata.write_plot_data(report, out_dir, traces, metrics_by_id)
        if use_mlflow:
            report["mlflow_run_id"] = tracking.log_audit(report, out_dir, run_dirs, metrics_by_id)
            log.info(f"logged to MLflow ({mlflow_store.tracking_uri()}), run {report['mlflow_run_id']}")
        log.info(f"report: {out_dir / 'report.md'}")
        return report


def _write_figures(report, out_dir: Path, run_dirs, the_plan: AuditPlan, traces) -> None:
    fig_dir = out_dir / "figures"
    figures.divergence_figure(report["pairs"], fig_dir / "divergence.png")
    figures.loss_figure(traces, fig_dir / "losses.png")
    for spec in (the_plan.primary(v) for v in the_plan.variants):
        if rundir.checkpoint_steps(run_dirs[spec.id]):
            net, _ = rundir.load_generator(run_dirs[spec.id])
            figures.sample_grid(generate(net, 64, seed=0), fig_dir / f"samples_{spec.variant}.png")


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["repro", *sys.argv[1:]])


__all__ = ["run_audit", "plan", "AuditPlan", "RunSpec"]
