"""Compare two replays' op records in call order: which op broke it, and which ops differ at all.

The rule: an op is to blame only when its inputs (every tensor it read, its other arguments and,
for a random op, its generator's state) are bitwise equal on both sides and its outputs are not.
An op whose inputs already differ only passes a difference on, and is never blamed. The first
op to blame is the culprit; every op to blame is counted per (overload, module, forward or
backward) in the table, which for a nondeterministic-mode pair is the list of kernels to act on.
When the two sides call different ops at the same index (another overload, module or phase),
the programs themselves parted there: that is reported with both ops, and nothing after it is
compared. Ops whose outputs are uninitialised memory (``empty``) are never compared.

The records are streamed from their files side by side, so memory does not grow with the window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from repro.localize.ops import iter_records
from repro.localize.result import OpCount, OpRecord


@dataclass(frozen=True)
class Comparison:
    """What the records say. ``culprit``/``sequence`` are ``(record a, record b)`` pairs (for
    ``sequence`` one side is None when the other ran out of ops)."""

    ops_a: int
    ops_b: int
    compared: int  # ops with equal inputs on both sides, outputs compared
    first_input_difference: int | None  # call index of the first op whose inputs differ
    culprit: tuple[OpRecord, OpRecord] | None
    sequence: tuple[OpRecord | None, OpRecord | None] | None
    table: tuple[OpCount, ...]
    differing_outputs: int  # ops with equal inputs and differing outputs (the table's total)


def compare_records(a: Iterable[OpRecord], b: Iterable[OpRecord]) -> Comparison:
    """Compare two record streams (see the module docstring)."""
    counts: dict[tuple[str, str, bool], list] = {}
    culprit = sequence = first_input = None
    ops_a = ops_b = compared = differing = 0
    for ra, rb in itertools.zip_longest(a, b):
        ops_a += ra is not None
        ops_b += rb is not None
        if sequence is not None:
            continue  # count the rest of both sides, compare nothing more
        if ra is None or rb is None or not ra.same_call(rb):
            sequence = (ra, rb)
            continue
        if not (ra.compared() and rb.compared()):
            continue
        if not ra.same_inputs(rb):
            if first_input is None:
                first_input = ra.index
            continue
        compared += 1
        if ra.outputs != rb.outputs:
            differing += 1
            if culprit is None:
                culprit = (ra, rb)
            key = (ra.op, ra.module, ra.backward)
            row = counts.get(key)
            if row is None:
                counts[key] = [1, ra.index, ra.step, ra.phase]
            else:
                row[0] += 1
    table = tuple(sorted((OpCount(op, module, bwd, n, i, s, ph) for (op, module, bwd), (n, i, s, ph) in counts.items()),
                         key=lambda c: c.first_index))
    return Comparison(ops_a, ops_b, compared, first_input, culprit, sequence, table, differing)


def compare_files(path_a: str | Path, path_b: str | Path) -> Comparison:
    return compare_records(iter_records(path_a), iter_records(path_b))


def output_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> dict[str, Any]:
    """How two sides' outputs of one op differ: ``max_abs_diff``, ``max_rel_diff`` (over elements,
    |a - b| / max(|a|, |b|), elements where both are 0 left out), ``elements_differing`` and
    ``elements`` (bitwise, NaNs with equal bits count as equal), over every output tensor."""
    max_abs = max_rel = 0.0
    n_diff = n_all = 0
    for x, y in zip(a, b):
        n_all += x.numel()
        if x.shape != y.shape or x.dtype != y.dtype:
            return {"max_abs_diff": None, "max_rel_diff": None, "elements_differing": None, "elements": n_all,
                    "note": f"outputs differ in shape or dtype ({tuple(x.shape)} {x.dtype} vs {tuple(y.shape)} {y.dtype})"}
        if x.numel() == 0:
            continue
        if x.is_complex():
            x, y = torch.view_as_real(x), torch.view_as_real(y)
        bits_x = x.contiguous().view(-1).view(_INT[x.element_size()])
        bits_y = y.contiguous().view(-1).view(_INT[y.element_size()])
        differs = bits_x != bits_y
        n_diff += int(differs.sum())
        if not bool(differs.any()):
            continue
        xd, yd = x.reshape(-1)[differs].double(), y.reshape(-1)[differs].double()
        diff = (xd - yd).abs()
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, float("inf")), diff)
        scale = torch.maximum(xd.abs(), yd.abs())
        rel = torch.where(scale > 0, diff / scale, torch.zeros_like(diff))
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(rel.max()))
    return {"max_abs_diff": max_abs, "max_rel_diff": max_rel, "elements_differing": n_diff, "elements": n_all,
            "note": ""}


_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
