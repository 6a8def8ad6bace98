"""repro audit: replicate a variant under both modes and report divergence, variance and cost."""

from __future__ import annotations

from repro.cli._common import add_config_options, overrides_from_args, print_json
from repro.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit", help="train a variant and a baseline twice per mode, evaluate, diff, report",
        description="Train VARIANT and the baseline variant REPLICATES times in deterministic and REPLICATES times "
                    "in nondeterministic mode with the same seed (plus one run per extra seed, plus perturbed "
                    "runs), evaluate every run, and write OUT/report.json, OUT/report.md, figures and MLflow runs. "
                    "Completed runs are reused; interrupted ones are resumed.",
    )
    add_config_options(p, variant_default=None, required=False)  # --variant, --dataset, --seed (default 0), --steps, --set
    p.add_argument("--params", default=None, metavar="PARAMS_YAML",
                   help="take the plan and run settings from the audit: section of the pipeline's params.yaml "
                        "(instead of --variant, --seed, --seeds, --steps, --set ...)")
    p.add_argument("--baseline-variant", default="resnet_default", help="preset to compare against")
    p.add_argument("--replicates", type=int, default=2, help="runs per mode with the same seed (>= 2)")
    p.add_argument("--seeds", type=int, nargs="*", default=[],
                   help="extra seeds, one deterministic run each: seeds are the unit of evidence of the verdict, "
                        "which needs at least 3 a side (the main seed counts)")
    p.add_argument("--perturb", action="append", default=[], choices=["threads"],
                   help="also rerun deterministic replicate 0 with 1 intra-op thread")
    p.add_argument("--out", default=None, help="output directory (default audits/VARIANT)")
    p.add_argument("--runs-dir", default=None, help="where run directories live (default OUT/runs)")
    p.add_argument("--evals-dir", default=None, help="where per-run metrics live (default: metrics.json in each run)")
    p.add_argument("--no-train", action="store_true", help="refuse to train: every run must exist (DVC stages)")
    p.add_argument("--force", action="store_true", help="retrain runs whose directory holds a different config")
    p.add_argument("--extractor", default="auto", help="feature extractor (auto: digits-cnn for digits)")
    p.add_argument("--extractor-weights", default=None, help="weights file of the extractor")
    p.add_argument("--num-samples", type=int, default=None, help="generated samples per FID (default: test size)")
    p.add_argument("--eval-seeds", type=int, default=10, help="evaluation seeds per run (evaluation noise)")
    p.add_argument("--min-effect", type=float, default=None,
                   help="smallest FID difference that matters to the verdict, in FID units (default: 5%% of the "
                        "baseline's mean FID); 'within noise' needs 80%% power to see it")
    p.add_argument("--per-seed", default="deterministic", choices=["deterministic", "nondeterministic-mean"],
                   help="each seed's observation: its deterministic replicate 0, or the mean of its distinct "
                        "nondeterministic replicates")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument("--quiet", action="store_true", help="no training progress output")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="where runs train and evaluate: local (this process, or --jobs processes) or ray "
                        '(Ray tasks; pip install "repro[ray]")')
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at once (local: processes, default 1; ray: at most this many, default what the "
                        "cluster holds)")
    p.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                   help="join a running Ray cluster (default: start a local Ray instance sized to this machine)")
    p.add_argument("--isolation", default="process", choices=["process", "in-process"],
                   help="process (default): every run trains in its own fresh interpreter (how a user reruns: a new "
                        "process, another worker); in-process: runs share this process (or a worker) one after another")
    p.add_argument("--gpus-per-task", type=float, default=1.0, metavar="G",
                   help="ray: the GPUs a CUDA run asks for (default 1; a fraction such as 0.25 packs 4 runs on "
                        "one GPU)")
    p.add_argument("--no-localize", action="store_true",
                   help="do not replay the pairs that are not bit-identical (by default each is replayed from its "
                        "last agreeing checkpoint and the op where it parts ways is named: repro localize)")
    p.add_argument("--hunt", type=int, default=0, metavar="N",
                   help="also train each variant's deterministic run in N fresh processes per thread count "
                        "(repro hunt): distinct final hashes and a 95%% bound, in the report; the gate fails a hunt "
                        "that found more than one hash")
    p.add_argument("--hunt-steps", type=int, default=10, metavar="S", help="generator steps of each hunt process")
    p.add_argument("--hunt-threads", type=int, nargs="+", default=[1, 2], metavar="T",
                   help="the hunt's intra-op thread counts (default 1 2)")
    p.add_argument("--threads-per-task", type=int, default=None,
                   help="intra-op threads (and CPUs) of a run whose config leaves threads at 0 (default: the "
                        "CPUs divided by --jobs for local processes, 1 for ray, torch's default for one local job)")
    p.add_argument("--plan-only", action="store_true",
                   help="print the runs and a cost model (hours, wall time for N workers) and train nothing")
    p.add_argument("--step-time", type=float, default=None, metavar="SECONDS",
                   help="--plan-only: seconds per training step (default: from existing runs, else timed here)")
    p.set_defaults(func=run)


