"""Shared by the step benchmarks: synthetic data, the run loop's per-step work, interleaved timing.

Interleaving: every contender runs one block of steps per round, in turn (A B C A B C ...), each
after its own warm-up, so that machine load and clock changes hit every contender alike; a
block's time is its wall time over its steps (synchronised at both ends on CUDA, so it is the
throughput a run sees, host overhead included). We report the median block and the spread
(min and max over blocks).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from repro.config import TrainConfig  # noqa: E402
from repro.data.split import ArraySplit  # noqa: E402
from repro.determinism import execution_mode  # noqa: E402
from repro.train.steps import Stepper  # noqa: E402


def synthetic(cfg: TrainConfig, n: int = 512) -> ArraySplit:
    """Uniform-noise images of the config's shape (any resolution can be timed)."""
    rng = np.random.default_rng(0)
    images = rng.random((n, cfg.channels, cfg.resolution, cfg.resolution), dtype=np.float32)
    return ArraySplit("synthetic", "train", "uniform", images)


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class LoopRunner:
    """What ``repro train``'s loop does per step, without files or checkpoints: Stepper steps, the
    full-state trace hash every ``trace_every`` steps, a host read every ``sync_every`` steps."""

    def __init__(self, trainer):
        self.trainer, self.cfg = trainer, trainer.cfg
        self.stepper = Stepper(trainer)

    def __call__(self, n: int) -> None:
        for _ in range(n):
            step = self.stepper.step()
            if step % self.cfg.trace_every == 0:
                self.stepper.trace()
            if self.stepper.due():
                self.stepper.flush(wait=False)
        self.stepper.flush(wait=True)  # a block ends with everything read back and hashed

    def close(self) -> None:
        self.stepper.close()


@dataclass
class Contender:
    """``run(n)`` performs n steps; it is timed under ``mode`` on ``device``."""

    name: str
    run: Callable[[int], None]
    mode: str
    device: str
    fill_uninitialized_memory: bool = True  # the execution-mode switch of TrainConfig's field
    blocks: list[float] = field(default_factory=list)  # seconds per step, one per block

    @classmethod
    def of(cls, name: str, runner: "LoopRunner") -> "Contender":
        """Our loop, timed in its config's mode, device and fill setting."""
        cfg = runner.cfg
        return cls(name, runner, cfg.mode, str(runner.trainer.device), cfg.fill_uninitialized_memory)

    def time_block(self, steps: int) -> float:
        with execution_mode(self.mode, fill_uninitialized_memory=self.fill_uninitialized_memory):
            sync(self.device)
            start = time.perf_counter()
            self.run(steps)
            sync(self.device)
            return (time.perf_counter() - start) / steps


def interleave(contenders: list[Contender], *, rounds: int, steps: int, warmup: int) -> None:
    """Warm each contender up (``warmup`` steps), then ``rounds`` rounds of one block each, in turn."""
    for c in contenders:
        if warmup:
            c.time_block(warmup)
    for _ in range(rounds):
        for c in contenders:
            c.blocks.append(c.time_block(steps))


def stats(blocks: list[float]) -> dict[str, float]:
    """Median and spread of per-step times (seconds)."""
    return {"median_s": statistics.median(blocks), "min_s": min(blocks), "max_s": max(blocks), "blocks": len(blocks)}


def ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """median(a) / median(b), with the range from the per-round ratios (rounds pair the blocks)."""
    per_round = [x / y for x, y in zip(a, b)]
    return {"ratio": statistics.median(a) / statistics.median(b), "round_min": min(per_round),
            "round_max": max(per_round)}


def fmt_ms(s: dict[str, float]) -> str:
    return f"{1e3 * s['median_s']:9.2f} ms [{1e3 * s['min_s']:.2f}-{1e3 * s['max_s']:.2f}]"
