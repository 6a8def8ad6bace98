"""What a resume may continue: the same run (its identity), longer (an extension), in the same
environment (or, when allowed, another one, recorded).

Identity (:func:`repro.config.identity_diff`): every config field that changes a run's results must
match; the execution fields (checkpoint and trace cadence, host reads, ...) may differ.

Extension: a run asked with more ``steps`` and nothing else of its identity changed continues from
its last checkpoint (no schedule in this trainer depends on the total), so a finished run becomes
running again and ends on the bits of a run trained to the new length at once.

Environment: a session's fingerprint (:mod:`repro.fingerprint`) must match the run's in every field
that changes bits (:data:`BIT_KEYS`: library versions and builds, CPU model, intra-op threads,
numerics switches and variables, the GPUs when the run is on one), or the resume is refused with the
differences named. ``allow_env_change`` continues anyway: ``run.json`` then records the fingerprint
of each session from the first change on (``environments``) and ``bit_reproducible: false``.
``fingerprint.json`` stays the first session's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro import fingerprint, io, rundir
from repro.config import TrainConfig, identity_diff
from repro.errors import EnvironmentMismatch, InputError

# strict fingerprint keys (fingerprint.STRICT_KEYS) whose difference leaves a run's bits alone:
# how many CPUs exist or are allowed and the variables that only set torch's thread count (the count
# torch uses is threads.torch_intra_op, compared; a Ray worker sets OMP_NUM_THREADS, a shell may not),
# which GPU index is visible, and torch's NaN fill of new tensors (an execution field of the config)
NOT_BITS = ("threads.cpu_count", "threads.affinity", "env.OMP_NUM_THREADS", "env.MKL_NUM_THREADS",
            "env.CUDA_VISIBLE_DEVICES", "speed.fill_uninitialized_memory")
# what a run on the CPU does not depend on: the CUDA and NVML sections, and the CUDA and cuDNN
# switches among the numerics (e.g. set_float32_matmul_precision also moves the CUDA matmul's
# fp32_precision, which no CPU kernel reads)
GPU_KEYS = ("cuda", "nvml", "numerics.cuda_*", "numerics.cudnn_*", "numerics.fp32_precision_cuda_matmul",
            "numerics.fp32_precision_cudnn")


@dataclass(frozen=True)
class Plan:
    """What :func:`inspect` found: ``previous`` (the run record to continue, None for a new run),
    ``replace`` (remove what a run wrote first), ``extend_from`` (the old ``steps`` of a finished run
    being extended) and ``finished`` (a finished run to return as it is)."""

    previous: dict[str, Any] | None = None
    replace: bool = False
    extend_from: int | None = None
    finished: bool = False


def inspect(cfg: TrainConfig, out: Path, resume: bool, force: bool) -> Plan:
    """Check ``out`` against ``cfg`` without changing anything."""
    if not out.exists():
        return Plan()
    rundir.check_marker(out)
    foreign = rundir.foreign_files(out)
    if foreign:
        raise InputError(f"{out} is not a run directory: it holds {', '.join(foreign)} but no {rundir.MARKER}, "
                         "so no repro run wrote them; refusing to overwrite or delete them (--force only removes "
                         "what a run wrote): choose another --out")
    if not (out / rundir.CONFIG).exists():
        leftovers = [n for n in rundir.RUN_FILES if n != rundir.MARKER and (out / n).exists()]
        if rundir.CHECKPOINTS in leftovers and not force:
            raise InputError(f"{out} holds checkpoints but no {rundir.CONFIG}; refusing to guess (use --force)")
        return Plan(replace=bool(leftovers))
    if force and not resume:
        return Plan(replace=True)
    stored = rundir.read_config(out)
    if not resume:
        raise InputError(f"{out} already holds a run (its config is {out / rundir.CONFIG}); "
                         "pass --resume to continue it or --force to replace it")
    differing = identity_diff(stored, cfg)
    extend = set(differing) == {"steps"} and cfg.steps > stored.steps
    if differing and not extend:
        fields = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in differing.items())
        hint = (" (a run can be extended to more steps, never shortened)" if "steps" in differing and len(differing) == 1
                else "")
        raise InputError(f"cannot resume {out} with a different config; differing fields: {fields}{hint}")
    previous = rundir.read_run(out) if (out / rundir.RUN).exists() else {"status": "failed"}  # killed before run.json
    if previous["status"] == "diverged" or (previous["status"] == "completed" and not extend):
        return Plan(previous=previous, finished=True)
    return Plan(previous=previous, extend_from=stored.steps if extend and previous["status"] == "completed" else None)


def bits_view(fp: dict[str, Any]) -> dict[str, Any]:
    """The flattened fingerprint fields that change a run's bits (strict keys less :data:`NOT_BITS`)."""
    return {k: v for k, v in fingerprint.flatten(fp).items()
            if fingerprint.is_strict_key(k) and not fingerprint.key_matches(k, NOT_BITS)}


