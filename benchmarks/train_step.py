"""Median training-step time per architecture, resolution and mode, and the cost of tracing.

For each architecture at 16 and 32 px it measures, in one process and interleaved (so that
machine load hits both sides alike):

- the median step time in deterministic and in nondeterministic mode, and their ratio;
- the cost of the step trace's full-state hash at the default interval (trace_every) and of
  the per-tensor hashes at the default checkpoint interval, relative to the step time,
  measured on the same trainer in the same run: median hash time / interval / median step time.

Targets on a CPU: determinism costs under 5%, tracing under 5%.
Synthetic images (uniform noise) stand in for data so that every resolution can be timed.

    python benchmarks/train_step.py [--width 0.125] [--steps 6] [--rounds 3] [--archs resnet,...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from repro.config import TrainConfig
from repro.data.split import ArraySplit
from repro.determinism import execution_mode
from repro.train.loop import Trainer, timed_step


def synthetic(cfg: TrainConfig, n: int = 512) -> ArraySplit:
    rng = np.random.default_rng(0)
    images = rng.random((n, cfg.channels, cfg.resolution, cfg.resolution), dtype=np.float32)
    return ArraySplit("synthetic", "train", "uniform", images)


def time_steps(trainer: Trainer, n: int) -> list[float]:
    return [timed_step(trainer)[1] for _ in range(n)]


def time_call(fn, n: int = 5) -> float:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def main() -> None:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="sndcgan,dcgan,resnet,resnet19")
    p.add_argument("--resolutions", default="16,32")
    p.add_argument("--width", type=float, default=defaults.width)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--steps", type=int, default=5, help="timed steps per block")
    p.add_argument("--rounds", type=int, default=3, help="interleaved blocks per mode")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, width {args.width}, "
          f"batch {args.batch_size}, trace_every {defaults.trace_every}, checkpoint_every {defaults.checkpoint_every}")
    header = f"{'arch':9} {'res':>4} {'det s/step':>11} {'nondet s/step':>14} {'det/nondet':>11} {'trace cost':>11}"
    print(header)
    print("-" * len(header))
    ratios, trace_costs = [], []
    for arch in args.archs.split(","):
        for res in map(int, args.resolutions.split(",")):
            cfg = TrainConfig(architecture=arch, resolution=res, channels=1 if res == 16 else 3, width=args.width,
                              batch_size=args.batch_size, device="cpu")
            split = synthetic(cfg)
            trainers = {}
            for mode in ("deterministic", "nondeterministic"):
                with execution_mode(mode):
                    trainers[mode] = Trainer(cfg.replace(mode=mode), split)
                    time_steps(trainers[mode], 1)  # warm-up: allocation, first-call dispatch
            times = {"deterministic": [], "nondeterministic": []}
            hash_s, digests_s = [], []
            for _ in range(args.rounds):
                for mode in ("deterministic", "nondeterministic"):
                    with execution_mode(mode):
                        times[mode] += time_steps(trainers[mode], args.steps)
                hash_s.append(time_call(trainers["deterministic"].full_hash))
                digests_s.append(time_call(trainers["deterministic"].named_digests))
            det, nondet = statistics.median(times["deterministic"]), statistics.median(times["nondeterministic"])
            # amortised: the trace hash runs once per trace_every steps, the per-tensor hashes
            # once per checkpoint_every steps
            per_step = (statistics.median(hash_s) / defaults.trace_every
                        + statistics.median(digests_s) / defaults.checkpoint_every)
            trace_cost = per_step / det
            ratios.append(det / nondet)
            trace_costs.append(trace_cost)
            print(f"{arch:9} {res:4d} {det:11.4f} {nondet:14.4f} {det / nondet:11.3f} {100 * trace_cost:10.2f}%",
                  flush=True)
    print(f"median det/nondet ratio {statistics.median(ratios):.3f} (target < 1.05); "
          f"median tracing cost {100 * statistics.median(trace_costs):.2f}% (target < 5%)")


if __name__ == "__main__":
    main()
