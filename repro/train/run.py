"""``train``: one run from config to run directory, with checkpoints, trace and exact resume.

A run directory has one writer at a time (:mod:`repro.lock`); everything in it is written
atomically, and a checkpoint is published only after its per-tensor hashes are on disk, so a
crash at any point leaves a directory that ``--resume`` continues bit-exactly.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from repro import fingerprint, io, lock, rundir
from repro.config import TrainConfig, diff, to_dict
from repro.determinism import execution_mode
from repro.errors import InputError
from repro.train.loop import Diverged, Trainer, speed_settings
from repro.train.progress import Progress
from repro.train.steps import Stepper

log = logging.getLogger(__name__)

EXIT_COMPLETED = 0
EXIT_DIVERGED = 3  # documented in docs/training.md and `repro train --help`

# Test seam for crash-safety tests, never set in normal use. REPRO_FAULT="KIND:STEP" with KIND:
#   kill-after-step             SIGKILL after the step is traced, before any checkpoint
#   kill-in-checkpoint          SIGKILL with the checkpoint's temp file written, nothing published
#   kill-before-publish         SIGKILL with the hashes file written, the checkpoint not yet published
#   enospc-in-checkpoint        the checkpoint write fails with ENOSPC (a full disk)
FAULT_ENV = "REPRO_FAULT"
FAULTS = ("kill-after-step", "kill-in-checkpoint", "kill-before-publish", "enospc-in-checkpoint")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fault(kind: str, step: int) -> None:
    if os.environ.get(FAULT_ENV, "") != f"{kind}:{step}":
        return
    if kind == "enospc-in-checkpoint":
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({FAULT_ENV}={kind}:{step})")
    os.kill(os.getpid(), signal.SIGKILL)


def _inspect(cfg: TrainConfig, out: Path, resume: bool, force: bool) -> tuple[dict | None, bool]:
    """Check ``out`` against ``cfg`` without changing anything.

    Returns ``(previous run record when resuming, whether the run in ``out`` is to be replaced)``.
    """
    if not out.exists():
        return None, False
    foreign = rundir.foreign_files(out)
    if foreign:
        raise InputError(f"{out} is not a run directory: it holds {', '.join(foreign)} but no {rundir.MARKER}, "
                         "so no repro run wrote them; refusing to overwrite or delete them (--force only removes "
                         "what a run wrote): choose another --out")
    if not (out / rundir.CONFIG).exists():
        leftovers = [n for n in rundir.RUN_FILES if n != rundir.MARKER and (out / n).exists()]
        if rundir.CHECKPOINTS in leftovers and not force:
            raise InputError(f"{out} holds checkpoints but no {rundir.CONFIG}; refusing to guess (use --force)")
        return None, bool(leftovers)
    if force and not resume:
        return None, True
    previous = rundir.read_config(out)
    if not resume:
        raise InputError(f"{out} already holds a run (its config is {out / rundir.CONFIG}); "
                         "pass --resume to continue it or --force to replace it")
    differing = diff(previous, cfg)
    if differing:
        fields = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in differing.items())
        raise InputError(f"cannot resume {out} with a different config; differing fields: {fields}")
    try:
        return rundir.read_run(out), False
    except ValueError:
        return {"status": "failed"}, False  # killed before run.json was first written


def continue_or_restart(cfg: TrainConfig, out_dir: str | os.PathLike) -> tuple[bool, bool]:
    """``(resume, force)`` for a pipeline stage (``repro train --resume-unfinished``).

    DVC reruns a stage only when its output is missing, stale (a dependency, parameter or the
    command changed) or the last run was interrupted, and with ``persist: true`` it leaves the run
    directory in place. So: an unfinished run (``running``, ``failed``) of the same config is
    continued from its last verified checkpoint; a finished run (stale by DVC's account) or a run
    of another config is replaced. A config-equal run interrupted before a code change is
    continued under the new code: the config check cannot see code (delete the run directory
    to start it over).
    """
    out = Path(out_dir)
    if not (out / rundir.CONFIG).exists():
        return False, True  # nothing there yet, or what a run killed before its config left
    try:
        previous = rundir.read_config(out)
    except ValueError as exc:
        log.info(f"restarting {out}: its config cannot be read ({exc})")
        return False, True
    differing = diff(previous, cfg)
    if differing:
        log.info(f"restarting {out}: it holds a run of another config ({', '.join(differing)} differ)")
        return False, True
    try:
        status = rundir.read_run(out).get("status")
    except ValueError:
        status = "failed"  # killed before run.json was first written
    if status in ("completed", "diverged"):
        log.info(f"restarting {out}: it holds a finished run ({status}) that the pipeline asked to run again")
        return False, True
    log.info(f"resuming {out} ({status}) from its last checkpoint (step {(rundir.checkpoint_steps(out) or [0])[-1]})")
    return True, False


def train(cfg: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, force: bool = False,
          progress: bool = True, log_every_s: float = 10.0, meta: dict[str, Any] | None = None,
          step_callback: Callable[[Trainer], None] | None = None) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its run record (also written to ``run.json``).

    ``resume=True`` continues the run from its last checkpoint that verifies against its hashes
    (bit-exact in deterministic mode); a completed or diverged run is returned as it is.
    ``force=True`` replaces the run in ``out_dir``, removing only what a run wrote. A folder
    that is not a run directory but holds a run's file names is refused. A run that diverges
    (NaN/inf loss) ends with ``status: diverged``. ``meta`` (e.g. ``{"variant": "resnet_all"}``)
    is stored in the run record as it is. ``step_callback(trainer)`` runs after every step,
    before it is traced and checkpointed (the audit's fault-injection tests flip a bit through it).

    Bad input (config, dataset, directory) raises ``ValueError`` before anything is written;
    another process writing ``out_dir`` raises :class:`repro.lock.DirectoryInUse`.
    """
    out = io.check_output_dir(Path(out_dir), "run directory")
    with lock.writing(out, "run directory"):
        return _train_locked(cfg, out, resume, force, progress, log_every_s, meta, step_callback)


def _train_locked(cfg: TrainConfig, out: Path, resume: bool, force: bool, progress: bool, log_every_s: float,
                  meta: dict[str, Any] | None, step_callback: Callable[[Trainer], None] | None) -> dict[str, Any]:
    removed = io.clean_temp_files(out) + io.clean_temp_files(out / rundir.CHECKPOINTS)
    if removed:
        log.info(f"removed {len(removed)} temp file(s) of killed writes in {out}: {', '.join(p.name for p in removed)}")
    previous, replace = _inspect(cfg, out, resume, force)
    if previous and previous.get("status") in ("completed", "diverged"):
        return previous

    with execution_mode(cfg.mode, threads=cfg.threads,
                        fill_uninitialized_memory=cfg.fill_uninitialized_memory) as mode_settings:
        trainer = Trainer(cfg)  # loads the data and checks shapes: bad input fails before anything is written
        if replace:
            kept = rundir.remove_run(out)
            if kept:
                log.info(f"--force kept what no run wrote in {out}: {', '.join(kept)}")
        if not (out / rundir.MARKER).exists():
            rundir.write_marker(out)
        io.write_json(out / rundir.CONFIG, to_dict(cfg))
        # inside the mode: the fingerprint's numerics switches and threads are the run's own
        io.write_json(out / rundir.FINGERPRINT, fingerprint.collect(speed=speed_settings(cfg)))
        record: dict[str, Any] = {
            "status": "running", "mode": cfg.mode, "seed": cfg.seed, "steps": cfg.steps, "steps_completed": 0,
            "device": str(trainer.device), "execution": mode_settings, "dataset": trainer.data.describe(),
            "started": _now(), "wall_time_s": 0.0, "sessions": 0, **(meta or {}),
        }
        if previous is not None:
            record.update({k: previous[k] for k in ("started", "wall_time_s", "sessions", "rejected_checkpoints")
                           if k in previous})
            rejected = _restore_verified(trainer, out)
            if rejected:
                record["rejected_checkpoints"] = record.get("rejected_checkpoints", []) + rejected
        _truncate_trace(out, trainer.step)
        record["sessions"] += 1
        record["resumed_from_step"] = trainer.step
        record["steps_completed"] = trainer.step
        io.write_json(out / rundir.RUN, record)
        return _loop(cfg, out, trainer, record, progress, log_every_s, step_callback)


def _restore_verified(trainer: Trainer, out: Path) -> list[dict[str, Any]]:
    """Restore the newest checkpoint whose every tensor matches its hashes file.

    Newer checkpoints that fail (corrupt file, missing hashes, a changed tensor) are renamed
    ``*.rejected`` (kept, not deleted) and returned as ``[{"step", "reason"}]``. When checkpoints
    exist but none verifies, nothing is renamed and a ``ValueError`` names each failure.
    """
    failures = []
    for step in reversed(rundir.checkpoint_steps(out)):
        try:
            trainer.restore(rundir.load_checkpoint(out, step, verify=False))
            bad = rundir.differing_tensors(rundir.read_hashes(out, step), trainer.named_digests())
            if bad:
                raise InputError(f"{len(bad)} tensor(s) differ from its hashes ({', '.join(bad[:3])}"
                                 + (" ..." if len(bad) > 3 else "") + ")")
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
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


def _truncate_trace(out: Path, step: int) -> None:
    """Drop trace lines past the checkpoint we resume from (a killed run may have written them)."""
    rows = [r for r in rundir.read_trace(out) if r["step"] <= step]
    io.write_text(out / rundir.TRACE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _loop(cfg: TrainConfig, out: Path, trainer: Trainer, record: dict, progress: bool, log_every_s: float,
          step_callback: Callable[[Trainer], None] | None) -> dict:
    bar = Progress(cfg.steps, f"train {cfg.mode} seed={cfg.seed}", every_s=log_every_s, enabled=progress,
                   initial=trainer.step)
    session_start = time.perf_counter()
    stepper = Stepper(trainer)  # rows come back at host reads: every step unless sync_every > 1

    def write(rows: list[dict]) -> None:
        for row in rows:
            trace.write(json.dumps(row, sort_keys=True) + "\n")
        trace.flush()
        if rows:
            bar.update(rows[-1]["step"], d_loss=rows[-1]["d_loss"], g_loss=rows[-1]["g_loss"])

    with open(out / rundir.TRACE, "a", encoding="utf-8") as trace:
        try:
            while trainer.step < cfg.steps:
                step = stepper.step()
                if step_callback is not None:
                    step_callback(trainer)
                if step % cfg.trace_every == 0 or step == cfg.steps:
                    stepper.trace()
                checkpoint = step % cfg.checkpoint_every == 0 or step == cfg.steps
                if checkpoint or stepper.due():
                    write(stepper.flush(wait=checkpoint))  # the trace is complete up to a checkpoint
                _fault("kill-after-step", step)
                if checkpoint:
                    _save_checkpoint(out, trainer)
                    record["steps_completed"] = step
                    record["wall_time_s"] = record["wall_time_s"] + time.perf_counter() - session_start
                    session_start = time.perf_counter()
                    io.write_json(out / rundir.RUN, record)
        except Diverged as exc:
            write(exc.rows)
            trace.write(json.dumps({"step": exc.step, "diverged": exc.what}, sort_keys=True) + "\n")
            record.update(status="diverged", diverged_step=exc.step, diverged_reason=str(exc),
                          last_good_checkpoint=(rundir.checkpoint_steps(out) or [None])[-1])
        except BaseException as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}", failed_step=trainer.step)
            record["wall_time_s"] += time.perf_counter() - session_start
            written = _mark_failed(out, record)
            if isinstance(exc, OSError):
                note = ("the run is marked failed" if written else "run.json could not be updated either")
                raise OSError(exc.errno, f"{exc.strerror or exc} while training {out} after step {trainer.step}; "
                                         f"{note}; the last checkpoint is intact: continue with --resume once "
                                         "the cause is fixed", exc.filename) from exc
            raise
        finally:
            stepper.close()
            bar.close()
    if record["status"] == "running":
        record["status"] = "completed"
    record["wall_time_s"] += time.perf_counter() - session_start
    record["finished"] = _now()
    # a deferred host read (sync_every > 1) finds a divergence steps after it: count the good ones
    record["steps_completed"] = trainer.step if record["status"] != "diverged" else record["diverged_step"] - 1
    record["final_param_hash"] = trainer.param_hash()
    all_times = [r["step_time_s"] for r in rundir.read_trace(out) if "step_time_s" in r]
    if all_times:  # over every session of the run, not just this one
        record["median_step_time_s"] = statistics.median(all_times)
    io.write_json(out / rundir.RUN, record)
    return record


def _mark_failed(out: Path, record: dict) -> bool:
    """Write the failed record; on a full disk, where the atomic write (a new file) cannot get
    space, overwrite run.json in place with the shorter compact JSON. True when it was written."""
    try:
        io.write_json(out / rundir.RUN, record)
        return True
    except OSError:
        pass
    try:
        data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        with open(out / rundir.RUN, "r+b") as fh:
            fh.write(data)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        return False


def _save_checkpoint(out: Path, trainer: Trainer) -> None:
    """Write the checkpoint to a temp file and its hashes file, then publish the checkpoint: a
    checkpoint that exists always has its hashes."""
    import torch

    step = trainer.step
    with io.atomic_path(rundir.checkpoint_path(out, step)) as tmp:
        torch.save(trainer.checkpoint(), tmp)
        _fault("kill-in-checkpoint", step)  # the temp file exists, the checkpoint does not
        _fault("enospc-in-checkpoint", step)
        io.write_json(rundir.hashes_path(out, step), trainer.named_digests())
        _fault("kill-before-publish", step)  # the hashes exist, the checkpoint is not yet published
