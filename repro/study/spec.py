"""A study's specification, stored as ``STUDY_DIR/study.json`` so that a resumed study is the same study.

Layout of a study directory::

    study.json              this spec (written once; a resume with another spec is refused)
    optuna.journal          Table 2 only: Optuna's journal storage (every ask and tell, append-only)
    runs/<trial>/seed<k>/   one run directory per (trial, seed) (repro.rundir)
    results.json            one row per run (repro.study.results), rewritten after each round
    study.md, figures/, plots/, claims.*   the report (repro.study.report, repro claims)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro import io
from repro.errors import InputError
from repro.study import space

SPEC_FILE = "study.json"
SPEC_SCHEMA = "repro.study/1"


@dataclass(frozen=True)
class StudySpec:
    """Everything that decides which runs a study trains.

    space: ``table1`` (grid over ``settings``) or ``table2`` (Bayesian optimisation, ``trials``
    settings per variant in ``rounds`` rounds of equal size). The length of a run is ``steps``
    generator steps (each ``n_dis`` discriminator updates then one generator update) or, with
    ``d_steps``, a number of discriminator updates as compare_gan and the paper count them (200k on
    CIFAR-10, 100k on CELEBA-HQ-128 and LSUN-BEDROOM: Kurach et al. 2019, Section 2.6): a run at
    n_dis n then trains ceil(d_steps / n) generator steps. ``overrides``: TrainConfig fields set
    on every run after the preset and the setting (e.g. ``checkpoint_every``). ``eval_seeds``:
    evaluation seeds per run (the study needs one FID per run; more only refine each value).
    """

    variants: tuple[str, ...]
    space: str = "table1"
    settings: tuple[str, ...] = ("*",)  # Table 1 name globs
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 200  # generator steps per run; 0 when d_steps sets the length
    dataset: str = "digits"
    trials: int = 0  # Table 2: settings per variant
    rounds: int = 0  # Table 2: rounds (trials // rounds run in parallel per round)
    sampler_seed: int = 0  # Table 2: the GP sampler's seed
    eval_seeds: int = 1
    n_boot: int = 50
    overrides: tuple[tuple[str, Any], ...] = field(default=())
    d_steps: int = 0  # discriminator updates per run (compare_gan's count); 0: ``steps`` sets the length
    ndis: tuple[int, ...] = ()  # Table 2: the n_dis values searched, one search each; (): the variant's own

    def __post_init__(self):
        if self.space not in space.SPACES:
            raise InputError(f"unknown space {self.space!r}; valid spaces: {', '.join(space.SPACES)}")
        if not self.variants:
            raise InputError("a study needs at least one variant")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"seeds must be a non-empty list of distinct integers, got {list(self.seeds)}")
        if self.d_steps < 0 or (self.d_steps > 0) == (self.steps > 0) or self.steps < 0:
            raise InputError(f"give the run length as generator steps or as discriminator updates, one of them >= 1 "
                             f"and the other 0; got steps={self.steps}, d_steps={self.d_steps}")
        if self.space == "table2":
            if self.trials < 1 or self.rounds < 1 or self.rounds > self.trials:
                raise InputError(f"table2 needs --trials N >= 1 and 1 <= --rounds R <= N, got trials={self.trials}, "
                                 f"rounds={self.rounds}")
        if self.ndis and (self.space != "table2" or any(n < 1 for n in self.ndis) or len(set(self.ndis)) != len(self.ndis)):
            raise InputError(f"ndis (the n_dis values Table 2 searches) must be distinct integers >= 1 and belongs to "
                             f"--space table2 (a Table 1 setting names its n_dis); got {list(self.ndis)}")
        if self.eval_seeds < 1 or self.n_boot < 1:
            raise InputError("eval_seeds and n_boot must be >= 1")

    def generator_steps(self, n_dis: int) -> int:
        """Generator steps of a run at ``n_dis`` (``steps``, or ceil(d_steps / n_dis))."""
        return -(-self.d_steps // n_dis) if self.d_steps else self.steps

    @property
    def round_size(self) -> int:
        """Trials per round per variant (the last round takes the remainder)."""
        return -(-self.trials // self.rounds)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["overrides"] = dict(self.overrides)
        return {"schema": SPEC_SCHEMA, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StudySpec":
        d = dict(d)
        if d.pop("schema", None) != SPEC_SCHEMA:
            raise InputError(f"not a {SPEC_SCHEMA} study spec")
        for key in ("variants", "settings", "seeds", "ndis"):
            d[key] = tuple(d.get(key, ()))
        d["overrides"] = tuple(sorted(d.get("overrides", {}).items()))
        return cls(**d)


def write_or_check(spec: StudySpec, out: Path) -> None:
    """Write ``study.json``, or check that the one in ``out`` is ``spec`` (a resume); a different
    spec is a ``ValueError`` naming the fields that differ (nothing is changed)."""
    path = out / SPEC_FILE
    if path.exists():
        old = read(out)
        if old != spec:
            a, b = old.to_dict(), spec.to_dict()
            diffs = ", ".join(f"{k}: study has {a[k]!r}, asked {b[k]!r}" for k in a if a[k] != b.get(k))
            raise InputError(f"{out} holds another study ({diffs}); resume it with the same options or choose "
                             "another --out")
        return
    io.write_json(path, spec.to_dict())


def read(out: Path) -> StudySpec:
    return StudySpec.from_dict(io.read_json(Path(out) / SPEC_FILE, "study spec"))


__all__ = ["SPEC_FILE", "StudySpec", "write_or_check", "read"]
