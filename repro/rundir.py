"""The run directory: the unit every later stage reads.

Layout::

    RUN/repro-run.json           the marker: written first, it says a repro run owns this folder
    RUN/config.json              resolved TrainConfig
    RUN/run.json                 status (running|completed|diverged|failed), mode, seed,
                                 steps_completed, final_param_hash, wall time, step times
    RUN/fingerprint.json         environment fingerprint (repro.fingerprint.collect)
    RUN/trace.jsonl              one line per generator step: step, d_loss, g_loss, penalty,
                                 step_time_s; every trace_every steps also param_hash
    RUN/checkpoints/step_NNNNNN.pt           model, optimiser, every RNG and the sampler state
    RUN/checkpoints/step_NNNNNN.hashes.json  per-tensor sha256 of that checkpoint
    RUN/metrics.json             written by ``repro evaluate``

A checkpoint's hashes file is written before the checkpoint is published (``os.replace``), so a
checkpoint that exists always has its hashes; loading one verifies its tensors against them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from torch import nn

from repro import hashing, io
from repro.config import TrainConfig, from_record
from repro.errors import InputError
from repro.gan import architectures

CONFIG = "config.json"
RUN = "run.json"
FINGERPRINT = "fingerprint.json"
TRACE = "trace.jsonl"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.json"
MARKER = "repro-run.json"
MARKER_SCHEMA = "repro.run/1"
STATUSES = ("running", "completed", "diverged", "failed")
# every name a run writes at its top level (the lock file comes and goes with the writer)
RUN_FILES = (MARKER, CONFIG, RUN, FINGERPRINT, TRACE, METRICS, CHECKPOINTS)
_CKPT = re.compile(r"^step_(\d{6,})\.pt$")
# what a run writes inside checkpoints/: checkpoints, their hashes, rejected ones, temp files
_CKPT_FILES = re.compile(r"^(step_\d{6,}\.(pt|hashes\.json)(\.rejected)?|\..+\.tmp)$")


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


def write_marker(run_dir: str | Path) -> None:
    io.write_json(Path(run_dir) / MARKER, {"schema": MARKER_SCHEMA, "written_by": "repro train",
                                           "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def is_run_dir(run_dir: str | Path) -> bool:
    """True when ``run_dir`` was written by ``repro train``: it holds the marker, or (a run made
    before the marker existed) a ``config.json`` that is a complete, valid TrainConfig and, if
    present, a ``run.json`` with a run status."""
    run_dir = Path(run_dir)
    if (run_dir / MARKER).is_file():
        try:
            return io.read_json(run_dir / MARKER, "run marker").get("schema") == MARKER_SCHEMA
        except (ValueError, AttributeError):
            return False
    try:
        read_config(run_dir)
        if (run_dir / RUN).exists() and read_run(run_dir).get("status") not in STATUSES:
            return False
    except (ValueError, TypeError, AttributeError, OSError):
        return False
    return True


def foreign_files(run_dir: str | Path) -> list[str]:
    """Names in ``run_dir`` a run would write but that no run wrote (empty when it is a run)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or is_run_dir(run_dir):
        return []
    return [name + ("/" if (run_dir / name).is_dir() else "") for name in RUN_FILES if (run_dir / name).exists()]


def remove_run(run_dir: str | Path) -> list[str]:
    """Delete what a run wrote in ``run_dir`` and nothing else; return what was kept.

    Only the names of :data:`RUN_FILES`, and inside ``checkpoints/`` only checkpoint, hashes
    and temp files, are removed; anything else (a user's notes, a foreign file in checkpoints/)
    stays. Refuses (``ValueError``) a folder that is not a run directory.
    """
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise InputError(f"{run_dir} is not a run directory (no {MARKER}); refusing to delete anything in it")
    kept = []
    folder = run_dir / CHECKPOINTS
    if folder.is_dir():
        for path in folder.iterdir():
            if _CKPT_FILES.match(path.name) and path.is_file():
                path.unlink()
            else:
                kept.append(f"{CHECKPOINTS}/{path.name}")
        if not kept:
            folder.rmdir()
    for name in RUN_FILES:  # the marker last: a crash in between leaves a run directory
        path = run_dir / name
        if name != CHECKPOINTS and path.is_file():
            path.unlink()
    return kept


