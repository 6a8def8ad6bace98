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
    RUN/checkpoints/step_NNNNNN.hashes.json  per-tensor sha256 of that checkpoint, the sha256 of the
                                             whole file ("#sha256") and its kind ("#kind": step | time)
    RUN/metrics.json             written by ``repro evaluate``

A checkpoint's hashes file is written before the checkpoint is published (``os.replace``), so a
checkpoint that exists always has its hashes; loading one verifies its tensors against them, and a
resume verifies the whole file (RNG states, sampler, step and optimiser settings included).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from torch import nn

from repro import hashing, io
from repro.config import TrainConfig, from_record
from repro.errors import InputError, SchemaError
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
FINISHED = ("completed", "diverged")
# keys of a hashes file that name no tensor: the sha256 of the whole checkpoint file, and the kind of
# checkpoint ("step": on the checkpoint_every schedule or the last step; "time": a resume point written
# after checkpoint_minutes of wall time, removed once a newer checkpoint exists)
FILE_SHA256, KIND = "#sha256", "#kind"
CHECKPOINT_KINDS = ("step", "time")
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


def marker_schema(run_dir: str | Path) -> str | None:
    """The schema named by the marker in ``run_dir`` (None when there is no marker). A marker that
    is not a JSON object with a string ``schema`` is an :class:`InputError` naming the file."""
    path = Path(run_dir) / MARKER
    if not path.is_file():
        return None
    data = io.read_json(path, "run marker")
    if not isinstance(data, dict) or not isinstance(data.get("schema"), str):
        raise SchemaError(f"damaged run marker {path}: expected an object with a \"schema\" string, got "
                          f"{_shape(data)}")
    return data["schema"]


def check_marker(run_dir: str | Path) -> None:
    """Refuse a run directory whose marker another version of repro wrote (a newer run schema):
    this version can neither continue nor safely replace what it does not know."""
    schema = marker_schema(run_dir)
    if schema is not None and schema != MARKER_SCHEMA:
        raise SchemaError(f"{run_dir} holds a run written by another version of repro: its marker "
                          f"{Path(run_dir) / MARKER} says schema {schema!r}, this repro reads {MARKER_SCHEMA!r}; "
                          "use the repro version that wrote it, or choose another --out")


def is_run_dir(run_dir: str | Path) -> bool:
    """True when ``run_dir`` was written by ``repro train``: it holds the marker, or (a run made
    before the marker existed) a ``config.json`` that is a complete, valid TrainConfig and, if
    present, a ``run.json`` with a run status."""
    run_dir = Path(run_dir)
    if (run_dir / MARKER).is_file():
        try:
            return marker_schema(run_dir) == MARKER_SCHEMA
        except ValueError:
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
    path = Path(run_dir) / CONFIG
    data = io.read_json(path, "run config")
    if not isinstance(data, dict):
        raise SchemaError(f"damaged run config {path}: expected an object of config fields, got {_shape(data)}")
    try:
        return from_record(data)
    except (TypeError, AttributeError) as exc:  # a field of a type that validation could not name
        raise SchemaError(f"damaged run config {path}: a field has the wrong type ({exc})") from None


def _shape(value: Any) -> str:
    text = json.dumps(value)[:60] if isinstance(value, (list, dict, str, int, float, bool, type(None))) else repr(value)[:60]
    return f"{type(value).__name__} {text}"


# the run record's fields and their JSON types (run.json); any other key (the caller's meta:
# variant, replicate, ...) is kept as it is. None stands for "not known yet" where a field allows it.
_INT, _NUM, _STR, _LIST, _DICT, _BOOL = (int,), (int, float), (str,), (list,), (dict,), (bool,)
RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "status": _STR, "mode": _STR, "seed": _INT, "steps": _INT, "steps_completed": _INT, "sessions": _INT,
    "resumed_from_step": _INT, "wall_time_s": _NUM, "median_step_time_s": _NUM, "final_param_hash": _STR,
    "device": _STR, "execution": _DICT, "dataset": _DICT, "started": _STR, "finished": _STR,
    "rejected_checkpoints": _LIST, "diverged_step": _INT, "diverged_reason": _STR, "last_good_checkpoint": _INT,
    "failed_step": _INT, "error": _STR, "bit_reproducible": _BOOL, "environments": _LIST, "extended": _LIST,
    "run_env": _DICT,
}


