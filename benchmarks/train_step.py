"""CPU step time: determinism's cost per architecture, tracing's cost, and the speed settings.

Default table: for each architecture at 16 and 32 px, in one process and interleaved (so that
machine load hits both sides alike), the median step time in deterministic and in
nondeterministic mode and their ratio; and the cost of the step trace's full-state hash at the
default interval (trace_every) and of the per-tensor hashes at the default checkpoint interval,
relative to the step time (median hash time / interval / median step time).
Targets on a CPU: determinism costs under 5%, tracing under 5%.

``--knobs``: one architecture, interleaved, the run loop's per-step work (steps, trace hashes,
host reads: benchmarks/_bench.py LoopRunner) with each speed setting of TrainConfig on, against
the defaults; plus the loop as it was before the settings existed (``timed_step`` and a
synchronous hash every trace_every steps), so "defaults must not make the CPU slower" is
measured. ``--compile`` adds compile=default (Inductor compiles for minutes on a small CPU;
the compile is in the warm-up, not in the timed blocks).

Synthetic images (uniform noise) stand in for data so that every resolution can be timed.

    python benchmarks/train_step.py [--width 0.125] [--steps 6] [--rounds 3] [--archs resnet,...]
    python benchmarks/train_step.py --knobs [--arch resnet --resolution 16] [--threads 1] [--compile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from _bench import Contender, LoopRunner, fmt_ms, interleave, ratio, stats, synthetic

from repro.config import TrainConfig, to_dict
from repro.determinism import execution_mode
from repro.train.loop import Trainer, timed_step


def time_steps(trainer: Trainer, n: int) -> list[float]:
    return [timed_step(trainer)[1] for _ in range(n)]


def time_call(fn, n: int = 5) -> float:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def modes_table(args) -> None:
    defaults = TrainConfig()
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


# The settings measured by --knobs: name -> TrainConfig changes (each against the defaults).
KNOBS = {
    "adam_impl=foreach": {"adam_impl": "foreach"},
    "adam_impl=fused": {"adam_impl": "fused"},
    "memory_format=channels_last": {"memory_format": "channels_last"},
    "sync_every=10": {"sync_every": 10},
    "trace_async": {"trace_async": True},
    "fill_uninitialized_memory=false": {"fill_uninitialized_memory": False},
    "all but compile": {"adam_impl": "fused", "memory_format": "channels_last", "sync_every": 10,
                        "trace_async": True},
}


def old_loop(trainer: Trainer):
    """The loop before the speed settings: a synchronised step, losses read as floats, and a
    synchronous full-state hash every trace_every steps."""

    def run(n: int) -> None:
        for _ in range(n):
            timed_step(trainer)
            if trainer.step % trainer.cfg.trace_every == 0:
                trainer.full_hash()

    return run


def knobs_table(args) -> dict:
    cfg = TrainConfig(architecture=args.arch, resolution=args.resolution, channels=args.channels,
                      width=args.width, batch_size=args.batch_size, device="cpu", mode=args.mode)
    split = synthetic(cfg)
    knobs = dict(KNOBS)
    if args.compile:
        knobs["compile=default"] = {"compile": "default"}
    contenders, runners = [], []
    with execution_mode(args.mode):
        base = Trainer(cfg, split)
        contenders.append(Contender("before (old loop)", old_loop(base), args.mode, "cpu"))
        for name, changes in {"defaults": {}, **knobs}.items():
            runner = LoopRunner(Trainer(cfg.replace(**changes), split))
            runners.append(runner)
            contenders.append(Contender.of(name, runner))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.arch} {args.resolution}px "
          f"x{args.channels}, width {args.width}, batch {args.batch_size}, {args.mode}; "
          f"{args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up steps", flush=True)
    start = time.perf_counter()
    interleave(contenders, rounds=args.rounds, steps=args.steps, warmup=args.warmup)
    for runner in runners:
        runner.close()
    reference = contenders[1].blocks  # the defaults
    print(f"{'setting':32} {'per step (median [min-max])':>34} {'/ defaults':>11} {'round range':>14}")
    rows = {}
    for c in contenders:
        s, r = stats(c.blocks), ratio(c.blocks, reference)
        rows[c.name] = {**s, "vs_defaults": r}
        print(f"{c.name:32} {fmt_ms(s):>34} {r['ratio']:11.3f} {r['round_min']:6.3f}-{r['round_max']:.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")
    return {"config": to_dict(cfg), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "rounds": args.rounds, "steps": args.steps, "rows": rows}


def main() -> None:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", default="sndcgan,dcgan,resnet,resnet19")
    p.add_argument("--resolutions", default="16,32")
    p.add_argument("--width", type=float, default=defaults.width)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--steps", type=int, default=None, help="timed steps per block (default 5; --knobs 10)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved blocks per contender")
    p.add_argument("--knobs", action="store_true", help="measure each speed setting against the defaults")
    p.add_argument("--arch", default="resnet", help="--knobs: architecture")
    p.add_argument("--resolution", type=int, default=16, help="--knobs: image side")
    p.add_argument("--channels", type=int, default=1, help="--knobs: image channels")
    p.add_argument("--mode", default="deterministic", help="--knobs: execution mode")
    p.add_argument("--warmup", type=int, default=2, help="--knobs: warm-up steps per contender")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    p.add_argument("--compile", action="store_true", help="--knobs: also compile=default (minutes on a CPU)")
    p.add_argument("--out", default=None, help="--knobs: also write the results as JSON")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.knobs:
        args.steps = args.steps or 5
        modes_table(args)
        return
    args.steps = args.steps or 10
    result = knobs_table(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
