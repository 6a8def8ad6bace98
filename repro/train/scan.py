"""Find the ops of a training step that have no deterministic implementation on this device."""

from __future__ import annotations

import re
import warnings
from typing import Any

from repro.config import TrainConfig
from repro.determinism import execution_mode
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
