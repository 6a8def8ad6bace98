"""Which runs an audit needs, and where each one lives.

Every variant is trained ``replicates`` times in deterministic and ``replicates`` times in
nondeterministic mode with the same seed (so any difference is implementation
nondeterminism), once more per extra seed (seed noise), and optionally once with one
intra-op thread (``perturb="threads"``: the usual source of CPU drift between machines).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.config import MODES, TrainConfig
from repro.gan.presets import config_for

PERTURBATIONS = ("threads",)


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


def plan(variant: str, baseline_variant: str, *, replicates: int = 2, seed: int = 0,
         extra_seeds: tuple[int, ...] = (), perturb: tuple[str, ...] = ()) -> list[RunSpec]:
    """The runs of one audit, variant first, in the order they are trained."""
    if replicates < 2:
        raise ValueError(f"invalid replicates={replicates}: an audit compares pairs, so at least 2")
    for p in perturb:
        if p not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {p!r}; valid perturbations: {', '.join(PERTURBATIONS)}")
    if seed in extra_seeds:
        raise ValueError(f"extra seeds {list(extra_seeds)} repeat the main seed {seed}")
    specs: list[RunSpec] = []
    for v in dict.fromkeys((variant, baseline_variant)):  # ordered, without duplicates
        for mode in MODES:
            specs += [RunSpec(v, mode, seed, r) for r in range(replicates)]
        specs += [RunSpec(v, "deterministic", s, 0) for s in extra_seeds]
        if "threads" in perturb:
            specs.append(RunSpec(v, "deterministic", seed, 0, "threads"))
    return specs
