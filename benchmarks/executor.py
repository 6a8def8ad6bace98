"""The same small audit with ``local --jobs 1`` and ``ray`` at one thread per run: wall times,
their ratio, and whether every deterministic final hash matched (issue 12).

    python benchmarks/executor.py [--steps 10] [--checkpoint-every 5] [--variant resnet_all]

Both audits train every run from scratch into their own folder (a temp dir unless --out), with
``threads=1`` in every config, so their bits must agree. Times: the executor's start (a local Ray
instance, sized to this machine), its train + evaluate calls (what the executor changes), and
the whole audit after the start (analysis, the cost measurement and figures run in the driver
either way). The local audit runs first; on a shared machine rerun and compare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from repro.audit.run import run_audit  # noqa: E402
from repro.executor import make_executor  # noqa: E402


class Timed:
    """An executor that adds up the wall time of its train and evaluate calls."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0
        self.name, self.jobs, self.threads_per_task = inner.name, inner.jobs, inner.threads_per_task

    def _timed(self, fn, tasks, on_done):
        start = time.perf_counter()
        try:
            return fn(tasks, on_done=on_done)
        finally:
            self.seconds += time.perf_counter() - start

    def train(self, tasks, *, on_done=None):
        return self._timed(self.inner.train, tasks, on_done)

    def evaluate(self, tasks, *, on_done=None):
        return self._timed(self.inner.evaluate, tasks, on_done)

    def close(self):
        self.inner.close()


def one(name: str, out: Path, args) -> dict:
    start = time.perf_counter()
    ex = Timed(make_executor(name, jobs=args.jobs if name == "local" else None, threads_per_task=1))
    started = time.perf_counter() - start
    try:
        t0 = time.perf_counter()
        report = run_audit(args.variant, baseline_variant=args.baseline_variant,
                           overrides={"steps": args.steps, "checkpoint_every": args.checkpoint_every, "threads": 1},
                           out_dir=out, eval_seeds=args.eval_seeds, use_mlflow=False, progress=False,
                           cost_pairs=2, executor=ex)
        whole = time.perf_counter() - t0
    finally:
        ex.close()
    det = {r["id"]: r["final_param_hash"] for r in report["runs"] if r["mode"] == "deterministic"}
    return {"executor": name, "jobs": ex.jobs, "start_s": started, "train_eval_s": ex.seconds, "audit_s": whole,
            "runs": len(report["runs"]), "det_hashes": det}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="resnet_all")
    p.add_argument("--baseline-variant", default="resnet_default")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--eval-seeds", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="local processes (the reference: 1, in this process)")
    p.add_argument("--out", default=None, help="keep the two audits here (default: a temp dir, removed)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        local = one("local", root / "local", args)
        ray = one("ray", root / "ray", args)
    same = local["det_hashes"] == ray["det_hashes"] and all(local["det_hashes"].values())
    print(f"executor benchmark: {args.variant} vs {args.baseline_variant}, {local['runs']} runs x {args.steps} steps, "
          f"1 thread per run, {os.cpu_count()} CPUs")
    for r in (local, ray):
        print(f"  {r['executor']:<5} jobs={r['jobs']}: start {r['start_s']:.1f} s, train+evaluate "
              f"{r['train_eval_s']:.1f} s, whole audit {r['audit_s']:.1f} s")
    print(f"  wall-time ratio local/ray: train+evaluate {local['train_eval_s'] / ray['train_eval_s']:.2f}, "
          f"whole audit incl. Ray start {local['audit_s'] / (ray['audit_s'] + ray['start_s']):.2f}")
    print(f"  deterministic final hashes: {len(local['det_hashes'])} runs, "
          f"{'all matched' if same else 'MISMATCH'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"local": local, "ray": ray, "hashes_match": same}, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
