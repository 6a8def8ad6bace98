"""Which runs an audit needs, where each one lives, which pairs it compares and which run is primary.

Every variant is trained ``replicates`` times in deterministic and ``replicates`` times in
nondeterministic mode with the main seed (so any difference is implementation
nondeterminism), once more per extra seed (seeds are the unit of evidence of a variant
comparison), and optionally once with one intra-op thread (``perturb="threads"``: the usual
source of CPU drift between machines).

:class:`AuditPlan` is the one place that spells run ids, pairs and the primary run; the audit,
the report, the gate and the DVC pipeline's run list (checked in a test) read it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repro.config import MODES, TrainConfig
from repro.errors import InputError
from repro.gan.presets import config_for

PERTURBATIONS = ("threads",)
PAIR_KINDS = ("deterministic", "nondeterministic", "threads")


@dataclass(frozen=True)
class RunSpec:
    variant: str
    mode: str
    seed: int
    replicate: int
    perturb: str | None = None

    @property
    def id(self) -> str:
        """``resnet_all/deterministic-s0-r1``; a perturbed run ends in ``-threads1``."""
        suffix = "-threads1" if self.perturb == "threads" else f"-r{self.replicate}"
        return f"{self.variant}/{self.mode}-s{self.seed}{suffix}"

    def is_primary(self, seed: int) -> bool:
        """Replicate 0 of the main seed, unperturbed: the run each mode's comparisons start from."""
        return self.replicate == 0 and self.perturb is None and self.seed == seed

    def config(self, overrides: dict[str, Any]) -> TrainConfig:
        changes = {**overrides, "mode": self.mode, "seed": self.seed}
        if self.perturb == "threads":
            changes["threads"] = 1
        return config_for(self.variant, **changes)

    def run_dir(self, runs_dir: str | Path) -> Path:
        return Path(runs_dir) / self.id


@dataclass(frozen=True)
class Pair:
    """Two runs that must be compared bit for bit: ``kind`` is the mode of a same-seed replicate
    pair, or ``threads`` for the thread perturbation against the primary deterministic run."""

    kind: str
    a: RunSpec
    b: RunSpec

    @property
    def variant(self) -> str:
        return self.a.variant


@dataclass(frozen=True)
class AuditPlan:
    """The runs of one audit (schema ``repro.plan/1`` inside ``report.json``'s ``plan``)."""

    variant: str
    baseline_variant: str
    replicates: int = 2
    seed: int = 0
    extra_seeds: tuple[int, ...] = ()
    perturb: tuple[str, ...] = ()

    SCHEMA = "repro.plan/1"

    def __post_init__(self) -> None:
        if not isinstance(self.replicates, int) or self.replicates < 2:
            raise InputError(f"invalid replicates={self.replicates!r}: an audit compares pairs, so at least 2")
        for p in self.perturb:
            if p not in PERTURBATIONS:
                raise InputError(f"unknown perturbation {p!r}; valid perturbations: {', '.join(PERTURBATIONS)}")
        if self.seed in self.extra_seeds:
            raise InputError(f"extra seeds {list(self.extra_seeds)} repeat the main seed {self.seed}")
        if len(set(self.extra_seeds)) != len(self.extra_seeds):
            raise InputError(f"extra seeds {list(self.extra_seeds)} repeat a seed")

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys((self.variant, self.baseline_variant)))  # ordered, without duplicates

    @property
    def seeds(self) -> list[int]:
        return [self.seed, *self.extra_seeds]

    def runs(self) -> list[RunSpec]:
        """Every run, variant first, in the order they are trained."""
        specs: list[RunSpec] = []
        for v in self.variants:
            for mode in MODES:
                specs += [RunSpec(v, mode, self.seed, r) for r in range(self.replicates)]
            specs += [RunSpec(v, "deterministic", s, 0) for s in self.extra_seeds]
            if "threads" in self.perturb:
                specs.append(RunSpec(v, "deterministic", self.seed, 0, "threads"))
        return specs

    def primary(self, variant: str, mode: str = "deterministic") -> RunSpec:
        """Replicate 0 of the main seed in ``mode``: the run whose trace, samples and cost stand for the variant."""
        if variant not in self.variants or mode not in MODES:
            raise InputError(f"no primary run for {variant!r} in mode {mode!r}; variants: {', '.join(self.variants)}, "
                             f"modes: {', '.join(MODES)}")
        return RunSpec(variant, mode, self.seed, 0)

    def pairs(self) -> list[Pair]:
        """Replicate 0 against each other replicate per mode (main seed), and the thread perturbation."""
        out = []
        for v in self.variants:
            for mode in MODES:
                base = self.primary(v, mode)
                out += [Pair(mode, base, RunSpec(v, mode, self.seed, r)) for r in range(1, self.replicates)]
            if "threads" in self.perturb:
                out.append(Pair("threads", self.primary(v), RunSpec(v, "deterministic", self.seed, 0, "threads")))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"schema": self.SCHEMA, **d, "extra_seeds": list(self.extra_seeds), "perturb": list(self.perturb)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AuditPlan":
        if not isinstance(d, dict) or d.get("schema") != cls.SCHEMA:
            raise InputError(f"not an audit plan with schema {cls.SCHEMA!r}: {str(d)[:200]}")
        return cls(d["variant"], d["baseline_variant"], int(d["replicates"]), int(d["seed"]),
                   tuple(int(s) for s in d["extra_seeds"]), tuple(d["perturb"]))

    @property
    def id(self) -> str:
        """A short digest of the plan: the same plan has the same id on every machine."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(variant: str, baseline_variant: str, *, replicates: int = 2, seed: int = 0,
         extra_seeds: tuple[int, ...] = (), perturb: tuple[str, ...] = ()) -> list[RunSpec]:
    """The runs of one audit, variant first, in the order they are trained (``AuditPlan(...).runs()``)."""
    return AuditPlan(variant, baseline_variant, replicates, seed, tuple(extra_seeds), tuple(perturb)).runs()
