"""Which steps to replay: where two runs' recorded states first differ, and where they last agree.

A run records its state in two ways: the trace's ``param_hash`` (all parameters, buffers and
optimiser slots) every ``trace_every`` steps and at the last step, and each checkpoint's
per-tensor hashes (the same tensors). The first step at which either record differs between the
runs is the first divergent step; the replay starts at the last checkpoint before it whose
per-tensor hashes agree in both runs (a checkpoint holds the RNG and sampler states too, and
resuming from one is bit-exact), or at step 0, both runs' initial state rebuilt from their
configs, when no such checkpoint exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro import hashing, rundir
from repro.config import diff as config_diff
from repro.errors import InputError

# config fields that may differ between two runs without changing what they compute at a step
# (where and how often they record, how long they run) or that are the conditions being compared
CONDITIONS = ("mode", "threads", "device", "fill_uninitialized_memory")
BOOKKEEPING = ("steps", "checkpoint_every", "trace_every", "trace_async", "sync_every", "data_root")


@dataclass(frozen=True)
class Window:
    """``identical``: nothing recorded differs. Otherwise the replay covers steps
    ``checkpoint_step + 1 .. first_divergent_step``. ``config_differences``: fields that differ
    beyond the run conditions and bookkeeping (a reason the runs may part that is not an op)."""

    identical: bool
    first_divergent_step: int | None
    checkpoint_step: int | None
    detail: str
    config_differences: tuple[str, ...] = ()


def _states(run_dir: Path) -> dict[int, str]:
    """step -> full-state hash, from the trace and from every checkpoint's hashes file."""
    states = {r["step"]: r["param_hash"] for r in rundir.read_trace(run_dir) if "param_hash" in r}
    for step in rundir.checkpoint_steps(run_dir):
        states.setdefault(step, hashing.combine(rundir.read_hashes(run_dir, step)))
    return states


def find_window(run_a: str | Path, run_b: str | Path) -> Window:
    """The replay window of two run directories (see the module docstring)."""
    run_a, run_b = Path(run_a), Path(run_b)
    for run in (run_a, run_b):
        if not rundir.is_run_dir(run):
            raise InputError(f"{run} is not a run directory (no {rundir.MARKER} or {rundir.CONFIG})")
    cfg_a, cfg_b = rundir.read_config(run_a), rundir.read_config(run_b)
    differing = tuple(k for k in config_diff(cfg_a, cfg_b) if k not in CONDITIONS + BOOKKEEPING)
    states_a, states_b = _states(run_a), _states(run_b)
    common = sorted(set(states_a) & set(states_b))
    if not common:
        raise InputError(f"{run_a} and {run_b} have no traced or checkpointed step in common: nothing to compare")
    first = next((s for s in common if states_a[s] != states_b[s]), None)
    if first is None:
        final_a = _final(run_a)
        final_b = _final(run_b)
        if final_a is None or final_b is None or final_a == final_b:  # unfinished: what was recorded agrees
            return Window(True, None, None, f"every one of the {len(common)} recorded states in common agrees "
                          f"(steps {common[0]}-{common[-1]})", differing)
        raise InputError(f"{run_a} and {run_b} agree at every recorded step in common ({common[0]}-{common[-1]}) "
                         "but end on different final hashes: the runs differ in length; compare runs of equal steps")
    ckpts_a, ckpts_b = set(rundir.checkpoint_steps(run_a)), set(rundir.checkpoint_steps(run_b))
    start = 0
    for step in sorted(ckpts_a & ckpts_b):
        if step >= first:
            break
        if rundir.read_hashes(run_a, step) == rundir.read_hashes(run_b, step):
            start = step
    detail = (f"the recorded states first differ at step {first}; the last state both runs checkpointed "
              f"before it is {'the initial one (step 0)' if start == 0 else f'step {start}'}")
    return Window(False, first, start, detail, differing)


def _final(run_dir: Path) -> str | None:
    try:
        return rundir.read_run(run_dir).get("final_param_hash")
    except (OSError, ValueError):
        return None
