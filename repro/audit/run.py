"""``run_audit(spec)``: train what is missing, evaluate, analyse, report, log to MLflow.

An audit directory has one writer at a time (:mod:`repro.lock`). Runs are reused when their
config matches, resumed when unfinished, and retrained with ``force`` only when their config
differs; per-run metrics are reused only when they were made with the settings asked for.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from repro import fingerprint, io, lock, mlflow_store, rundir
from repro.arch import archdiff
from repro.audit import cost as cost_mod
from repro.audit import divergence, execute, figures, plotdata, reuse, schema, tracking, variance
from repro.audit import report as report_mod
from repro.audit.plan import AuditPlan
from repro.audit.schema import PairRow, Report, RunRow, Settings
from repro.audit.spec import AuditSpec
from repro.config import TrainConfig
from repro.errors import ReproError
from repro.executor import Executor, make_executor
from repro.gan.presets import config_for
from repro.localize.result import HuntResult, Localization

log = logging.getLogger(__name__)


def run_audit(spec: AuditSpec, executor: Executor | None = None, *,
              callbacks: dict[str, Callable] | None = None) -> Report:
    """Run (or finish) the audit ``spec`` describes; write ``report.json`` and friends into
    ``spec.out_dir`` and return the report.

    ``executor``: one already made (else ``spec.executor`` makes one for the audit and closes it);
    its thread count is what runs that leave ``threads`` at 0 get.
    ``callbacks`` maps a run id to a per-step hook (the fault-injection tests flip a bit with it).
    """
    configs = spec.configs(executor.threads_per_task if executor is not None else None)
    out_dir = io.check_output_dir(spec.out_dir, "audit directory")
    runs_dir = io.check_output_dir(spec.runs_path, "runs directory")
    evals_dir = io.check_output_dir(spec.evals_dir, "evals directory") if spec.evals_dir else None
    if spec.use_mlflow:
        mlflow_store.check_store()  # an unusable store fails now, not after hours of training
    run_dirs = {s.id: s.run_dir(runs_dir) for s in spec.runs()}
    with lock.writing(out_dir, "audit directory"):
        for folder in (out_dir, out_dir / "figures", out_dir / "plots"):
            io.clean_temp_files(folder)
        ex = executor or make_executor(spec.executor.name, jobs=spec.executor.jobs,
                                       ray_address=spec.executor.ray_address,
                                       threads_per_task=spec.executor.threads_per_task,
                                       isolation=spec.executor.isolation,
                                       gpus_per_task=spec.executor.gpus_per_task)
        try:
            rows, metrics = execute.train_and_evaluate(
                spec.runs(), configs, run_dirs, executor=ex, force=spec.force, train_missing=spec.train_missing,
                runs_dir=runs_dir, evals_dir=evals_dir, expected=reuse.EvalSettings.of(spec.evaluation),
                progress=spec.progress, callbacks=callbacks)
        finally:
            if ex is not executor:
                ex.close()
        report = analyse(spec, rows, run_dirs, configs)
        write(report, out_dir, run_dirs, metrics)
        if spec.use_mlflow:
            run_id = tracking.log_audit(report, out_dir, run_dirs, metrics)
            report = dataclasses.replace(report, mlflow_run_id=run_id)
            log.info(f"logged to MLflow ({mlflow_store.tracking_uri()}), run {run_id}")
        log.info(f"report: {out_dir / 'report.md'}")
        return report


def analyse(spec: AuditSpec, rows: list[RunRow], run_dirs: dict[str, Path],
            configs: dict[str, TrainConfig]) -> Report:
    """The report of trained and scored runs: pairs, noise, verdict, cost, architecture diffs."""
    plan = spec.plan
    by_id = {r.id: r for r in rows}
    pairs = [PairRow(variant=p.variant, kind=p.kind, a=p.a.id, b=p.b.id,
                     fid_a=by_id[p.a.id].fid, fid_b=by_id[p.b.id].fid,
                     **divergence.compare(run_dirs[p.a.id], run_dirs[p.b.id]))
             for p in plan.pairs()]  # train() raises on failure: every run here completed or diverged
    if spec.localize:
        pairs = [dataclasses.replace(p, localization=localized(p, run_dirs, spec.out_dir / "localize"))
                 if not p.identical else p for p in pairs]
    fp = fingerprint.collect()
    costs = {}
    for v in plan.variants:
        primary = plan.primary(v)
        costs[v] = cost_mod.cost(rows, run_dirs, v, plan.seed, reuse.interleaved_cost(
            spec.out_dir / "report.json", v, configs[primary.id], spec.cost_pairs, fp))
    first = configs[plan.runs()[0].id]
    report = Report(
        schema=schema.REPORT_SCHEMA, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=spec.command, commit=(fp.get("git") or {}).get("commit"), fingerprint=fp,
        fingerprint_summary=fingerprint.summary(fp), plan=plan, settings=settings(spec, first),
        runs=rows, pairs=pairs,
        variance={v: variance.decompose(rows, v, per_seed=spec.per_seed, main_seed=plan.seed) for v in plan.variants},
        comparison=variance.compare(rows, plan.variant, plan.baseline_variant, per_seed=spec.per_seed,
                                    min_effect=spec.min_effect),
        cost=costs, archdiff=_archdiffs(plan.variant, plan.baseline_variant, first.resolution, first.channels),
        hunt={v: _hunt(spec, v) for v in plan.variants} if spec.hunt else {})
    return schema.check_report(report, "the audit report being written")  # the contract, before anything lands


def localized(pair: PairRow, run_dirs: dict[str, Path], folder: Path) -> Localization:
    """Where a pair that is not identical parts ways (:func:`repro.localize.locate.localize`: both
    runs replayed from their last agreeing checkpoint, each in a fresh process in its own
    conditions). Kept in ``folder/<a>--<b>/`` with the final hashes it was made for, and reused
    while they match; a replay that fails is reported as not localised, with its error."""
    from repro.localize.locate import localize  # lazy: the replay machinery loads only for a pair that needs it

    a, b = run_dirs[pair.a], run_dirs[pair.b]
    where = folder / f"{pair.a}--{pair.b}".replace("/", "_")
    key = {"a": rundir.read_run(a).get("final_param_hash"), "b": rundir.read_run(b).get("final_param_hash"),
           "a_trace": len(rundir.read_trace(a)), "b_trace": len(rundir.read_trace(b))}
    saved, saved_key = where / "localization.json", where / "made_for.json"
    if saved.exists() and saved_key.exists() and io.read_json(saved_key, "localisation key") == key:
        return Localization.from_dict(io.read_json(saved, "saved localisation"))
    log.info(f"localising {pair.a} vs {pair.b} ({pair.kind}): replaying both from their last agreeing checkpoint")
    try:
        result = localize(a, b, out=where)
    except (ReproError, OSError, RuntimeError) as err:
        result = Localization("not localised", f"the replay failed: {err}", str(a), str(b),
                              first_divergent_step=pair.first_divergent_step)
    where.mkdir(parents=True, exist_ok=True)
    io.write_json(saved_key, key)
    log.info(f"{pair.a} vs {pair.b}: {result.summary()}")
    return result


def _hunt(spec: AuditSpec, variant: str) -> HuntResult:
    """``repro hunt`` of ``variant`` with the audit's config overrides (its seed, dataset, batch)."""
    from repro.localize.hunt import hunt  # lazy: only with --hunt

    sets = tuple(f"{k}={v}" for k, v in spec.overrides.items() if k not in ("threads", "device", "checkpoint_every", "steps"))
    sets += (f"seed={spec.plan.seed}",)
    log.info(f"hunt: {variant}, {spec.hunt} fresh processes per thread count {list(spec.hunt_threads)}, "
             f"{spec.hunt_steps} steps each")
    return hunt(variant, processes=spec.hunt, threads=spec.hunt_threads, steps=spec.hunt_steps, sets=sets)


