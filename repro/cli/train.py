"""repro train: one training run into a run directory."""

from __future__ import annotations

from repro.cli._common import add_config_options, config_from_args, print_json
from repro.config import MODES


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train one GAN run (deterministic or nondeterministic) into a run directory",
        description="Train one run. A step is one generator update preceded by n_dis discriminator updates "
                    "(compare_gan counts discriminator updates instead). Exit codes: 0 completed, "
                    "3 diverged (NaN/inf loss; the last good checkpoint is kept), 2 bad input, a directory in "
                    "use by another process, or a file that cannot be written (a full disk marks the run "
                    "failed; --resume continues it), 1 other failure.",
    )
    add_config_options(p)
    p.add_argument("--mode", choices=MODES, default=None, help="execution mode (default deterministic)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--checkpoint-every", type=int, default=None, help="generator steps between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true", help="replace a different run in --out")
    p.add_argument("--allow-env-change", action="store_true",
                   help="with --resume: continue in an environment whose fingerprint differs where bits depend on "
                        "it (threads, library versions, CPU model, device); each session's fingerprint is recorded "
                        "in run.json and the run is marked not bit-reproducible from scratch")
    p.add_argument("--resume-unfinished", action="store_true",
                   help="for pipeline stages, which rerun only when their output is missing, stale or was "
                        "interrupted: continue an unfinished run of the same config in --out from its last "
                        "verified checkpoint; replace a finished run or a run of another config")
    p.add_argument("--quiet", action="store_true",
                   help="no progress output; print one summary line at the end instead of the JSON record")
    p.set_defaults(func=run)


def summary_line(variant: str, out: str, record: dict) -> str:
    """One line per finished run (what a DVC stage shows with --quiet)."""
    text = (f"repro train {variant} {record.get('mode')} seed={record.get('seed')} -> {out}: {record['status']}, "
            f"{record.get('steps_completed')}/{record.get('steps')} steps in {record.get('wall_time_s', 0.0):.1f} s")
    if record.get("median_step_time_s") is not None:
        text += f" (median {record['median_step_time_s']:.3g} s/step)"
    if record.get("diverged_step") is not None:
        text += f", diverged at step {record['diverged_step']}"
    if record.get("final_param_hash"):
        text += f", hash {record['final_param_hash'][:12]}"
    return text


def run(args) -> int:
    from repro.train import EXIT_COMPLETED, EXIT_DIVERGED, train

    cfg = config_from_args(args, mode=args.mode, checkpoint_every=args.checkpoint_every)
    resume, force = args.resume, args.force
    if args.resume_unfinished:
        from repro.train.run import continue_or_restart

        resume, force = continue_or_restart(cfg, args.out)
    record = train(cfg, args.out, resume=resume, force=force, allow_env_change=args.allow_env_change,
                   progress=not args.quiet, meta={"variant": args.variant, "worker": _this_process()})
    if args.quiet:
        print(summary_line(args.variant, args.out, record))
    else:
        print_json({k: record.get(k) for k in ("status", "mode", "seed", "steps_completed", "final_param_hash",
                                               "wall_time_s", "median_step_time_s", "diverged_step")
                    if k in record})
    return EXIT_DIVERGED if record["status"] == "diverged" else EXIT_COMPLETED


def _this_process() -> dict:
    """Where this command trains (recorded in run.json as ``worker``, as an executor records its
    workers): an audit over runs a pipeline stage trained shows each run's host and process."""
    import os  # lazy: the command line loads what a command runs
    import socket

    return {"host": socket.gethostname(), "pid": os.getpid(), "isolation": "process"}
