"""repro hunt: the same deterministic run in fresh processes, distinct final hashes and a bound."""

from __future__ import annotations

import sys

from repro.cli._common import print_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "hunt", help="train one deterministic run in many fresh processes and count its final hashes",
        description="Train the same short deterministic run in N fresh processes per intra-op thread count "
                    "(interleaved round by round) and report, per thread count, the distinct final hashes and an "
                    "exact 95%% upper bound on the per-process rate of leaving the typical one (0 of N: "
                    "1 - 0.05^(1/N), about 3/N). A pair trained in one process cannot see a race decided once per "
                    "process. With --keep, one run directory per distinct hash is kept for `repro localize`.")
    p.add_argument("--variant", required=True, help="preset name (repro variants)")
    p.add_argument("--processes", type=int, default=10, help="fresh processes per thread count")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts (default 1 2)")
    p.add_argument("--steps", type=int, default=10, help="generator steps per run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run, e.g. --set width=0.25 (repeatable)")
    p.add_argument("--warm-cache", action="store_true", help="one shared cache directory instead of one per process")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="keep the run directory of the first process of each distinct hash here")
    p.add_argument("--out", default=None, metavar="FILE", help="write the result as JSON here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when some thread count gave more than one hash")
    p.add_argument("--quiet", action="store_true", help="no line per process on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro import io
    from repro.config import parse_overrides
    from repro.errors import InputError
    from repro.gan.presets import config_for
    from repro.localize.hunt import hunt

    if args.processes < 1 or args.steps < 1 or any(t < 1 for t in args.threads):
        raise InputError("--processes, --steps and every --threads value must be >= 1")
    config_for(args.variant, steps=args.steps, **parse_overrides(args.overrides))  # bad input fails before training
    if args.out:
        io.check_output_file(args.out, "--out file")

    def progress(round_no: int, threads: int, digest: str, seconds: float) -> None:
        if not args.quiet:
            print(f"round {round_no}/{args.processes} threads={threads}: {digest[:12]} ({seconds:.1f} s)",
                  file=sys.stderr, flush=True)

    result = hunt(args.variant, processes=args.processes, threads=tuple(args.threads), steps=args.steps,
                  sets=tuple(args.overrides), warm_cache=args.warm_cache, keep=args.keep, on_process=progress)
    if args.out:
        io.write_json(args.out, result.to_dict())
    if args.json:
        print_json(result.to_dict())
    else:
        m = result.machine
        print(f"{result.variant}, {result.steps} steps, deterministic, {result.processes} fresh processes per thread "
              f"count on {m.get('cpu_model')} ({m.get('cpus')} CPUs), torch {m.get('torch')}")
        print(result.summary())
        for r in result.results:
            for h, path in r.kept.items():
                print(f"kept {r.threads} thread(s) {h[:12]}: {path}")
    return 1 if (args.strict and result.varied) else 0
