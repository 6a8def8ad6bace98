"""``localize(run_a, run_b)``: the op at which two runs part ways.

1. :func:`repro.localize.window.find_window` reads both run directories: the first step whose
   recorded state differs and the last checkpoint before it at which both agree.
2. Each run's window is replayed in a fresh process, in that run's own conditions (its mode,
   intra-op threads, device, numerics environment), recording every op
   (:mod:`repro.localize.replay`): side a, then side b.
3. The two records are compared in call order (:mod:`repro.localize.compare`): the first op whose
   inputs are bitwise equal and whose outputs are not is the culprit; every such op is counted.
4. Both windows are replayed once more up to the culprit, saving its outputs, for the size of
   the difference (max abs / relative).

Cost: two replays of the window with hashing, and two short ones without (to the culprit). The
records (about 330 bytes an op) go to ``out`` when given, else to a temporary folder.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from repro import io, rundir
from repro.localize import compare, digest
from repro.localize.replay import replay
from repro.localize.result import Culprit, Localization, SequenceSplit
from repro.localize.window import find_window

log = logging.getLogger(__name__)


def localize(run_a: str | Path, run_b: str | Path, *, out: str | Path | None = None, measure: bool = True,
             timeout_s: float | None = None) -> Localization:
    """Where ``run_a`` and ``run_b`` part ways (see the module docstring).

    ``out``: a folder that keeps the op records (``a.ops.jsonl``, ``b.ops.jsonl``), the replay
    summaries and ``localization.json``. ``measure=False`` skips the targeted replays that size
    the culprit's difference. ``timeout_s``: per replay process.
    """
    run_a, run_b = Path(run_a), Path(run_b)
    window = find_window(run_a, run_b)
    base = {"run_a": str(run_a), "run_b": str(run_b), "config_differences": window.config_differences}
    if window.identical:
        return _saved(Localization("identical", window.detail, **base), out)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="repro-localize-") as tmp:
            return _localize(run_a, run_b, window, Path(tmp), base, measure, timeout_s)
    folder = io.check_output_dir(Path(out), "localize output folder")
    folder.mkdir(parents=True, exist_ok=True)
    return _saved(_localize(run_a, run_b, window, folder, base, measure, timeout_s), folder)


def _saved(result: Localization, out: str | Path | None) -> Localization:
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        io.write_json(Path(out) / "localization.json", result.to_dict())
    return result


def _localize(run_a: Path, run_b: Path, window, folder: Path, base: dict[str, Any], measure: bool,
              timeout_s: float | None) -> Localization:
    start, end = window.checkpoint_step, window.first_divergent_step
    base.update(first_divergent_step=end, checkpoint_step=start)
    summaries = {}
    for side, run in (("a", run_a), ("b", run_b)):
        summaries[side] = replay(run, start, end, folder / f"{side}.ops.jsonl", timeout_s=timeout_s)
    replays = {side: _conditions(summaries[side], run, end) for side, run in (("a", run_a), ("b", run_b))}
    base["replays"] = replays
    result = compare.compare_files(folder / "a.ops.jsonl", folder / "b.ops.jsonl")
    counts = {"ops_a": result.ops_a, "ops_b": result.ops_b, "ops_compared": result.compared,
              "nondeterministic_ops": result.table}
    if summaries["a"]["start_hash"] != summaries["b"]["start_hash"]:
        return Localization("not localised", f"the replays start from different states at step {start} (the runs' "
                            f"{'configs build different initial states' if not start else 'checkpoints differ'}"
                            f"{': ' + ', '.join(window.config_differences) + ' differ' if window.config_differences else ''}"
                            ")", **base, **counts)
    split = None
    if result.sequence is not None:  # after the culprit, if any: the programs then took other paths
        a, b = result.sequence
        split = SequenceSplit((a or b).index, a, b)
    if result.culprit is not None:
        culprit = Culprit(*result.culprit)
        if measure:
            culprit = _measure(run_a, run_b, start, end, culprit, folder, timeout_s)
        note = _reproduction_note(replays)
        return Localization("localised", note, culprit=culprit, sequence_split=split, **base, **counts)
    if split is not None:
        return Localization("localised", "the two programs ran different ops from this call on (nothing after it "
                            "is compared)" + _suffix(_reproduction_note(replays)),
                            sequence_split=split, **base, **counts)
    return Localization("not localised", _why_not(replays, result, window), **base, **counts)


def _conditions(summary: dict[str, Any], run: Path, end: int) -> dict[str, Any]:
    """The conditions a side was replayed in, and whether it gave its run's recorded state again."""
    recorded = {r["step"]: r["param_hash"] for r in rundir.read_trace(run) if "param_hash" in r}
    got = summary["trace"].get(str(end))
    want = recorded.get(end)
    return {**summary["conditions"], "ops": summary["ops"], "replayed_steps": [summary["start"] + 1, end],
            "reproduced": None if want is None else got == want, "state_hash": got, "recorded_hash": want}


