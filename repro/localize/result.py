"""The records of a localisation, as the audit report embeds them (``to_dict``/``from_dict``).

:class:`Localization` is the answer to "where do these two runs part ways": ``identical`` (no
traced step, checkpoint or final hash differs), ``localised`` (an op is named: the first op
with equal inputs and different outputs, :class:`Culprit`, or the first index where the two
programs call different ops, :class:`SequenceSplit`) or ``not localised`` (with the reason:
the replays did not diverge, the runs differ before the window, ...). The table of every op
that differed on equal inputs (:class:`repro.localize.compare.OpCount`) and the conditions
each side was replayed in come with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from repro.errors import InputError
from repro.localize.compare import OpCount
from repro.localize.ops import OpRecord

STATUSES = ("identical", "localised", "not localised")
SCHEMA = "repro.localization/1"


@dataclass(frozen=True)
class Culprit:
    """The first op whose inputs were bitwise equal in both replays and whose outputs were not.

    ``a``/``b``: the op as each side recorded it (same overload, module, phase, step and input
    digests; different output digests). ``max_abs_diff``/``max_rel_diff``: over the elements of
    its outputs that differ (from a second, targeted replay that saves that op's outputs; None,
    with ``diff_note`` saying why, when that replay did not give the recorded outputs again).
    ``elements_differing`` of ``elements``.
    """

    a: OpRecord
    b: OpRecord
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    elements_differing: int | None = None
    elements: int | None = None
    diff_note: str = ""

    # the fields a reader wants first, from side a (both sides agree on them)
    @property
    def op(self) -> str:
        return self.a.op

    @property
    def module(self) -> str:
        return self.a.module

    def describe(self) -> str:
        r = self.a
        where = f"{r.module or '(no module)'}{' (backward, ' + r.node + ')' if r.backward else ''}"
        shapes = ", ".join("x".join(map(str, s)) or "scalar" for s in r.output_shapes)
        text = (f"{r.op} in {where}, step {r.step} {r.phase}, call {r.index}: outputs [{shapes}] "
                f"{'/'.join(sorted(set(r.dtypes)))} on {r.device}")
        if self.max_abs_diff is not None:
            text += (f"; {self.elements_differing} of {self.elements} elements differ, max abs diff "
                     f"{self.max_abs_diff:.3g}, max rel diff {self.max_rel_diff:.3g}")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "max_abs_diff": self.max_abs_diff,
                "max_rel_diff": self.max_rel_diff, "elements_differing": self.elements_differing,
                "elements": self.elements, "diff_note": self.diff_note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Culprit":
        return cls(OpRecord.from_dict(d["a"]), OpRecord.from_dict(d["b"]), d.get("max_abs_diff"),
                   d.get("max_rel_diff"), d.get("elements_differing"), d.get("elements"), d.get("diff_note", ""))


@dataclass(frozen=True)
class SequenceSplit:
    """The first call index at which the two replays ran different ops (None: that side ended)."""

    index: int
    a: OpRecord | None
    b: OpRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "a": self.a.to_dict() if self.a else None,
                "b": self.b.to_dict() if self.b else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SequenceSplit":
        return cls(d["index"], OpRecord.from_dict(d["a"]) if d.get("a") else None,
                   OpRecord.from_dict(d["b"]) if d.get("b") else None)


@dataclass(frozen=True)
class Localization:
    """Where two runs part ways (see the module docstring).

    ``first_divergent_step``: the first step at which the runs' recorded states (trace hashes,
    checkpoint hashes) differ; ``checkpoint_step``: the last step before it at which both runs'
    full states agree and that the replay starts from (0: both runs' initial state, rebuilt from
    the config). ``replays``: per side (``a``, ``b``), the conditions its replay ran in (mode,
    threads, device, host, PID, environment) and whether it reproduced the run's own recorded
    hash at ``first_divergent_step`` (``reproduced``). ``ops_compared``: ops with equal inputs
    whose outputs were compared. ``config_differences``: config fields in which the runs differ.
    """

    status: str
    reason: str
    run_a: str
    run_b: str
    first_divergent_step: int | None = None
    checkpoint_step: int | None = None
    culprit: Culprit | None = None
    sequence_split: SequenceSplit | None = None
    nondeterministic_ops: tuple[OpCount, ...] = ()
    ops_a: int = 0
    ops_b: int = 0
    ops_compared: int = 0
    config_differences: tuple[str, ...] = ()
    replays: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputError(f"localization status {self.status!r} is not one of {', '.join(STATUSES)}")

    def summary(self) -> str:
        """One paragraph for a terminal or a report."""
        if self.status == "identical":
            return f"identical: {self.reason}"
        head = (f"{self.status}: first differing step {self.first_divergent_step}, replayed from "
                f"{'the initial state' if not self.checkpoint_step else f'checkpoint step {self.checkpoint_step}'}")
        if self.culprit is not None:
            head += f"; the first op with equal inputs and different outputs: {self.culprit.describe()}"
        elif self.sequence_split is not None:
            s = self.sequence_split
            head += (f"; the replays call different ops at call {s.index}: "
                     f"{_op_line(s.a)} vs {_op_line(s.b)}")
        return head + f" ({self.reason})" if self.reason else head

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "status": self.status, "reason": self.reason, "run_a": self.run_a,
                "run_b": self.run_b, "first_divergent_step": self.first_divergent_step,
                "checkpoint_step": self.checkpoint_step,
                "culprit": self.culprit.to_dict() if self.culprit else None,
                "sequence_split": self.sequence_split.to_dict() if self.sequence_split else None,
                "nondeterministic_ops": [c.to_dict() for c in self.nondeterministic_ops],
                "ops_a": self.ops_a, "ops_b": self.ops_b, "ops_compared": self.ops_compared,
                "config_differences": list(self.config_differences), "replays": self.replays,
                "summary": self.summary()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Localization":
        if d.get("schema", SCHEMA) != SCHEMA:
            raise InputError(f"a localization record of schema {d.get('schema')!r}; this version reads {SCHEMA}")
        names = {f.name for f in fields(cls)}
        v = {k: d[k] for k in names if k in d}
        v["culprit"] = Culprit.from_dict(d["culprit"]) if d.get("culprit") else None
        v["sequence_split"] = SequenceSplit.from_dict(d["sequence_split"]) if d.get("sequence_split") else None
        v["nondeterministic_ops"] = tuple(OpCount.from_dict(c) for c in d.get("nondeterministic_ops", ()))
        v["config_differences"] = tuple(d.get("config_differences", ()))
        return cls(**v)


def _op_line(r: OpRecord | None) -> str:
    if r is None:
        return "(no more ops)"
    return f"{r.op} in {r.module or '(no module)'}{' backward' if r.backward else ''} (step {r.step} {r.phase})"
