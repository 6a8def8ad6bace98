"""``train``: one run from config to run directory, with checkpoints, trace and exact resume.

A run directory has one writer at a time (:mod:`repro.lock`); everything in it is written
atomically, and a checkpoint is published only after its hashes are on disk
(:mod:`repro.train.checkpoints`), so a crash at any point leaves a directory that ``--resume``
continues bit-exactly. What a resume may continue (the same identity, more steps, the same
environment) is :mod:`repro.train.resume`.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from repro import fingerprint, io, lock, rundir
from repro.config import TrainConfig, identity_diff, to_dict
from repro.determinism import run_mode
from repro.train import resume as resume_mod
from repro.train.checkpoints import FAULT_ENV, FAULTS, Checkpoints, fault, restore_verified
from repro.train.loop import Diverged, Trainer, speed_settings
from repro.train.progress import Progress
from repro.train.steps import Stepper

log = logging.getLogger(__name__)

EXIT_COMPLETED = 0
EXIT_DIVERGED = 3  # documented in docs/training.md and `repro train --help`
__all__ = ["train", "continue_or_restart", "EXIT_COMPLETED", "EXIT_DIVERGED", "FAULT_ENV", "FAULTS"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def continue_or_restart(cfg: TrainConfig, out_dir: str | os.PathLike) -> tuple[bool, bool]:
    """``(resume, force)`` for a pipeline stage (``repro train --resume-unfinished``).

    DVC reruns a stage only when its output is missing, stale (a dependency, parameter or the
    command changed) or the last run was interrupted, and with ``persist: true`` it leaves the run
    directory in place. So: an unfinished run (``running``, ``failed``) of the same identity
    (:func:`repro.config.identity_diff`) is continued from its last verified checkpoint; a finished
    run asked for more steps and nothing else is extended; any other finished run (stale by DVC's
    account) or a run of another identity is replaced. A run interrupted before a code change is
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
    differing = identity_diff(previous, cfg)
    extend = set(differing) == {"steps"} and cfg.steps > previous.steps
    if differing and not extend:
        log.info(f"restarting {out}: it holds a run of another config ({', '.join(differing)} differ)")
        return False, True
    status = rundir.run_status(out) or "failed"  # no readable run.json: killed before it was first written
    if status == "completed" and extend:
        log.info(f"extending {out} from {previous.steps} to {cfg.steps} steps from its last checkpoint")
        return True, False
    if status in rundir.FINISHED:
        log.info(f"restarting {out}: it holds a finished run ({status}) that the pipeline asked to run again")
        return False, True
    log.info(f"resuming {out} ({status}) from its last checkpoint (step {(rundir.checkpoint_steps(out) or [0])[-1]})")
    return True, False


