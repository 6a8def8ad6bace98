"""repro evaluate: FID / IS / KID of run directories -> metrics.json (printed)."""

from __future__ import annotations

import json
from pathlib import Path


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
        raise ValueError(f"--out-dir needs run directories with distinct names, got {names}")
    results = {}
    for run_dir, name in zip(args.run_dirs, names):
        out = Path(args.out_dir) / f"{name}.json" if args.out_dir else None
        results[run_dir] = evaluate_run(run_dir, protocol=args.protocol, extractor=args.extractor,
                                        num_samples=args.num_samples, quantize=args.quantize,
                                        all_checkpoints=args.all_checkpoints, eval_seed=args.eval_seed,
                                        eval_seeds=args.eval_seeds, n_boot=args.n_boot,
                                        extractor_weights=args.extractor_weights, out=out)
    print(json.dumps(results[args.run_dirs[0]] if len(results) == 1 else results, indent=2, sort_keys=True))
    return 0