def read_config(run_dir: str | Path) -> TrainConfig:
    return from_record(io.read_json(Path(run_dir) / CONFIG, "run config"))


def read_run(run_dir: str | Path) -> dict:
    return io.read_json(Path(run_dir) / RUN, "run record")


def read_trace(run_dir: str | Path) -> list[dict]:
    """The step trace as a list of dicts.

    The last line may be torn by a crash mid-append and is then dropped; a damaged line anywhere
    else (or a line that is not a step record) is a ``ValueError`` naming the file and line:
    silently dropping it would drop steps from a resume or a comparison.
    """
    path = Path(run_dir) / TRACE
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"damaged trace {path}: not UTF-8 text ({exc})") from None
    lines = text.rstrip("\x00").splitlines()  # a power loss can leave NUL bytes at the end
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if not (isinstance(row, dict) and isinstance(row.get("step"), int)):
                raise InputError("not a step record")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            if number == len(lines):
                break  # a torn last append: the writer was killed mid-line
            raise InputError(f"damaged trace {path} line {number}: {exc}; the trace after it cannot be "
                             "trusted (retrain the run with --force)") from None
        rows.append(row)
    return rows


def read_hashes(run_dir: str | Path, step: int) -> dict[str, str]:
    return io.read_json(hashes_path(run_dir, step), "checkpoint hashes")


def differing_tensors(expected: dict[str, str], got: dict[str, str]) -> list[str]:
    """Names whose digest differs, or that only one side has, sorted."""
    return sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))


def _describe(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def verify_models(run_dir: str | Path, step: int, ckpt: dict) -> None:
    """Check the generator and discriminator tensors of ``ckpt`` against the checkpoint's hashes
    file; a mismatch or a missing hashes file is a ``ValueError`` naming the checkpoint."""
    path = checkpoint_path(run_dir, step)
    expected = {k: v for k, v in read_hashes(run_dir, step).items() if k.startswith(("generator.", "discriminator."))}
    got = hashing.tensor_digests({"generator": ckpt["generator"], "discriminator": ckpt["discriminator"]})
    bad = differing_tensors(expected, got)
    if bad:
        raise InputError(f"checkpoint {path} does not match its hashes {hashes_path(run_dir, step).name}: "
                         f"{len(bad)} tensor(s) differ ({_describe(bad)}); the file was changed after it was written")


def load_checkpoint(run_dir: str | Path, step: int | None = None, *, verify: bool = True) -> dict:
    """The checkpoint at ``step`` (latest when None), loaded with ``weights_only=True``.

    ``verify`` checks the model tensors against the per-tensor hashes written with it
    (:func:`verify_models`); the trainer's resume checks every tensor, optimiser state included.
    """
    steps = checkpoint_steps(run_dir)
    if not steps:
        raise InputError(f"no checkpoint in {Path(run_dir) / CHECKPOINTS}")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise InputError(f"no checkpoint at step {step} in {run_dir}; available steps: {steps}")
    ckpt = io.torch_load(checkpoint_path(run_dir, step))
    if verify:
        verify_models(run_dir, step, ckpt)
    return ckpt


def load_generator(run_dir: str | Path, step: int | None = None) -> tuple[nn.Module, TrainConfig]:
    """The generator of a run (eval mode, CPU) at ``step`` (latest checkpoint when None)."""
    return _load_net(run_dir, step, "generator")


def load_discriminator(run_dir: str | Path, step: int | None = None) -> tuple[nn.Module, TrainConfig]:
    return _load_net(run_dir, step, "discriminator")


def _load_net(run_dir, step, which: str):
    cfg = read_config(run_dir)
    ckpt = load_checkpoint(run_dir, step)
    nets = dict(zip(("generator", "discriminator"), architectures.build(cfg)))
    net = nets[which]
    net.load_state_dict(ckpt[which])
    net.eval()
    return net, cfg