def train(cfg: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, force: bool = False,
          allow_env_change: bool = False, progress: bool = True, log_every_s: float = 10.0,
          meta: dict[str, Any] | None = None, step_callback: Callable[[Trainer], None] | None = None) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its run record (also written to ``run.json``).

    ``resume=True`` continues the run from its last checkpoint that verifies (the whole file
    against its sha256; bit-exact in deterministic mode) when ``cfg`` has the run's identity
    (execution fields may differ); a completed or diverged run is returned as it is, except that a
    completed run asked for more ``steps`` (and nothing else) is extended from its last checkpoint.
    A resume in an environment whose fingerprint differs where bits depend on it (threads, library
    versions, CPU model, device) raises :class:`repro.errors.EnvironmentMismatch` unless
    ``allow_env_change`` (recorded in run.json, ``bit_reproducible: false``).
    ``force=True`` replaces the run in ``out_dir``, removing only what a run wrote. A folder
    that is not a run directory but holds a run's file names is refused. A run that diverges
    (NaN/inf loss) ends with ``status: diverged``. ``meta`` (e.g. ``{"variant": "resnet_all"}``)
    is stored in the run record as it is. ``step_callback(trainer)`` runs after every step,
    before it is traced and checkpointed (the audit's fault-injection tests flip a bit through it).

    Bad input (config, dataset, directory) raises an :class:`repro.errors.InputError` before anything
    is written; another process writing ``out_dir`` raises :class:`repro.lock.DirectoryInUse`.
    """
    out = io.check_output_dir(Path(out_dir), "run directory")
    with lock.writing(out, "run directory"):
        return _train_locked(cfg, out, resume, force, allow_env_change, progress, log_every_s, meta, step_callback)


def _train_locked(cfg: TrainConfig, out: Path, resume: bool, force: bool, allow_env_change: bool, progress: bool,
                  log_every_s: float, meta: dict[str, Any] | None,
                  step_callback: Callable[[Trainer], None] | None) -> dict[str, Any]:
    removed = io.clean_temp_files(out) + io.clean_temp_files(out / rundir.CHECKPOINTS)
    if removed:
        log.info(f"removed {len(removed)} temp file(s) of killed writes in {out}: {', '.join(p.name for p in removed)}")
    plan = resume_mod.inspect(cfg, out, resume, force)
    if plan.finished:
        return plan.previous
    previous = plan.previous

    with run_mode(cfg) as mode_settings:
        trainer = Trainer(cfg)  # loads the data and checks shapes
        # decodes and fingerprints every training image: bad data fails here, before anything is written
        dataset = trainer.data.describe()
        # inside the mode: the fingerprint's numerics switches and threads are the run's own
        fp_now = fingerprint.collect(speed=speed_settings(cfg))
        new_envs = ([] if previous is None else
                    resume_mod.check_environment(out, previous, str(trainer.device), fp_now, allow_env_change))
        if plan.replace:
            kept = rundir.remove_run(out)
            if kept:
                log.info(f"--force kept what no run wrote in {out}: {', '.join(kept)}")
        if not (out / rundir.MARKER).exists():
            rundir.write_marker(out)
        io.write_json(out / rundir.CONFIG, to_dict(cfg))  # both kinds of field; a resume may change execution ones
        if previous is None or not (out / rundir.FINGERPRINT).exists():
            io.write_json(out / rundir.FINGERPRINT, fp_now)  # the first session's; later ones go to run.json
        record: dict[str, Any] = {
            "status": "running", "mode": cfg.mode, "seed": cfg.seed, "steps": cfg.steps, "steps_completed": 0,
            "device": str(trainer.device), "execution": mode_settings, "dataset": dataset,
            "started": _now(), "wall_time_s": 0.0, "sessions": 0, **(meta or {}),
        }
        checkpoints = Checkpoints(out, cfg)
        if previous is not None:
            record.update({k: previous[k] for k in ("started", "wall_time_s", "sessions", "rejected_checkpoints",
                                                    "environments", "bit_reproducible", "extended") if k in previous})
            rejected = restore_verified(trainer, out)
            if rejected:
                record["rejected_checkpoints"] = record.get("rejected_checkpoints", []) + rejected
        record["sessions"] += 1
        if new_envs:
            new_envs[-1].update(session=record["sessions"], from_step=trainer.step)
            record["environments"] = record.get("environments", []) + new_envs
            if new_envs[-1]["differs"]:
                record["bit_reproducible"] = False
                log.info(f"continuing {out} in another environment ({', '.join(new_envs[-1]['differs'][:4])} "
                         "differ): recorded in run.json, the run is not bit-reproducible from scratch")
        if plan.extend_from is not None:
            _extend(out, cfg, plan.extend_from, trainer.step, record, checkpoints)
        _truncate_trace(out, trainer.step)
        record["resumed_from_step"] = trainer.step
        record["steps_completed"] = trainer.step
        io.write_json(out / rundir.RUN, record)
        return _loop(cfg, out, trainer, record, checkpoints, progress, log_every_s, step_callback)


def _extend(out: Path, cfg: TrainConfig, old_steps: int, step: int, record: dict, checkpoints: Checkpoints) -> None:
    """A completed run of ``old_steps`` continues to ``cfg.steps``: its last checkpoint becomes a resume
    point when the schedule no longer holds it, and its metrics (a score of the old last step) go."""
    record.setdefault("extended", []).append({"session": record["sessions"], "from_steps": old_steps,
                                              "to_steps": cfg.steps, "from_step": step})
    if step % cfg.checkpoint_every != 0 and step in rundir.checkpoint_steps(out):
        checkpoints.mark_resume_point(step)
    metrics = out / rundir.METRICS
    if metrics.exists():
        metrics.unlink()
        log.info(f"removed {metrics}: it scored step {step}, which is no longer the run's last")
    log.info(f"extending {out} from {old_steps} to {cfg.steps} steps, from its checkpoint of step {step}")


def _truncate_trace(out: Path, step: int) -> None:
    """Drop trace lines past the checkpoint we resume from (a killed run may have written them)."""
    rows = [r for r in rundir.read_trace(out) if r["step"] <= step]
    io.write_text(out / rundir.TRACE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _loop(cfg: TrainConfig, out: Path, trainer: Trainer, record: dict, checkpoints: Checkpoints, progress: bool,
          log_every_s: float, step_callback: Callable[[Trainer], None] | None) -> dict:
    bar = Progress(cfg.steps, f"train {cfg.mode} seed={cfg.seed}", every_s=log_every_s, enabled=progress,
                   initial=trainer.step)
    session_start = time.perf_counter()
    stepper = Stepper(trainer)  # rows come back at host reads: every step unless sync_every > 1
    every_s = cfg.checkpoint_minutes * 60.0  # a resume point after this much wall time without a checkpoint
    last_checkpoint = time.monotonic()

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
                scheduled = step % cfg.checkpoint_every == 0 or step == cfg.steps
                timed = not scheduled and every_s > 0 and time.monotonic() - last_checkpoint >= every_s
                checkpoint = scheduled or timed
                if checkpoint or stepper.due():
                    write(stepper.flush(wait=checkpoint))  # the trace is complete up to a checkpoint
                fault("kill-after-step", step)
                if checkpoint:
                    checkpoints.save(trainer, "step" if scheduled else "time")
                    last_checkpoint = time.monotonic()
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
