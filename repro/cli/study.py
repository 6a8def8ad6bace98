"""repro study: train a family of variants over a hyperparameter space and several seeds."""

from __future__ import annotations

from pathlib import Path

from repro.errors import InputError

DIGITS_CAVEAT = ("Digits (8x8 images scaled to {resolution}x{resolution}) at {length}, network width "
                 "{width} of the paper's, is not CIFAR-10 at 200k discriminator updates: FIDs here use the digits classifier, the "
                 "models are far from converged, and a verdict says what holds at this budget on this data, not "
                 "whether the paper's numbers reproduce.")


def caveat(spec: dict) -> str:
    """The digits caveat for a study spec (``results.json``'s ``spec``); "" for other datasets."""
    if spec.get("dataset") != "digits":
        return ""
    from repro.config import TrainConfig

    over = spec.get("overrides") or {}
    from repro.study.report import run_length

    return DIGITS_CAVEAT.format(length=run_length(spec), resolution=over.get("resolution", TrainConfig.resolution),
                                width=over.get("width", TrainConfig.width))


def parse_seeds(text: str, option: str = "--seeds") -> tuple[int, ...]:
    """``0,1,2`` or ``0-4`` (inclusive) or a mix; a bad item is an InputError naming it."""
    seeds: list[int] = []
    for item in (p.strip() for p in text.split(",")):
        try:
            if "-" in item[1:]:
                lo, hi = item.split("-", 1) if not item.startswith("-") else (item, "")
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(item))
        except ValueError:
            raise InputError(f"invalid {option} item {item!r}: expected integers or ranges, e.g. 0,1,2 or 0-4") from None
    return tuple(seeds)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "study", help="train variants over Table 1's grid or Table 2's Bayesian optimisation, several seeds each",
        description="Run (or resume: the same command again) a study into one directory: every (variant, "
                    "setting, seed) trained and scored through the executor, then study.md with figures, "
                    "plots/*.csv for dvc plots, and one MLflow parent run. A diverged run scores the worst FID "
                    "and never stops the study; finished runs are never retrained. Check the paper's claims on "
                    "the result with `repro claims --study DIR`.")
    p.add_argument("--variants", required=True, metavar="LIST",
                   help="presets: names or globs, comma-separated (e.g. 'resnet_ns_*_none,sndcgan_ns_sn_none')")
    p.add_argument("--space", choices=("table1", "table2"), default="table1",
                   help="table1: the 24-setting grid (or --settings); table2: Bayesian optimisation over Table 2's ranges")
    p.add_argument("--settings", default="*", metavar="LIST",
                   help="table1 only: setting names or globs, comma-separated (default all 24)")
    p.add_argument("--trials", type=int, default=0,
                   help="table2: settings per variant and n_dis value (the paper: 120, for each of n_dis 1 and 5)")
    p.add_argument("--rounds", type=int, default=0, help="table2: rounds of parallel trials (the paper: 12)")
    p.add_argument("--sampler-seed", type=int, default=0, help="table2: seed of the GP sampler")
    p.add_argument("--ndis", default="1,5", metavar="LIST",
                   help="table2: the n_dis values searched, one Bayesian optimisation each (default 1,5: the "
                        "paper's 240 settings); 'variant' keeps each variant's own n_dis, one search")
    p.add_argument("--seeds", default="0,1,2", help="training seeds, e.g. 0,1,2 or 0-4")
    p.add_argument("--steps", type=int, default=None,
                   help="generator steps per run (default 200); each is n_dis discriminator updates then one "
                        "generator update, so a run makes steps x n_dis discriminator updates")
    p.add_argument("--d-steps", type=int, default=None, metavar="N",
                   help="instead of --steps: discriminator updates per run, the count compare_gan and the paper "
                        "use (200000 for CIFAR-10, 100000 for LSUN-BEDROOM and CELEBA-HQ-128); a run at n_dis n "
                        "trains ceil(N / n) generator steps")
    p.add_argument("--dataset", default="digits", help="dataset name")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config field set on every run (repeatable), e.g. --set checkpoint_every=100")
    p.add_argument("--eval-seeds", type=int, default=1, help="evaluation seeds per run")
    p.add_argument("--n-boot", type=int, default=50, help="bootstrap resamples per run's FID interval")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine (--jobs processes); ray: a Ray cluster (repro.executor)")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs at once (local: processes, each with CPUs/jobs threads unless --set threads=N)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (ray executor)")
    p.add_argument("--out", required=True, help="study directory (created, or resumed): runs, journal, results")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write study.md, figures/, plots/ and a copy of results.json here (default: --out)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument("--plan", action="store_true",
                   help="print the run count, generator steps and discriminator updates (and device-hours with "
                        "--step-time) as JSON, train nothing")
    p.add_argument("--step-time", type=float, default=None, metavar="S",
                   help="with --plan: measured seconds per generator step at n_dis 1 on the target device")
    p.add_argument("--step-time-ndis5", type=float, default=None, metavar="S",
                   help="with --plan: measured seconds per step at n_dis 5 (default: (n_dis + 1) / 2 x --step-time)")
    p.set_defaults(func=run)