def _reproduction_note(replays: dict[str, dict[str, Any]]) -> str:
    off = [side for side, r in replays.items() if r.get("reproduced") is False]
    if not off:
        return ""
    return (f"note: the replay of side {' and '.join(off)} did not end on its run's recorded state: the run's "
            "own divergence did not recur in its replay, so the op named is where the replays part")


def _suffix(text: str) -> str:
    return f"; {text}" if text else ""


def _why_not(replays: dict[str, dict[str, Any]], result: compare.Comparison, window) -> str:
    same_end = replays["a"].get("state_hash") == replays["b"].get("state_hash")
    if same_end:
        missed = [s for s, r in replays.items() if r.get("reproduced") is False]
        return ("the replays did not diverge: both ended on the same state at step "
                f"{window.first_divergent_step}" + (f", while side {' and '.join(missed)} recorded another when "
                "it was trained" if missed else "") + ". The divergence depends on something a replay in a fresh "
                "process does not repeat (a process-level race, machine load, a library's first-call choice); "
                "`repro hunt` counts how often it happens")
    if result.first_input_difference is not None and result.differing_outputs == 0:
        return (f"the replays diverged, but every op with equal inputs gave equal outputs; inputs first differ at "
                f"call {result.first_input_difference}, so the difference entered through something other than "
                "an op's result (a non-tensor argument, host data, uninitialised memory)"
                + (f"; the configs differ in {', '.join(window.config_differences)}" if window.config_differences
                   else ""))
    return "the replays diverged, but no op could be named (no op compared differs)"


def _measure(run_a: Path, run_b: Path, start: int, end: int, culprit: Culprit, folder: Path,
             timeout_s: float | None) -> Culprit:
    """Replay each side again up to the culprit, save its outputs there, and size the difference.
    When a side's saved outputs do not hash to what its first replay recorded (a race that did
    not recur), the difference is not measured and ``diff_note`` says so."""
    outputs = {}
    for side, run, recorded in (("a", run_a, culprit.a), ("b", run_b, culprit.b)):
        dump = folder / f"{side}.culprit.pt"
        replay(run, start, end, folder / f"{side}.culprit.ops.jsonl", dump_index=recorded.index, dump_path=dump,
               timeout_s=timeout_s)
        saved = io.torch_load(dump, "saved op outputs")["outputs"]
        got = tuple(digest.hex16(digest.digest(t)) for t in saved)
        if got != recorded.outputs:
            return replace(culprit, diff_note=f"not measured: side {side}'s second replay did not give the outputs "
                                              "its first replay recorded for this op (the difference did not recur)")
        outputs[side] = saved
    size = compare.output_difference(outputs["a"], outputs["b"])
    return replace(culprit, max_abs_diff=size["max_abs_diff"], max_rel_diff=size["max_rel_diff"],
                   elements_differing=size["elements_differing"], elements=size["elements"], diff_note=size["note"])
