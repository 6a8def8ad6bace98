"""The run directory: the unit every later stage reads.

Layout::

    RUN/config.json              resolved TrainConfig
    RUN/run.json                 status (running|completed|diverged|failed), mode, seed,
                                 steps_completed, final_param_hash, wall time, step times
    RUN/fingerprint.json         environment fingerprint (repro.fingerprint.collect)
    RUN/trace.jsonl              one line per generator step: step, d_loss, g_loss, penalty,
                                 step_time_s; every trace_every steps also param_hash
    RUN/checkpoints/step_NNNNNN.pt           model, optimiser, every RNG and the sampler state
    RUN/checkpoints/step_NNNNNN.hashes.json  per-tensor sha256 of that checkpoint
    RUN/metrics.json             written by ``repro evaluate``
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from repro import io
from repro.config import TrainConfig, from_dict

CONFIG = "config.json"
RUN = "run.json"
FINGERPRINT = "fingerprint.json"
TRACE = "trace.jsonl"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.json"
_CKPT = re.compile(r"^step_(\d{6,})\.pt$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step_{step:06d}.pt"


def hashes_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step_{step:06d}.hashes.json"


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """Steps of the checkpoints in ``run_dir``, ascending (temp files of a crash are ignored)."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _CKPT.match(p.name)))


def read_config(run_dir: str | Path) -> TrainConfig:
    return from_dict(io.read_json(Path(run_dir) / CONFIG, "run config"))


def read_run(run_dir: str | Path) -> dict:
    return io.read_json(Path(run_dir) / RUN, "run record")


def read_trace(run_dir: str | Path) -> list[dict]:
    """The step trace as a list of dicts (a torn last line from a crash is dropped)."""
    import json

    path = Path(run_dir) / TRACE
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be torn: appends are sequential
    return rows


def read_hashes(run_dir: str | Path, step: int) -> dict[str, str]:
    return io.read_json(hashes_path(run_dir, step), "checkpoint hashes")


def load_checkpoint(run_dir: str | Path, step: int | None = None) -> dict:
    """The checkpoint at ``step`` (latest when None), loaded with ``weights_only=True``."""
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise ValueError(f"no checkpoint in {Path(run_dir) / CHECKPOINTS}")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise ValueError(f"no checkpoint at step {step} in {run_dir}; available steps: {steps}")
    return io.torch_load(checkpoint_path(run_dir, step))


def load_generator(run_dir: str | Path, step: int | None = None) -> tuple[nn.Module, TrainConfig]:
    """The generator of a run (eval mode, CPU) at ``step`` (latest checkpoint when None)."""
    return _load_net(run_dir, step, "generator")


def load_discriminator(run_dir: str | Path, step: int | None = None) -> tuple[nn.Module, TrainConfig]:
    return _load_net(run_dir, step, "discriminator")


def _load_net(run_dir, step, which: str):
    from repro.gan import architectures

    cfg = read_config(run_dir)
    ckpt = load_checkpoint(run_dir, step)
    nets = dict(zip(("generator", "discriminator"), architectures.build(cfg)))
    net = nets[which]
    net.load_state_dict(ckpt[which])
    net.eval()
    return net, cfg
