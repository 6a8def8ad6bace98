"""A run's checkpoints: written with their hashes, verified whole before a resume, pruned by one rule.

Writing (:meth:`Checkpoints.save`): ``torch.save`` to a temp file, the sha256 of that file and the
per-tensor sha256 of every model and optimiser tensor into the hashes file, then the checkpoint is
published (``os.replace``). So a checkpoint that exists always has its hashes, and the file hash
covers everything a resume restores: the models, the optimiser's state and hyperparameters, the
step, the data sampler and every RNG state.

Kinds: a ``step`` checkpoint is on the schedule (every ``checkpoint_every`` steps, and the last
step); a ``time`` checkpoint is a resume point written when ``checkpoint_minutes`` of wall time
passed without one. A resume point is removed as soon as a newer checkpoint is published, so a
finished run holds only scheduled checkpoints: the same set whatever the wall clock did, which is
what the audit's comparisons and the evaluation's per-checkpoint scores read.

Pruning (:func:`kept_steps`, after every scheduled checkpoint): with ``keep_checkpoints = K > 0`` a
run keeps the last K scheduled checkpoints and every one at ``checkpoint_every x 2**j`` (the first,
second, fourth, eighth, ...); ``K = 0`` keeps all. Two runs of one config keep the same steps, so
the checkpoints a pair comparison reads exist in both; the last step is always kept (evaluation,
resume, extension); and wherever two runs part, a checkpoint at or after half that step exists in
both, so a localisation that replays from the last checkpoint where they agree replays at most half
the run (less near the end, where the last K are).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import torch

from repro import io, rundir
from repro.config import TrainConfig
from repro.errors import InputError
from repro.train.loop import Trainer

log = logging.getLogger(__name__)

# Test seam for crash-safety tests, never set in normal use. REPRO_FAULT="KIND:STEP" with KIND:
#   kill-after-step             SIGKILL after the step is traced, before any checkpoint
#   kill-in-checkpoint          SIGKILL with the checkpoint's temp file written, nothing published
#   kill-before-publish         SIGKILL with the hashes file written, the checkpoint not yet published
#   enospc-in-checkpoint        torch.save writes the checkpoint to /dev/full (a full device), so it
#                               fails as torch does on a full disk (a RuntimeError from its zip writer)
FAULT_ENV = "REPRO_FAULT"
FAULTS = ("kill-after-step", "kill-in-checkpoint", "kill-before-publish", "enospc-in-checkpoint")
FULL_DEVICE = "/dev/full"


def fault(kind: str, step: int) -> bool:
    """True when the test seam asks for ``kind`` at ``step``; the kill kinds SIGKILL this process."""
    if os.environ.get(FAULT_ENV, "") != f"{kind}:{step}":
        return False
    if kind.startswith("kill-"):
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def kept_steps(steps: list[int], checkpoint_every: int, keep: int) -> set[int]:
    """Which of the scheduled checkpoints ``steps`` (ascending) a run keeps: all when ``keep`` is 0,
    else the last ``keep`` and those at ``checkpoint_every`` times a power of two (module docstring)."""
    if keep == 0:
        return set(steps)
    out = set(steps[-keep:])
    for s in steps:
        k, r = divmod(s, checkpoint_every)
        if r == 0 and k > 0 and k & (k - 1) == 0:
            out.add(s)
    return out


def _torch_write_failed(exc: RuntimeError) -> bool:
    """torch.save's zip writer reports a failed write as a RuntimeError from inline_container.cc
    ("PytorchStreamWriter failed writing file ...", "unexpected pos ..."), without the OS error."""
    text = str(exc)
    return "inline_container.cc" in text or "PytorchStreamWriter" in text


def _write_error(target: Path, final: Path, exc: RuntimeError) -> OSError:
    """The OSError behind torch's write failure, found by writing to ``target`` again ourselves (a full
    disk answers ENOSPC); EIO when that write succeeds."""
    import errno

    code, text = errno.EIO, "the write failed"
    try:
        with open(target, "ab") as fh:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as probe:
        code, text = probe.errno or code, probe.strerror or text
    first = str(exc).strip().splitlines()[0][:160]
    return OSError(code, f"{text}: torch.save could not write the checkpoint {final} ({first})", str(final))


class Checkpoints:
    """The checkpoints of the run in ``out`` as the run loop writes and prunes them."""

    def __init__(self, out: Path, cfg: TrainConfig):
        self.out, self.cfg = out, cfg
        self.resume_points = [s for s in rundir.checkpoint_steps(out) if _kind(out, s) == "time"]

    def save(self, trainer: Trainer, kind: str = "step") -> None:
        """Write the checkpoint of ``trainer.step`` (``kind`` step or time), then remove the resume
        points it supersedes and, after a scheduled one, the checkpoints :func:`kept_steps` drops."""
        step = trainer.step
        final = rundir.checkpoint_path(self.out, step)
        with io.atomic_path(final) as tmp:
            target = Path(FULL_DEVICE) if fault("enospc-in-checkpoint", step) else tmp
            try:
                torch.save(trainer.checkpoint(), target)
            except RuntimeError as exc:
                if not _torch_write_failed(exc):
                    raise
                raise _write_error(target, final, exc) from None
            fault("kill-in-checkpoint", step)  # the temp file exists, the checkpoint does not
            io.write_json(rundir.hashes_path(self.out, step),
                          {**trainer.named_digests(), rundir.FILE_SHA256: rundir.file_sha256(tmp), rundir.KIND: kind})
            fault("kill-before-publish", step)  # the hashes exist, the checkpoint is not yet published
        for old in [s for s in self.resume_points if s < step]:
            _remove(self.out, old)
            self.resume_points.remove(old)
        if kind == "time":
            self.resume_points.append(step)
        else:
            self.prune()

    def prune(self) -> list[int]:
        """Remove the scheduled checkpoints :func:`kept_steps` does not keep; returns their steps."""
        scheduled = [s for s in rundir.checkpoint_steps(self.out) if s not in self.resume_points]
        drop = [s for s in scheduled if s not in kept_steps(scheduled, self.cfg.checkpoint_every,
                                                            self.cfg.keep_checkpoints)]
        for s in drop:
            _remove(self.out, s)
        return drop

    def mark_resume_point(self, step: int) -> None:
        """Make the checkpoint at ``step`` a resume point (the last step of a run being extended, when
        the new schedule does not hold it): it is removed once a newer checkpoint exists, as in a run
        trained to the new length at once."""
        path = rundir.hashes_path(self.out, step)
        data = io.read_json(path, "checkpoint hashes")
        io.write_json(path, {**data, rundir.KIND: "time"})
        self.resume_points.append(step)


def _kind(out: Path, step: int) -> str:
    try:
        return rundir.checkpoint_meta(out, step)["kind"]
    except ValueError:
        return "step"  # no readable hashes: the resume rejects it anyway


def _remove(out: Path, step: int) -> None:
    """The checkpoint first, then its hashes: a crash in between leaves a hashes file without a
    checkpoint, which nothing reads (and remove_run deletes)."""
    for path in (rundir.checkpoint_path(out, step), rundir.hashes_path(out, step)):
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------- verified restore


def restore_verified(trainer: Trainer, out: Path) -> list[dict[str, Any]]:
    """Restore the newest checkpoint that verifies: the whole file against its sha256 (RNG states,
    sampler, step and optimiser settings included), its shape, and every tensor against its hash.

    Newer checkpoints that fail (corrupt file, missing hashes, a changed byte) are renamed
    ``*.rejected`` (kept, not deleted) and returned as ``[{"step", "reason"}]``. When checkpoints
    exist but none verifies, nothing is renamed and an :class:`InputError` names each failure.
    """
    failures = []
    for step in reversed(rundir.checkpoint_steps(out)):
        try:
            _restore_one(trainer, out, step)
        except (ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as exc:
            failures.append({"step": step, "reason": f"{exc}"})
            continue
        for failed in failures:
            for path in (rundir.checkpoint_path(out, failed["step"]), rundir.hashes_path(out, failed["step"])):
                if path.exists():
                    os.replace(path, path.with_name(path.name + ".rejected"))
            log.info(f"checkpoint step {failed['step']} of {out} failed verification ({failed['reason']}); "
                     f"renamed it *.rejected and resumed from the verified checkpoint of step {step}")
        return failures
    if failures:
        raise InputError(f"no checkpoint of {out} verifies against its hashes, nothing to resume from: "
                         + "; ".join(f"step {f['step']}: {f['reason']}" for f in failures)
                         + " (replace the run with --force to train it again)")
    return failures


def _restore_one(trainer: Trainer, out: Path, step: int) -> None:
    meta = rundir.checkpoint_meta(out, step)  # a missing or damaged hashes file fails here
    path = rundir.checkpoint_path(out, step)
    ckpt = io.torch_load(path)  # a truncated or corrupt file fails here, named
    check_state(ckpt, step)
    trainer.restore(ckpt)
    bad = rundir.differing_tensors(rundir.read_hashes(out, step), trainer.named_digests())
    if bad:
        raise InputError(f"{len(bad)} tensor(s) differ from its hashes ({', '.join(bad[:3])}"
                         + (" ..." if len(bad) > 3 else "") + ")")
    if "sha256" in meta and rundir.file_sha256(path) != meta["sha256"]:
        raise InputError(f"checkpoint {path} does not match the sha256 written with it in "
                         f"{rundir.hashes_path(out, step).name}, though its tensors match their hashes: its step, "
                         "data sampler, an RNG state or an optimiser setting changed after it was written")


def check_state(ckpt: Any, step: int) -> None:
    """Refuse a checkpoint without the shape a resume needs, naming what is wrong (a legacy file
    without a whole-file hash can carry any pickle-safe value)."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InputError(f"not a resumable checkpoint: {what}")

    need(isinstance(ckpt, dict), f"a {type(ckpt).__name__}, not a dict")
    missing = [k for k in ("step", "generator", "discriminator", "opt_g", "opt_d", "sampler", "rng") if k not in ckpt]
    need(not missing, f"missing {', '.join(missing)}")
    need(isinstance(ckpt["step"], int) and ckpt["step"] == step,
         f"it says step {ckpt['step']!r} but is the checkpoint file of step {step}")
    for key in ("generator", "discriminator", "opt_g", "opt_d", "sampler", "rng"):
        need(isinstance(ckpt[key], dict), f"{key} is a {type(ckpt[key]).__name__}, not a dict")
    rng = ckpt["rng"]
    need(all(k in rng for k in ("python", "numpy", "torch", "cuda", "z", "penalty")), "an RNG state is missing")
    for key in ("torch", "z", "penalty"):
        need(isinstance(rng[key], torch.Tensor) and rng[key].dtype == torch.uint8, f"RNG state {key} is not a byte tensor")
    py = rng["python"]
    need(isinstance(py, (list, tuple)) and len(py) == 3 and isinstance(py[1], (list, tuple)) and len(py[1]) == 625,
         "the Python RNG state is not (version, 625 integers, gauss)")
    np_rng = rng["numpy"]
    need(isinstance(np_rng, dict) and np_rng.get("bit_generator") == "MT19937"
         and isinstance(np_rng.get("key"), (list, tuple)) and len(np_rng["key"]) == 624
         and isinstance(np_rng.get("pos"), int) and 0 <= np_rng["pos"] <= 624,
         f"the NumPy RNG state is not MT19937 with 624 key words and a position in [0, 624] "
         f"(key of {len(np_rng.get('key') or []) if isinstance(np_rng, dict) else '?'} words)")
