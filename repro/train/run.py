"""``train``: one run from config to run directory, with checkpoints, trace and exact resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from repro import fingerprint, io
from repro.config import TrainConfig, diff, to_dict
from repro.determinism import execution_mode
from repro.train import rundir
from repro.train.loop import Diverged, Trainer, speed_settings
from repro.train.progress import Progress
from repro.train.steps import Stepper

EXIT_COMPLETED = 0
EXIT_DIVERGED = 3  # documented in README and `repro train --help`

# Test seam for crash-safety tests: REPRO_FAULT="kill-after-step:N" or "kill-in-checkpoint:N"
# makes the process SIGKILL itself at that point. Never set in normal use.
FAULT_ENV = "REPRO_FAULT"

_RUN_FILES = (rundir.CONFIG, rundir.RUN, rundir.FINGERPRINT, rundir.TRACE, rundir.METRICS, rundir.CHECKPOINTS)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fault(kind: str, step: int) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if spec == f"{kind}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _prepare(cfg: TrainConfig, out: Path, resume: bool, force: bool) -> dict | None:
    """Check ``out`` against ``cfg``; return the previous run record when resuming one."""
    existing = out / rundir.CONFIG
    if not existing.exists():
        if (out / rundir.CHECKPOINTS).exists() and not force:
            raise ValueError(f"{out} holds checkpoints but no {rundir.CONFIG}; refusing to guess (use --force)")
        return None
    if force and not resume:
        for name in _RUN_FILES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        return None
    previous = rundir.read_config(out)
    if not resume:
        raise ValueError(f"{out} already holds a run (its config is {existing}); "
                         "pass --resume to continue it or --force to replace it")
    differing = diff(previous, cfg)
    if differing:
        fields = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in differing.items())
        raise ValueError(f"cannot resume {out} with a different config; differing fields: {fields}")
    try:
        return rundir.read_run(out)
    except ValueError:
        return {"status": "failed"}  # killed before run.json was first written


def train(cfg: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, force: bool = False,
          progress: bool = True, log_every_s: float = 10.0, meta: dict[str, Any] | None = None,
          step_callback: Callable[[Trainer], None] | None = None) -> dict[str, Any]:
    """Train one run into ``out_dir`` and return its run record (also written to ``run.json``).

    ``resume=True`` continues the run from its last checkpoint (bit-exact in deterministic
    mode); a completed or diverged run is returned as it is. ``force=True`` replaces a
    different run. A run that diverges (NaN/inf loss) ends with ``status: diverged``.
    ``meta`` (e.g. ``{"variant": "resnet_all"}``) is stored in the run record as it is.
    ``step_callback(trainer)`` runs after every step, before it is traced and checkpointed
    (the audit's fault-injection tests flip a bit through it).
    """
    out = Path(out_dir)
    previous = _prepare(cfg, out, resume, force)
    if previous and previous.get("status") in ("completed", "diverged"):
        return previous
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(out / rundir.CONFIG, to_dict(cfg))

    with execution_mode(cfg.mode, threads=cfg.threads,
                        fill_uninitialized_memory=cfg.fill_uninitialized_memory) as mode_settings:
        # inside the mode: the fingerprint's numerics switches and threads are the run's own
        io.write_json(out / rundir.FINGERPRINT, fingerprint.collect(speed=speed_settings(cfg)))
        trainer = Trainer(cfg)
        record: dict[str, Any] = {
            "status": "running", "mode": cfg.mode, "seed": cfg.seed, "steps": cfg.steps, "steps_completed": 0,
            "device": str(trainer.device), "execution": mode_settings, "dataset": trainer.data.describe(),
            "started": _now(), "wall_time_s": 0.0, "sessions": 0, **(meta or {}),
        }
        if previous is not None:
            record.update({k: previous[k] for k in ("started", "wall_time_s", "sessions") if k in previous})
            steps = rundir.checkpoint_steps(out)
            if steps:
                trainer.restore(rundir.load_checkpoint(out, steps[-1]))
        _truncate_trace(out, trainer.step)
        record["sessions"] += 1
        record["resumed_from_step"] = trainer.step
        record["steps_completed"] = trainer.step
        io.write_json(out / rundir.RUN, record)
        return _loop(cfg, out, trainer, record, progress, log_every_s, step_callback)


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
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            record["wall_time_s"] += time.perf_counter() - session_start
            io.write_json(out / rundir.RUN, record)
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


def _save_checkpoint(out: Path, trainer: Trainer) -> None:
    step = trainer.step
    path = rundir.checkpoint_path(out, step)
    with io.atomic_path(path) as tmp:
        import torch

        torch.save(trainer.checkpoint(), tmp)
        _fault("kill-in-checkpoint", step)  # the temp file exists, the checkpoint does not
    io.write_json(rundir.hashes_path(out, step), trainer.named_digests())


