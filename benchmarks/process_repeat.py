"""Is a deterministic CPU run the same bits in every fresh process? Counted, per thread count.

The audit's deterministic pair trains both replicates in one process (the local executor's
default), so it cannot see a race that decides a result once per process, at a kernel's first
call. This trains the same short deterministic run in ``--processes`` fresh interpreters for each
intra-op thread count, the counts interleaved round by round (so machine load hits each alike),
and prints how many distinct final parameter hashes each count gave.

Why it exists: CI (2-core Intel Xeon, torch 2.13.0 CPU, oneDNN 3.12, MKL 2024.2) failed a gate
because `resnet_all/deterministic-s0-r0` ended on another hash than `-r1` of the same process;
on this machine, 2-thread runs of `resnet_all` (10 steps) then gave one alternative hash in a
minority of fresh processes, in bursts, while 1-thread runs never varied. No library is named
here because none was isolated. ``make gate-ci`` therefore runs at one thread.

Each process gets a fresh cache directory by default (``REPRO_CACHE_DIR``: the digits arrays are
rebuilt from scikit-learn, as on a fresh CI machine); ``--warm-cache`` shares one.

    python benchmarks/process_repeat.py [--processes 10] [--threads 1 2] [--steps 10]
        [--variant resnet_all] [--set KEY=VALUE ...] [--out FILE] [--strict]

Exit status: 0, or with ``--strict`` 1 when some thread count gave more than one hash.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_once(variant: str, steps: int, threads: int, cache: str | None,
               sets: list[str] = ()) -> tuple[str, float]:
    """(final parameter hash, wall seconds) of one deterministic run in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="repro-repeat-") as tmp:
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "REPRO_CACHE_DIR": cache or os.path.join(tmp, "cache")}
        out = os.path.join(tmp, "run")
        cmd = [sys.executable, "-m", "repro", "train", "--quiet", "--variant", variant, "--steps", str(steps),
               "--checkpoint-every", str(steps), "--set", f"threads={threads}", "--set", "device=cpu",
               *[a for kv in sets for a in ("--set", kv)], "--mode", "deterministic", "--out", out]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"process_repeat: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        with open(os.path.join(out, "run.json"), encoding="utf-8") as fh:
            return json.load(fh)["final_param_hash"], seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=10, help="fresh processes per thread count (default 10)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts (default 1 2)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--variant", default="resnet_all")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run, e.g. --set width=0.25 (repeatable)")
    p.add_argument("--warm-cache", action="store_true", help="one shared cache directory instead of one per process")
    p.add_argument("--out", default=None, help="write the counts as JSON here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a thread count gave more than one hash")
    args = p.parse_args(argv)
    if args.processes < 1 or args.steps < 1 or any(t < 1 for t in args.threads):
        p.error("--processes, --steps and every --threads value must be >= 1")

    hashes: dict[int, list[str]] = {t: [] for t in args.threads}
    seconds: dict[int, list[float]] = {t: [] for t in args.threads}
    with tempfile.TemporaryDirectory(prefix="repro-repeat-cache-") as shared:
        for i in range(args.processes):
            for t in args.threads:  # interleaved: each round runs every thread count once
                h, s = train_once(args.variant, args.steps, t, shared if args.warm_cache else None, args.sets)
                hashes[t].append(h)
                seconds[t].append(s)
                print(f"round {i + 1}/{args.processes} threads={t}: {h[:12]} ({s:.1f} s)", flush=True)

    print(f"\n{args.variant}, {args.steps} steps, deterministic mode, {args.processes} fresh processes per thread count")
    print(f"{'threads':>7}  {'distinct hashes':>15}  counts (hash prefix: processes)")
    result = {"variant": args.variant, "steps": args.steps, "processes": args.processes, "sets": args.sets,
              "warm_cache": args.warm_cache, "threads": {}}
    varied = False
    for t in args.threads:
        counts = collections.Counter(hashes[t]).most_common()
        varied |= len(counts) > 1
        print(f"{t:>7}  {len(counts):>15}  " + ", ".join(f"{h[:12]}: {n}" for h, n in counts))
        result["threads"][str(t)] = {"distinct": len(counts), "counts": dict(counts), "seconds": seconds[t]}
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
        os.replace(tmp, args.out)
    return 1 if (args.strict and varied) else 0


if __name__ == "__main__":
    sys.exit(main())
