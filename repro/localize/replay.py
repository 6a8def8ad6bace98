"""Replay a window of a run from its checkpoint, recording every op, in a fresh process.

:func:`replay_window` does it in this process: the run's config and execution mode (mode,
intra-op threads, NaN fill), the trainer restored from the checkpoint at ``start`` (or built
fresh for ``start=0``) and verified against that checkpoint's per-tensor hashes, then steps
``start + 1 .. end`` with a :class:`~repro.localize.record.Recorder` entered around each step
(hashing runs only inside the window; the trace hashes of the window's traced steps are taken
between steps, outside it). It returns what the replay saw: op count, the full-state hash after
each step the run traced, and the conditions it ran in.

:func:`replay` runs that in a fresh interpreter (``python -m repro.localize.replay``) with the
run's own numerics environment variables as its ``fingerprint.json`` recorded them (thread
variables, ``MKL_CBWR``, ``CUBLAS_WORKSPACE_CONFIG``, a planted test seam), so process-level
state (thread pools, library initialisation, first-call kernel choices) starts as it did when
the run was trained. ``CUDA_VISIBLE_DEVICES`` is this machine's, not the run's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from repro import io, rundir
from repro.determinism import execution_mode
from repro.errors import InputError, ReproError
from repro.fingerprint import NUMERICS_ENV_VARS, SEAM_ENV_VARS
from repro.localize.ops import ModulePaths
from repro.localize.record import Recorder, StopReplay
from repro.train import phase
from repro.train.loop import Trainer

log = logging.getLogger(__name__)

# numerics variables a replay takes from the run's fingerprint; the device list stays this machine's
REPLAYED_ENV = tuple(v for v in NUMERICS_ENV_VARS if v != "CUDA_VISIBLE_DEVICES") + SEAM_ENV_VARS


class ReplayFailed(ReproError):
    """A replay process exited with an error."""


def restore(trainer: Trainer, run_dir: str | Path, step: int) -> None:
    """Restore ``trainer`` to the checkpoint at ``step`` of ``run_dir``, verifying every tensor
    (parameters, buffers, optimiser slots) against the checkpoint's hashes file."""
    trainer.restore(rundir.load_checkpoint(run_dir, step, verify=False))
    bad = rundir.differing_tensors(rundir.read_hashes(run_dir, step), trainer.named_digests())
    if bad:
        raise InputError(f"checkpoint step {step} of {run_dir} does not match its hashes ({len(bad)} tensor(s), "
                         f"e.g. {bad[0]}); it cannot be replayed from")


def replay_window(run_dir: str | Path, start: int, end: int, records: str | Path | None, *,
                  dump_index: int | None = None, dump_path: str | Path | None = None,
                  record: bool = True) -> dict[str, Any]:
    """Replay steps ``start + 1 .. end`` of ``run_dir`` in this process (see the module docstring).

    ``records``: the JSON-lines file of op records (None: count only). ``record=False`` runs the
    window without a recorder (the baseline of ``benchmarks/localize.py``). Returns
    ``{"start", "end", "ops", "stopped_at", "trace": {step: full-state hash}, "conditions"}``.
    """
    run_dir = Path(run_dir)
    cfg = rundir.read_config(run_dir)
    if cfg.device == "auto":  # replay on the device the run resolved to, not on what this machine has
        try:
            device = rundir.read_run(run_dir).get("device")
        except (OSError, ValueError):
            device = None
        if device:
            cfg = cfg.replace(device=str(device))
    traced = {r["step"] for r in rundir.read_trace(run_dir) if "param_hash" in r} | {end}
    if cfg.compile != "none":
        raise InputError(f"{run_dir} was trained with compile={cfg.compile}: an op recorder sees only eager ops "
                         "(a compiled region runs as fused kernels); retrain with compile=none to localise")
    trace: dict[int, str] = {}
    stopped_at = None
    sink = open(records, "w", encoding="utf-8") if records is not None else None  # noqa: SIM115
    try:
        with execution_mode(cfg.mode, threads=cfg.threads,
                            fill_uninitialized_memory=cfg.fill_uninitialized_memory) as settings:
            trainer = Trainer(cfg)
            if start:
                restore(trainer, run_dir, start)
            start_hash = trainer.full_hash()
            paths = ModulePaths({"G": trainer.G, "D": trainer.D})
            recorder = Recorder(paths, sink, dump_index=dump_index, dump_path=dump_path)
            try:
                with paths:
                    for step in range(start + 1, end + 1):
                        recorder.begin_step(step)
                        if record:
                            with recorder:
                                trainer.train_step()
                        else:
                            trainer.train_step()
                        recorder.flush()
                        if step in traced:
                            trace[step] = trainer.full_hash()
            except StopReplay:
                stopped_at = dump_index
            finally:
                phase.clear()
            conditions = {"mode": cfg.mode, "threads": cfg.threads, "torch_threads": settings["threads"],
                          "device": str(trainer.device), "host": socket.gethostname(), "pid": os.getpid(),
                          "python": platform.python_version(), "torch": torch.__version__,
                          "env": {k: os.environ[k] for k in REPLAYED_ENV if k in os.environ}}
    finally:
        if sink is not None:
            sink.close()
    return {"start": start, "end": end, "ops": recorder.count, "stopped_at": stopped_at, "start_hash": start_hash,
            "trace": {str(k): v for k, v in trace.items()}, "conditions": conditions}


def run_environment(run_dir: str | Path) -> dict[str, str]:
    """This process's environment with the run's recorded numerics variables: those it had set are
    set to its values, those it had unset are removed (a run without a plant replays without one)."""
    env = dict(os.environ)
    try:
        recorded = io.read_json(Path(run_dir) / rundir.FINGERPRINT, "fingerprint").get("env", {})
    except (OSError, ValueError):
        log.info(f"{run_dir} has no readable fingerprint.json: replaying in this environment as it is")
        return env
    for name in REPLAYED_ENV:
        value = recorded.get(name)
        if value is None:
            if name in recorded or name in SEAM_ENV_VARS:
                env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def replay(run_dir: str | Path, start: int, end: int, records: str | Path, *, dump_index: int | None = None,
           dump_path: str | Path | None = None, timeout_s: float | None = None) -> dict[str, Any]:
    """:func:`replay_window` in a fresh interpreter with the run's environment; its summary."""
    summary = Path(records).with_suffix(".summary.json")
    cmd = [sys.executable, "-m", "repro.localize.replay", "--run", str(run_dir), "--start", str(start),
           "--end", str(end), "--records", str(records), "--summary", str(summary)]
    if dump_index is not None:
        cmd += ["--dump-index", str(dump_index), "--dump", str(dump_path)]
    env = run_environment(run_dir)
    root = str(Path(__file__).resolve().parents[2])  # this checkout, also when not installed
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else root
    log.info(f"replaying steps {start + 1}-{end} of {run_dir} in a fresh process")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise ReplayFailed(f"the replay of {run_dir} (steps {start + 1}-{end}) exited {done.returncode}: "
                           f"{done.stderr.strip()[-1500:]}")
    return io.read_json(summary, "replay summary")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m repro.localize.replay", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--dump-index", type=int, default=None)
    p.add_argument("--dump", default=None)
    args = p.parse_args(argv)
    result = replay_window(args.run, args.start, args.end, args.records, dump_index=args.dump_index,
                           dump_path=args.dump)
    io.write_json(args.summary, result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ReproError as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (json.JSONDecodeError, OSError) as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        sys.exit(2)