def check_run_record(data: Any, path: str | Path) -> dict:
    """``data`` (a parsed run.json) if it has the run record's shape: an object whose ``status`` is
    one of :data:`STATUSES` and whose known fields (:data:`RUN_FIELDS`) have their types; otherwise a
    :class:`SchemaError` naming the file and the field."""
    if not isinstance(data, dict):
        raise SchemaError(f"damaged run record {path}: expected an object, got {_shape(data)}")
    if data.get("status") not in STATUSES:
        raise SchemaError(f"damaged run record {path}: status {data.get('status')!r} is not one of "
                          f"{', '.join(STATUSES)}")
    for key, types in RUN_FIELDS.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise SchemaError(f"damaged run record {path}: {key} is {_shape(value)}, expected "
                              f"{' or '.join(t.__name__ for t in types)}")
    return data


def read_run(run_dir: str | Path) -> dict:
    """run.json, checked by :func:`check_run_record` (a missing file is a ``MissingFileError``)."""
    path = Path(run_dir) / RUN
    return check_run_record(io.read_json(path, "run record"), path)


def run_status(run_dir: str | Path) -> str | None:
    """The run's status, or None when run.json is missing or damaged (a run killed before writing it)."""
    try:
        return read_run(run_dir)["status"]
    except ValueError:
        return None


class DamagedTrace(InputError):
    """A trace line that cannot be read: ``path``, ``line`` (1-based) and ``run_dir`` say where.
    A finished run with one is repaired by training it again (``repro train --force``; an audit's
    runs: ``repro audit --force``)."""

    def __init__(self, message: str, run_dir: Path, path: Path, line: int):
        super().__init__(message)
        self.run_dir, self.path, self.line = run_dir, path, line


def read_trace(run_dir: str | Path, *, finished: bool | None = None) -> list[dict]:
    """The step trace as a list of dicts.

    A run still writing (or killed while writing) may have a torn last line, which is then
    dropped. A finished run (``finished``; None: run.json says completed or diverged) has no torn
    line, so a damaged last line is damage like any other: a :class:`DamagedTrace` naming the file
    and line, as for a damaged line anywhere else (silently dropping it would drop steps from a
    resume or a comparison).
    """
    run_dir = Path(run_dir)
    path = run_dir / TRACE
    if not path.exists():
        return []
    if finished is None:
        finished = run_status(run_dir) in FINISHED
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedTrace(f"damaged trace {path}: not UTF-8 text ({exc}); {_REPAIR}", run_dir, path, 0) from None
    lines = text.rstrip("\x00").splitlines()  # a power loss can leave NUL bytes at the end
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if not (isinstance(row, dict) and isinstance(row.get("step"), int)):
                raise InputError("not a step record")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            if number == len(lines) and not finished:
                break  # a torn last append: the writer was killed mid-line
            what = "the run finished, so this is damage, not a torn write; " if number == len(lines) else ""
            raise DamagedTrace(f"damaged trace {path} line {number}: {exc}; {what}the trace after it cannot be "
                               f"trusted: {_REPAIR}", run_dir, path, number) from None
        rows.append(row)
    return rows


_REPAIR = ("retrain the run (repro train --force; an audit's runs: repro audit --force retrains the runs "
           "it cannot use)")


def check_trace(run_dir: str | Path) -> None:
    """Raise :class:`DamagedTrace` when the run's trace has a damaged line (a finished run's last
    line included); the audit's reuse calls it before it trusts a finished run."""
    read_trace(run_dir)


def _read_hashes_file(run_dir: str | Path, step: int) -> dict[str, str]:
    path = hashes_path(run_dir, step)
    data = io.read_json(path, "checkpoint hashes")
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise SchemaError(f"damaged checkpoint hashes {path}: expected an object of tensor name: sha256, got "
                          f"{_shape(data)}")
    return data


def read_hashes(run_dir: str | Path, step: int) -> dict[str, str]:
    """Per-tensor sha256 of the checkpoint at ``step`` (tensor name -> hex digest)."""
    return {k: v for k, v in _read_hashes_file(run_dir, step).items() if not k.startswith("#")}


def checkpoint_meta(run_dir: str | Path, step: int) -> dict[str, str]:
    """What the hashes file says of the checkpoint file itself: ``{"sha256": ..., "kind": "step" | "time"}``;
    a checkpoint written before whole-file hashes has no ``sha256`` and is of kind ``step``."""
    data = _read_hashes_file(run_dir, step)
    out = {"kind": data.get(KIND, "step")}
    if FILE_SHA256 in data:
        out["sha256"] = data[FILE_SHA256]
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