def environment_changes(run_env: dict[str, Any], now: dict[str, Any], on_gpu: bool) -> list[tuple[str, Any, Any]]:
    """``[(key, run value, this session's value)]`` over :func:`bits_view` of each (already flat)."""
    out = []
    for key in sorted(set(run_env) | set(now)):
        if not on_gpu and fingerprint.key_matches(key, GPU_KEYS):
            continue
        a, b = run_env.get(key, fingerprint.MISSING), now.get(key, fingerprint.MISSING)
        if a != b or type(a) is not type(b):
            out.append((key, a, b))
    return out


def check_environment(out: Path, previous: dict[str, Any], device: str, fp_now: dict[str, Any],
                      allow: bool) -> list[dict[str, Any]]:
    """Compare this session with the environment the run last trained in; refuse a difference that
    changes bits unless ``allow``. Returns the ``environments`` entries to add to run.json: none while
    the environment never changed; at the first change the run's environment until then (from
    ``fingerprint.json``) and this session's; after it, this session's. The caller adds ``session``
    and ``from_step`` to the last entry."""
    now = bits_view(fp_now)
    recorded = previous.get("environments") or []
    first: list[dict[str, Any]] = []
    if recorded:
        last = recorded[-1]
        if not isinstance(last, dict) or not isinstance(last.get("fingerprint"), dict):
            raise InputError(f"damaged run record {out / rundir.RUN}: environments[-1] is not an object with a "
                             "fingerprint")
        run_env, run_device = last["fingerprint"], last.get("device")
    elif (out / rundir.FINGERPRINT).exists():
        run_env, run_device = bits_view(_read_fingerprint(out)), previous.get("device")
        first = [{"session": 1, "from_step": 0, "fingerprint": run_env, "device": run_device, "differs": []}]
    else:
        return []  # killed before its fingerprint was written: this session's becomes the run's
    changes = environment_changes(run_env, now, on_gpu=device != "cpu" or (run_device or "cpu") != "cpu")
    if run_device is not None and run_device != device:
        changes.insert(0, ("device", run_device, device))
    if not changes and not recorded:
        return []
    if changes and not allow:
        shown = "; ".join(f"{k}: run has {_text(a)}, this session {_text(b)}" for k, a, b in changes[:6])
        more = f" (and {len(changes) - 6} more)" if len(changes) > 6 else ""
        raise EnvironmentMismatch(
            f"cannot resume {out} in another environment: {shown}{more}. Continuing would change the run's bits "
            "with no trace of it; resume where it ran (same libraries, CPU and thread count, e.g. the same "
            "OMP_NUM_THREADS or --set threads=N), or pass --allow-env-change to continue and record the run as "
            "not bit-reproducible from scratch")
    return [*(first if changes else []), {"fingerprint": now, "device": device, "differs": [k for k, _, _ in changes]}]


def _read_fingerprint(out: Path) -> dict[str, Any]:
    path = out / rundir.FINGERPRINT
    fp = io.read_json(path, "run fingerprint")
    if not isinstance(fp, dict):
        raise InputError(f"damaged run fingerprint {path}: expected an object, got {type(fp).__name__}")
    return fp


def _text(value: Any) -> str:
    return "nothing" if value is fingerprint.MISSING else repr(value)
