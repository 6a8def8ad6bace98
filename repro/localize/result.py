"""The records of a localisation, as the audit report embeds them (``to_dict``/``from_dict``).

:class:`Localization` is the answer to "where do these two runs part ways": ``identical`` (no
traced step, checkpoint or final hash differs), ``localised`` (an op is named: the first op
with equal inputs and different outputs, :class:`Culprit`, or the first index where the two
programs call different ops, :class:`SequenceSplit`) or ``not localised`` (with the reason:
the replays did not diverge, the runs differ before the window, ...). The table of every op
that differed on equal inputs (:class:`OpCount`) and the conditions
each side was replayed in come with it. The op record (:class:`OpRecord`) and the records of a process hunt
(:class:`HuntResult`, :class:`ThreadResult`) live here too, so that the audit report can hold
them without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from repro.errors import InputError

STATUSES = ("identical", "localised", "not localised")
SCHEMA = "repro.localization/1"
HUNT_SCHEMA = "repro.hunt/1"


@dataclass(frozen=True)
class OpRecord:
    """One dispatched op of a replay.

    ``index``: call index from the start of the replay (0-based, counted per process, in call
    order). ``op``: the overload (``aten.convolution.default``). ``module``: the path of the module
    it ran in (``D.blocks.0.conv1``; ``G``/``D`` themselves; ``""`` outside any module); for a
    backward op the forward module whose op created the autograd node (``backward`` true,
    ``node`` the node's name, ``ConvolutionBackward0``); for gradient accumulation the parameter.
    ``update``/``stage``: the phase (``D2/5``, ``G``; ``data``, ``forward``, ``backward``,
    ``optimiser``) of ``step`` (the generator step it belongs to). ``inputs``: digests (16 hex
    digits) of the tensors it read, in argument order, before it ran; ``args``: one digest of
    its other arguments (numbers, shapes, flags) and, for a random op, of its generator's state.
    ``outputs``: digests of what it returned and of every tensor it wrote in place. Shapes are
    lists of ints; ``device`` is where it ran. ``note`` says why an op is not compared (e.g.
    ``uninitialised output``).
    """

    index: int
    op: str
    module: str
    backward: bool
    node: str
    update: str
    stage: str
    step: int
    inputs: tuple[str, ...]
    args: str
    outputs: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    device: str
    note: str = ""

    @property
    def phase(self) -> str:
        """``D2/5 backward``: the update and stage in one string."""
        return f"{self.update} {self.stage}".strip()

    def same_call(self, other: "OpRecord") -> bool:
        """The same op at the same place: overload, module and phase."""
        return (self.op, self.module, self.backward, self.update, self.stage, self.step) == (
            other.op, other.module, other.backward, other.update, other.stage, other.step)

    def same_inputs(self, other: "OpRecord") -> bool:
        return self.inputs == other.inputs and self.args == other.args

    def compared(self) -> bool:
        return not self.note

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("inputs", "outputs", "dtypes"):
            out[key] = list(out[key])
        for key in ("input_shapes", "output_shapes"):
            out[key] = [list(s) for s in out[key]]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OpRecord":
        names = {f.name for f in fields(cls)}
        missing = names - set(d) - {"note"}
        if missing:
            raise InputError(f"an op record lacks {', '.join(sorted(missing))}")
        v = {k: d[k] for k in names if k in d}
        for key in ("inputs", "outputs", "dtypes"):
            v[key] = tuple(v[key])
        for key in ("input_shapes", "output_shapes"):
            v[key] = tuple(tuple(s) for s in v[key])
        return cls(**v)


@dataclass(frozen=True)
class OpCount:
    """How often one op, at one place, gave different outputs on equal inputs."""

    op: str
    module: str
    backward: bool
    count: int
    first_index: int
    first_step: int
    first_phase: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OpCount":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


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


@dataclass(frozen=True)
class ThreadResult:
    """One thread count: ``counts`` maps each final hash to its number of processes (most common
    first); ``typical`` is the most common hash, ``diverging`` the processes on any other.
    ``upper_95``: one-sided exact 95% upper bound on the per-process rate of leaving the typical
    hash; ``interval_95``: the two-sided exact (Clopper-Pearson) interval. ``kept``: hash -> run
    directory kept. ``seconds``: wall time of each process, in order."""

    threads: int
    processes: int
    counts: dict[str, int]
    typical: str
    diverging: int
    upper_95: float
    interval_95: tuple[float, float]
    seconds: tuple[float, ...] = ()
    hashes: tuple[str, ...] = ()  # per process, in order
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "processes": self.processes, "distinct": self.distinct,
                "counts": dict(self.counts), "typical": self.typical, "diverging": self.diverging,
                "upper_95": self.upper_95, "interval_95": list(self.interval_95), "seconds": list(self.seconds),
                "hashes": list(self.hashes), "kept": dict(self.kept)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ThreadResult":
        return cls(d["threads"], d["processes"], dict(d["counts"]), d["typical"], d["diverging"], d["upper_95"],
                   tuple(d["interval_95"]), tuple(d.get("seconds", ())), tuple(d.get("hashes", ())),
                   dict(d.get("kept", {})))


@dataclass(frozen=True)
class HuntResult:
    """A whole hunt: the run trained (``variant``, ``steps``, ``sets``), where (``machine``: CPU
    model, torch, oneDNN and MKL versions, from the first process's fingerprint), when, and one
    :class:`ThreadResult` per thread count."""

    variant: str
    steps: int
    processes: int
    sets: tuple[str, ...]
    warm_cache: bool
    results: tuple[ThreadResult, ...]
    machine: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    finished: str = ""

    @property
    def varied(self) -> bool:
        """True when some thread count gave more than one final hash."""
        return any(r.distinct > 1 for r in self.results)

    def summary(self) -> str:
        lines = []
        for r in self.results:
            hashes = ", ".join(f"{h[:12]}: {n}" for h, n in r.counts.items())
            lines.append(f"{r.threads} thread(s): {r.distinct} distinct final hash(es) over {r.processes} fresh "
                         f"processes ({hashes}); {r.diverging} left the typical hash; 95% upper bound on the "
                         f"per-process rate {r.upper_95:.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": HUNT_SCHEMA, "variant": self.variant, "steps": self.steps, "processes": self.processes,
                "sets": list(self.sets), "warm_cache": self.warm_cache, "varied": self.varied,
                "results": [r.to_dict() for r in self.results], "machine": dict(self.machine),
                "started": self.started, "finished": self.finished}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HuntResult":
        if d.get("schema", HUNT_SCHEMA) != HUNT_SCHEMA:
            raise InputError(f"a hunt record of schema {d.get('schema')!r}; this version reads {HUNT_SCHEMA}")
        return cls(d["variant"], d["steps"], d["processes"], tuple(d.get("sets", ())), bool(d.get("warm_cache")),
                   tuple(ThreadResult.from_dict(r) for r in d["results"]), dict(d.get("machine", {})),
                   d.get("started", ""), d.get("finished", ""))