def settings(spec: AuditSpec, first: TrainConfig) -> Settings:
    plan = spec.plan
    return Settings(
        variant=plan.variant, baseline_variant=plan.baseline_variant, replicates=plan.replicates, seed=plan.seed,
        seeds=plan.seeds, extra_seeds=list(plan.extra_seeds), perturb=list(plan.perturb), steps=first.steps,
        dataset=first.dataset, resolution=first.resolution, width=first.width, batch_size=first.batch_size,
        channels=first.channels,
        overrides={k: list(v) if isinstance(v, tuple) else v for k, v in spec.overrides.items()},
        eval_seeds=spec.evaluation.eval_seeds, extractor=spec.evaluation.extractor,
        num_samples=spec.evaluation.num_samples, runs_dir=str(spec.runs_path), trace_every=first.trace_every,
        checkpoint_every=first.checkpoint_every, cost_pairs=spec.cost_pairs, min_effect=spec.min_effect,
        per_seed=spec.per_seed, isolation=spec.executor.isolation)


def write(report: Report, out_dir: Path, run_dirs: dict[str, Path], metrics: dict[str, dict[str, Any] | None]) -> None:
    """Figures, report.json, report.md, the DVC metrics files and the plot CSVs, each atomically."""
    plan = report.plan
    primaries = [plan.primary(v, m) for v in plan.variants for m in ("deterministic", "nondeterministic")]
    traces = {f"{s.variant}/{s.mode}": rundir.read_trace(run_dirs[s.id]) for s in primaries}
    _write_figures(report, out_dir, run_dirs, traces)
    report_mod.write_all(report, out_dir)
    plotdata.write_plot_data(report, out_dir, traces)


def _archdiffs(variant: str, baseline: str, resolution: int, channels: int) -> dict[str, Any]:
    """Structure of ``variant`` against the baseline and the reference transcriptions, at the
    run's resolution and channels where the reference defines the architecture there (else at
    32x32, and the section says so). A reference without such a model is recorded as an error."""
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


def _write_figures(report: Report, out_dir: Path, run_dirs: dict[str, Path], traces) -> None:
    fig_dir = out_dir / "figures"
    figures.divergence_figure(report.pairs, fig_dir / "divergence.png")
    figures.loss_figure(traces, fig_dir / "losses.png")
    figures.fid_curves_figure(report, fig_dir / "fid_curves.png")
    for v in report.plan.variants:
        figures.seed_grids(report, v, run_dirs, fig_dir / f"samples_{v}.png")


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["repro", *sys.argv[1:]])


__all__ = ["run_audit", "analyse", "settings", "write", "AuditPlan", "AuditSpec", "command_line"]