def spec_from_args(args):
    """The :class:`repro.audit.spec.AuditSpec` the options describe (``--params``: the plan and
    the run settings from the pipeline's params.yaml, the rest from the options)."""
    from pathlib import Path  # lazy: the command line loads what a command runs

    from repro.audit.plan import AuditPlan
    from repro.audit.run import command_line
    from repro.audit.spec import AuditSpec, Evaluation, ExecutorSpec
    from repro.cli import params as params_cli

    executor = ExecutorSpec(name=args.executor, jobs=args.jobs, ray_address=args.ray_address,
                            threads_per_task=args.threads_per_task, isolation=args.isolation,
                            gpus_per_task=args.gpus_per_task)
    where = dict(executor=executor, runs_dir=Path(args.runs_dir) if args.runs_dir else None,
                 evals_dir=Path(args.evals_dir) if args.evals_dir else None, train_missing=not args.no_train,
                 force=args.force, use_mlflow=not args.no_mlflow, progress=not args.quiet,
                 command=command_line(), min_effect=args.min_effect, per_seed=args.per_seed,
                 localize=not args.no_localize, hunt=args.hunt, hunt_steps=args.hunt_steps,
                 hunt_threads=tuple(args.hunt_threads))
    if args.params:
        params = params_cli.load(args.params)
        audit = params.get("audit") if isinstance(params, dict) else None
        spec = AuditSpec.from_params(audit, out_dir=Path(args.out or f"audits/{(audit or {}).get('variant')}"),
                                     **where)
        return spec.replace(evaluation=Evaluation(extractor=args.extractor, extractor_weights=args.extractor_weights,
                                                  num_samples=args.num_samples,
                                                  eval_seeds=spec.evaluation.eval_seeds))
    if args.variant is None:
        raise InputError("repro audit needs --variant (or --params params.yaml)")
    overrides = overrides_from_args(args)
    seed = overrides.pop("seed", 0)
    plan = AuditPlan(args.variant, args.baseline_variant, args.replicates, seed, tuple(args.seeds),
                     tuple(args.perturb))
    return AuditSpec(plan=plan, overrides=overrides, out_dir=Path(args.out or f"audits/{args.variant}"),
                     evaluation=Evaluation(extractor=args.extractor, extractor_weights=args.extractor_weights,
                                           num_samples=args.num_samples, eval_seeds=args.eval_seeds), **where)


def run(args) -> int:
    from repro.audit.execute import plan_only  # lazy: the command line loads what a command runs
    from repro.audit.run import run_audit

    if args.step_time is not None and not args.step_time > 0:
        raise InputError(f"invalid --step-time {args.step_time}: must be a number of seconds > 0")
    spec = spec_from_args(args)
    if args.plan_only:
        print(plan_only(spec, step_time_s=args.step_time, workers=(args.jobs,) if args.jobs else ()))
        return 0
    report = run_audit(spec)
    c = report.comparison
    print(f"{c.verdict}: {c.reason}")
    print_json({"det_pairs_identical": all(p.identical for p in report.pairs if p.kind == "deterministic"),
                "comparison": {"diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high, "p_value": c.p_value,
                               "n_seeds_variant": c.n_seeds_variant, "n_seeds_baseline": c.n_seeds_baseline},
                "variance": {v: {"fid_mean": d.fid_mean, "n_seeds": d.n_seeds, "noise_std": d.noise_std,
                                 "noise_pct": d.noise_pct} for v, d in report.variance.items()},
                "cost_ratio": {v: c.ratio for v, c in report.cost.items()},
                "cost_interleaved": {v: {"ratio": c.interleaved.ratio, "ci_low": c.interleaved.ci_low,
                                         "ci_high": c.interleaved.ci_high} if c.interleaved else None
                                     for v, c in report.cost.items()},
                "report": str(spec.out_dir / "report.md")})
    return 0
