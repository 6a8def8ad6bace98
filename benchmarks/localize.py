"""The cost of op-level localisation: a replayed step with every op hashed, against a plain step.

`repro localize` replays a window of each run with an op recorder (repro/localize/record.py:
every dispatched op's inputs and outputs hashed, its module and phase named, one JSON line
written per op). This times, in one process and interleaved (benchmarks/_bench.py: blocks of
steps in turn, each after its warm-up, so machine load hits both alike), training steps of one
model without the recorder and with it, and reports the median step times, their ratio with the
per-round range, the ops per step, the record bytes per step, and the extra peak memory of a
recorded step (the process's peak resident set after the recorded warm-up minus after the plain
one: the recorder's digest keys, its integer copies and its buffered records).
Target on a CPU: a recorded step within 3x of a plain one.

Default: the default audit's training run (resnet_all on digits at 16x16, batch 32, n_dis 5,
deterministic mode), at the thread count of this machine's default audit (2).

    python benchmarks/localize.py [--variant resnet_all] [--batch-size 32] [--threads 2] [--width W]
        [--rounds 5] [--steps 2] [--warmup 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile

import torch
from _bench import Contender, interleave, ratio, stats

from repro.determinism import execution_mode
from repro.gan.presets import config_for
from repro.localize.ops import ModulePaths
from repro.localize.record import Recorder
from repro.train.loop import Trainer


class Steps:
    """``run(n)``: n training steps of ``trainer``, with the op recorder around each or not."""

    def __init__(self, trainer: Trainer, record: bool, sink_path: str):
        self.trainer, self.record, self.sink_path = trainer, record, sink_path
        self.paths = ModulePaths({"G": trainer.G, "D": trainer.D})
        self.ops = self.bytes = self.steps = 0

    def __call__(self, n: int) -> None:
        if not self.record:
            for _ in range(n):
                self.trainer.train_step()
            return
        with open(self.sink_path, "w", encoding="utf-8") as sink, self.paths:
            recorder = Recorder(self.paths, sink)
            for _ in range(n):
                recorder.begin_step(self.trainer.step + 1)
                with recorder:
                    self.trainer.train_step()
                recorder.flush()
        self.ops += recorder.count
        self.bytes += os.path.getsize(self.sink_path)
        self.steps += n


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="resnet_all")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--width", type=float, default=None, help="channel multiplier (default: the preset's)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2, help="steps per timed block")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = p.parse_args()

    cfg = config_for(args.variant, batch_size=args.batch_size, threads=args.threads, device="cpu",
                     **({"width": args.width} if args.width else {}))
    with tempfile.TemporaryDirectory(prefix="repro-bench-localize-") as tmp:
        with execution_mode(cfg.mode, threads=cfg.threads):
            trainer = Trainer(cfg)
            plain = Steps(trainer, False, "")
            recorded = Steps(trainer, True, os.path.join(tmp, "ops.jsonl"))
            contenders = [Contender("plain step", plain, cfg.mode, "cpu"),
                          Contender("recorded step", recorded, cfg.mode, "cpu")]
            contenders[0].time_block(args.warmup)  # warm-ups, one after the other, for the memory reading
            rss_plain = peak_rss_mb()
            contenders[1].time_block(args.warmup)
            rss_recorded = peak_rss_mb()
            ops_per_step = recorded.ops / recorded.steps
            bytes_per_step = recorded.bytes / recorded.steps
            recorded.ops = recorded.bytes = recorded.steps = 0
            interleave(contenders, rounds=args.rounds, steps=args.steps, warmup=0)
    plain_s, rec_s = stats(contenders[0].blocks), stats(contenders[1].blocks)
    r = ratio(contenders[1].blocks, contenders[0].blocks)
    result = {"variant": args.variant, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
              "n_dis": cfg.n_dis, "width": cfg.width, "resolution": cfg.resolution, "torch": torch.__version__,
              "rounds": args.rounds, "steps_per_block": args.steps, "plain": plain_s, "recorded": rec_s,
              "ratio": r, "ops_per_step": ops_per_step, "record_bytes_per_step": bytes_per_step,
              "peak_rss_mb_plain": rss_plain, "peak_rss_mb_recorded": rss_recorded,
              "extra_peak_mb": rss_recorded - rss_plain}
    print(f"{args.variant}, batch {args.batch_size}, n_dis {cfg.n_dis}, {cfg.threads} threads, torch {torch.__version__}")
    print(f"plain step     {1e3 * plain_s['median_s']:9.1f} ms [{1e3 * plain_s['min_s']:.1f}-{1e3 * plain_s['max_s']:.1f}]")
    print(f"recorded step  {1e3 * rec_s['median_s']:9.1f} ms [{1e3 * rec_s['min_s']:.1f}-{1e3 * rec_s['max_s']:.1f}]")
    print(f"ratio          {r['ratio']:.2f}x (per round {r['round_min']:.2f}-{r['round_max']:.2f}; target <= 3x)")
    print(f"ops per step {ops_per_step:.0f}, record {bytes_per_step / 1e6:.1f} MB per step, extra peak memory "
          f"{rss_recorded - rss_plain:.0f} MB (peak RSS {rss_plain:.0f} -> {rss_recorded:.0f} MB)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
