"""Find the ops of a training step that have no deterministic implementation on this device
(:func:`scan`), or that give different bits when run twice on the same inputs (:func:`run_twice`)."""

from __future__ import annotations

import re
import warnings
from typing import Any

from repro.config import TrainConfig
from repro.determinism import execution_mode
from repro.localize.ops import ModulePaths
from repro.localize.twice import TwiceMode, TwiceResult
from repro.train.loop import Trainer

# PyTorch's wording when warn_only=True meets an op without a deterministic kernel, e.g.
# "adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you set ..."
_NONDET = re.compile(r"^(?P<op>\S+) does not have a deterministic implementation")


def scan(cfg: TrainConfig, steps: int = 1) -> dict[str, Any]:
    """Run ``steps`` training steps with deterministic algorithms in warn-only mode.

    Returns ``{"device", "ops": [{"op", "message"}], "note"}``: every distinct op that
    warned. On a CPU none is expected; the note says that the result is a CPU result.
    """
    found: dict[str, str] = {}
    with execution_mode("deterministic", warn_only=True, threads=cfg.threads):
        trainer = Trainer(cfg.replace(mode="deterministic"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(steps):
                trainer.train_step()
    for w in caught:
        text = str(w.message)
        match = _NONDET.match(text)
        if match or "deterministic" in text:
            found.setdefault(match.group("op") if match else text.split(" ")[0], text.splitlines()[0])
    device = str(trainer.device)
    note = (f"{len(found)} op(s) without a deterministic implementation on {device}"
            if found else f"no op without a deterministic implementation was found on {device}")
    if trainer.device.type == "cpu":
        note += " (a CPU result: CUDA kernels differ; run this on the GPU you train on)"
    return {"device": device, "architecture": cfg.architecture, "steps": steps,
            "ops": [{"op": op, "message": msg} for op, msg in sorted(found.items())], "note": note}


def run_twice(cfg: TrainConfig, steps: int = 1) -> TwiceResult:
    """Run ``steps`` training steps in ``cfg``'s mode with every op run twice on the same inputs
    (:class:`repro.localize.twice.TwiceMode`); the ops whose two results differ, with their
    module path and phase. The first step's ops are those of a fresh run (model init, first
    batches), so kernels chosen on first use (cuDNN benchmark) are checked as a run meets them."""
    with execution_mode(cfg.mode, threads=cfg.threads, fill_uninitialized_memory=cfg.fill_uninitialized_memory):
        trainer = Trainer(cfg)
        paths = ModulePaths({"G": trainer.G, "D": trainer.D})
        mode = TwiceMode(paths)
        with paths:
            for step in range(1, steps + 1):
                mode.step = step
                paths.new_step()
                with mode:
                    trainer.train_step()
    rows = tuple(sorted(mode.rows(), key=lambda r: (r.first_step, -r.differing, r.op, r.module)))
    return TwiceResult(str(trainer.device), steps, mode.calls, rows, mode.skipped)
