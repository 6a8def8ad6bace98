"""repro evaluate: FID / IS / KID of run directories -> metrics.json (printed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from repro.errors import InputError


def add_parser(sub) -> None:
    from repro.metrics.protocols import DEFAULT_EVAL_SEEDS, N_BOOT, PROTOCOLS

    p = sub.add_parser("evaluate", help="score runs: FID (bootstrap CI, eval-seed noise), IS, KID -> metrics.json",
                       description="Evaluate the latest checkpoint of each RUN_DIR against the test split under a "
                                   "named protocol and write RUN_DIR/metrics.json, or OUT_DIR/<run name>.json with "
                                   "--out-dir (flat keys, with the settings that produced them).")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--protocol", default="auto",
                   help=f"evaluation protocol ({PROTOCOLS.names_text()}); auto = by --extractor, else "
                        "fid_digits_cnn_test for digits and fid_ttur_test otherwise")
    p.add_argument("--extractor", default="auto",
                   help="feature extractor (digits-cnn, inception-v3-fid); auto = the protocol's")
    p.add_argument("--no-quantize", dest="quantize", action="store_const", const=False, default=None,
                   help="skip the protocol's rounding of both image sets to 8-bit levels (recorded as protocol 'custom')")
    p.add_argument("--extractor-weights", default=None, help="weights file of the extractor (default: its cache)")
    p.add_argument("--out-dir", default=None, help="write OUT_DIR/<run dir name>.json instead of RUN_DIR/metrics.json")
    p.add_argument("--num-samples", type=int, default=None,
                   help="generated samples (default: size of the test split, as the protocols fix; another "
                        "number is recorded as protocol 'custom')")
    p.add_argument("--all-checkpoints", action="store_true",
                   help="also FID of every checkpoint and the minimum over them (compare_gan's report)")
    p.add_argument("--eval-seeds", type=int, default=DEFAULT_EVAL_SEEDS,
                   help=f"evaluation seeds: FID per seed into fid_eval_values and their std (default {DEFAULT_EVAL_SEEDS}: "
                        "the std is then known to about +-24%%, against +-50%% with 3)")
    p.add_argument("--eval-seed", type=int, default=0, help="first evaluation seed (default 0)")
    p.add_argument("--n-boot", type=int, default=N_BOOT,
                   help=f"bootstrap replicates for the FID interval and fid_boot_std (default {N_BOOT})")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro.metrics.evaluate import evaluate_run

    names = [Path(d).resolve().name for d in args.run_dirs]
    if args.out_dir and len(set(names)) != len(names):
        raise InputError(f"--out-dir needs run directories with distinct names, got {names}")
    outs = _check_outputs(args.run_dirs, names, args.out_dir)  # before any computation
    results = {}
    for run_dir, out in zip(args.run_dirs, outs):
        _say_what_is_scored(run_dir)
        results[run_dir] = evaluate_run(run_dir, protocol=args.protocol, extractor=args.extractor,
                                        num_samples=args.num_samples, quantize=args.quantize,
                                        all_checkpoints=args.all_checkpoints, eval_seed=args.eval_seed,
                                        eval_seeds=args.eval_seeds, n_boot=args.n_boot,
                                        extractor_weights=args.extractor_weights, out=out)
    print(json.dumps(results[args.run_dirs[0]] if len(results) == 1 else results, indent=2, sort_keys=True))
    return 0


def _check_outputs(run_dirs: list[str], names: list[str], out_dir: str | None) -> list[Path]:
    """Every input is a run directory and every output can be written: refuse now, not after scoring."""
    from repro import io, rundir

    for run_dir in run_dirs:
        path = Path(run_dir)
        if not path.is_dir():
            kind = "a file" if path.exists() else "missing"
            raise InputError(f"{run_dir} is {kind}, not a run directory (repro evaluate takes directories written "
                             "by repro train)")
        if not (path / rundir.RUN).is_file():
            raise InputError(f"{run_dir} is not a run directory: it has no {rundir.RUN}")
    if out_dir:
        io.check_output_dir(out_dir, "--out-dir")
        outs = [Path(out_dir) / f"{name}.json" for name in names]
    else:
        outs = [Path(run_dir) / rundir.METRICS for run_dir in run_dirs]
    for out in outs:
        io.check_output_file(out, "metrics file")
    return outs


def _say_what_is_scored(run_dir: str) -> None:
    """A run that did not complete is scored at its last checkpoint, with a warning that says so."""
    from repro import lock, rundir

    record = rundir.read_run(run_dir)
    status = record.get("status")
    if status in ("completed", "diverged"):  # a diverged run is refused by evaluate_run itself
        return
    steps = rundir.checkpoint_steps(run_dir)
    busy = f"; PID {lock.holder_pid(run_dir)} is training it now" if lock.is_locked(run_dir) else ""
    print(f"repro: warning: run {run_dir} is {status!r}, not completed ({record.get('steps_completed')} of "
          f"{record.get('steps')} steps{busy}): scoring its last checkpoint, step {steps[-1] if steps else None}",
          file=sys.stderr)