def spec_from_args(args):
    """The StudySpec the options name, checked (unknown variants, settings or fields raise)."""
    from repro.config import parse_overrides
    from repro.study import runner, space
    from repro.study.spec import StudySpec

    variants = tuple(space.variants(args.variants))
    if args.space == "table1" and (args.trials or args.rounds):
        raise InputError("--trials and --rounds belong to --space table2; table1 trains every --settings entry")
    if args.steps is not None and args.d_steps is not None:
        raise InputError("give the run length once: --steps (generator steps) or --d-steps (discriminator updates)")
    ndis = () if args.space == "table1" or args.ndis.strip() == "variant" else parse_seeds(args.ndis, "--ndis")
    overrides = parse_overrides(args.overrides)
    for key in ("seed", "steps", "dataset"):
        if key in overrides:
            raise InputError(f"--set {key}=... is not allowed here: use --{key}s" if key == "seed"
                             else f"--set {key}=... is not allowed here: use --{key}")
    steps = 0 if args.d_steps is not None else (200 if args.steps is None else args.steps)
    spec = StudySpec(variants=variants, space=args.space,
                     settings=tuple(s.strip() for s in args.settings.split(",") if s.strip()),
                     seeds=parse_seeds(args.seeds), steps=steps, d_steps=args.d_steps or 0, ndis=ndis, dataset=args.dataset, trials=args.trials,
                     rounds=args.rounds, sampler_seed=args.sampler_seed, eval_seeds=args.eval_seeds,
                     n_boot=args.n_boot, overrides=tuple(sorted(overrides.items())))
    runner.check(spec)
    return spec


def run(args) -> int:
    from repro.executor import make_executor
    from repro.study import report, runner

    spec = spec_from_args(args)
    if args.plan:
        import json

        from repro.study.plan import plan

        print(json.dumps(plan(spec, step_time_1=args.step_time, step_time_5=args.step_time_ndis5).to_dict(),
                         indent=2))
        return 0
    ex = make_executor(args.executor, jobs=args.jobs, ray_address=args.ray_address)
    out = Path(args.out)
    try:
        doc = runner.run_study(spec, out, ex)
    finally:
        ex.close()
    report_dir = Path(args.report) if args.report else out
    if report_dir != out:
        from repro import io
        from repro.study import results

        io.write_json(report_dir / results.RESULTS_FILE, doc)
    path = report.render(doc, report_dir, caveat=caveat(doc["spec"]))
    if not args.no_mlflow:
        from repro.study.tracking import log_study

        run_id = log_study(doc, report_dir)
        print(f"MLflow parent run {run_id}")
    done = sum(t["fid"] is not None for t in doc["trials"])
    print(f"study: {done}/{len(doc['trials'])} trials scored, {len(doc['runs'])} runs -> {path}")
    return 0
