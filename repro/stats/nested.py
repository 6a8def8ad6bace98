"""Nested variance components of FID: seed > replicate within a seed > evaluation within a run.

The design (docs/statistics.md, "Seeds are the unit of evidence"): independent training seeds are the top
level; within a seed, the runs that differ in bits (nondeterministic replicates; bit-identical
runs are collapsed into one before they get here) are the middle level; within a run, FIDs under
several evaluation seeds (different z for the generated samples) are the bottom level. The model
is the random-effects nested ANOVA

    y_ijk = mu + a_i + b_ij + e_ijk,  a_i ~ N(0, s2_seed), b_ij ~ N(0, s2_rep), e_ijk ~ N(0, s2_eval)

fitted by the method of moments for unbalanced designs (Sokal & Rohlf, *Biometry*, 3rd ed.,
Box 10.4; Searle, Casella & McCulloch, *Variance Components*, 1992, Section 5.3): the observed
mean squares are equated to their expectations

    E[MS_eval] = s2_eval
    E[MS_rep]  = s2_eval + c_rep * s2_rep
    E[MS_seed] = s2_eval + c_rep_in_seed * s2_rep + c_seed * s2_seed

and solved level by level, negative estimates truncated at 0 (the usual convention, stated in
each component's ``note``). A level without replication anywhere is not estimable: its variance
is then contained in the level above (``confounded_with_above``), and the estimate above says so.

Confidence intervals of the standard deviations come from a parametric bootstrap of the fitted
model over the same design (the design is small and unbalanced, where Satterthwaite intervals
are poor), drawn from an explicit seeded generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from repro.errors import InputError

LEVELS = ("seed", "replicate", "evaluation")
DEFAULT_BOOT = 2000


@dataclass(frozen=True)
class Component:
    """One level's variance component. ``std`` is sqrt(max(var, 0)); None when not estimable."""

    level: str
    var: float | None
    std: float | None
    ci_low: float | None  # 95% interval of the standard deviation (parametric bootstrap)
    ci_high: float | None
    df: int  # degrees of freedom of the level's mean square
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decomposition:
    """The fitted nested model: grand mean, the three components, and the design's size."""

    mean: float
    seed: Component
    replicate: Component
    evaluation: Component
    n_seeds: int
    n_runs: int
    n_values: int

    def components(self) -> tuple[Component, Component, Component]:
        return self.seed, self.replicate, self.evaluation

    def to_dict(self) -> dict:
        return {"mean": self.mean, "n_seeds": self.n_seeds, "n_runs": self.n_runs, "n_values": self.n_values,
                **{c.level: c.to_dict() for c in self.components()}}


Design = Sequence[Sequence[Sequence[float]]]  # seeds -> runs -> evaluation values


def _check(design: Design) -> list[list[np.ndarray]]:
    if len(design) == 0:
        raise InputError("the nested design is empty: at least one seed with one run and one value is needed")
    out = []
    for i, runs in enumerate(design):
        if len(runs) == 0:
            raise InputError(f"seed {i} of the nested design has no run")
        group = []
        for j, values in enumerate(runs):
            v = np.asarray(values, dtype=np.float64).reshape(-1)
            if v.size == 0:
                raise InputError(f"run {j} of seed {i} has no value")
            if not np.all(np.isfinite(v)):
                raise InputError(f"run {j} of seed {i} has a non-finite value: {v.tolist()}")
            group.append(v)
        out.append(group)
    return out


@dataclass(frozen=True)
class _Moments:
    ms: tuple[float, float, float]  # seed, replicate, evaluation mean squares (nan when df == 0)
    df: tuple[int, int, int]
    coef: tuple[float, float, float]  # c_seed, c_rep_in_seed, c_rep
    mean: float


def _moments(groups: list[list[np.ndarray]]) -> _Moments:
    n_ij = [np.array([v.size for v in g], dtype=np.float64) for g in groups]
    n_i = np.array([n.sum() for n in n_ij])
    total = n_i.sum()
    a = len(groups)
    b = sum(len(g) for g in groups)
    grand = sum(v.sum() for g in groups for v in g) / total
    run_means = [np.array([v.mean() for v in g]) for g in groups]
    seed_means = np.array([(n * m).sum() / n.sum() for n, m in zip(n_ij, run_means)])
    ss_seed = float((n_i * (seed_means - grand) ** 2).sum())
    ss_rep = float(sum((n * (m - sm) ** 2).sum() for n, m, sm in zip(n_ij, run_means, seed_means)))
    ss_eval = float(sum(((v - v.mean()) ** 2).sum() for g in groups for v in g))
    df = (a - 1, b - a, int(total) - b)
    ms = tuple(ss / d if d > 0 else float("nan") for ss, d in zip((ss_seed, ss_rep, ss_eval), df))
    sum_sq_over_ni = float(sum((n ** 2).sum() / n.sum() for n in n_ij))
    sum_sq = float(sum((n ** 2).sum() for n in n_ij))
    c_rep = (total - sum_sq_over_ni) / df[1] if df[1] > 0 else float("nan")
    c_rep_in_seed = (sum_sq_over_ni - sum_sq / total) / df[0] if df[0] > 0 else float("nan")
    c_seed = (total - float((n_i ** 2).sum()) / total) / df[0] if df[0] > 0 else float("nan")
    return _Moments(ms, df, (c_seed, c_rep_in_seed, c_rep), float(grand))


def _solve(m: _Moments) -> tuple[float | None, float | None, float | None]:
    """Variances (seed, replicate, evaluation) by the method of moments, None where not estimable.

    Untruncated here: the caller truncates at 0 (the bootstrap needs the raw solution's sign only
    through the truncated value, so both use the same rule).
    """
    ms_seed, ms_rep, ms_eval = m.ms
    df_seed, df_rep, df_eval = m.df
    c_seed, c_rep_in_seed, c_rep = m.coef
    v_eval = ms_eval if df_eval > 0 else None
    base_rep = v_eval or 0.0
    v_rep = (ms_rep - base_rep) / c_rep if df_rep > 0 else None
    if df_seed > 0:
        v_seed = (ms_seed - base_rep - c_rep_in_seed * max(v_rep or 0.0, 0.0)) / c_seed
    else:
        v_seed = None
    return v_seed, v_rep, v_eval


def _simulate(groups: list[list[np.ndarray]], mean: float, variances, rng: np.random.Generator,
              n_boot: int) -> np.ndarray:
    """Refit the model on ``n_boot`` designs drawn from it; returns (n_boot, 3) std estimates."""
    sd = [np.sqrt(max(v or 0.0, 0.0)) for v in variances]
    out = np.full((n_boot, 3), np.nan)
    for k in range(n_boot):
        sim = []
        for g in groups:
            a_i = rng.normal(0.0, sd[0]) if sd[0] > 0 else 0.0
            runs = []
            for v in g:
                b_ij = rng.normal(0.0, sd[1]) if sd[1] > 0 else 0.0
                runs.append(mean + a_i + b_ij + (rng.normal(0.0, sd[2], v.size) if sd[2] > 0 else np.zeros(v.size)))
            sim.append(runs)
        est = _solve(_moments(sim))
        out[k] = [np.sqrt(max(e, 0.0)) if e is not None else np.nan for e in est]
    return out


def decompose(design: Design, *, n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95) -> Decomposition:
    """Fit the nested model to ``design`` (seeds -> runs -> evaluation FIDs).

    Args:
        design: one entry per independent training seed; each holds one entry per distinct run of
            that seed (bit-identical runs already collapsed); each run holds its FIDs under the
            evaluation seeds (one value when only one evaluation seed was used).
        n_boot: parametric-bootstrap replicates for the intervals (0: no intervals).
        seed: seed of the explicit generator drawing them.
        level: coverage of the intervals.

    Returns a :class:`Decomposition` whose components carry variance, standard deviation (FID
    units), interval and degrees of freedom.
    """
    groups = _check(design)
    if not 0.0 < level < 1.0:
        raise InputError(f"level must lie in (0, 1), got {level!r}")
    m = _moments(groups)
    raw = _solve(m)
    boot = None
    if n_boot > 0:
        boot = _simulate(groups, m.mean, raw, np.random.Generator(np.random.PCG64(seed)), n_boot)
    alpha = (1.0 - level) / 2.0
    comps = []
    for idx, (name, var, df) in enumerate(zip(LEVELS, raw, m.df)):
        note = ""
        if var is None:
            comps.append(Component(name, None, None, None, None, df, _not_estimable(name)))
            continue
        if var < 0:
            note = f"method-of-moments estimate {var:.4g} < 0, truncated at 0"
        lo = hi = None
        if boot is not None:
            lo, hi = (float(q) for q in np.nanquantile(boot[:, idx], [alpha, 1.0 - alpha]))
        comps.append(Component(name, max(var, 0.0), float(np.sqrt(max(var, 0.0))), lo, hi, df, note))
    seed_c, rep_c, eval_c = comps
    if rep_c.var is None and seed_c.var is not None:
        seed_c = Component(**{**seed_c.to_dict(), "note": _join(seed_c.note, "contains the replicate (nondeterminism) "
                                                                "component: no seed has two distinct runs")})
    if eval_c.var is None and rep_c.var is not None:
        rep_c = Component(**{**rep_c.to_dict(), "note": _join(rep_c.note, "contains the evaluation component: "
                                                              "one evaluation seed per run")})
    return Decomposition(m.mean, seed_c, rep_c, eval_c, len(groups), sum(len(g) for g in groups),
                         sum(v.size for g in groups for v in g))


def _not_estimable(level: str) -> str:
    return {"seed": "not estimable: one seed", "replicate": "not estimable: no seed has two distinct runs",
            "evaluation": "not estimable: one evaluation seed per run"}[level]


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def unit_std(d: Decomposition, eval_values_per_run: int = 1) -> float | None:
    """Standard deviation of one seed's observation: one run, FID averaged over
    ``eval_values_per_run`` evaluation seeds: sqrt(s2_seed + s2_rep + s2_eval / E).

    None when the seed level is not estimable (one seed): the spread between seeds is unknown.
    """
    if d.seed.var is None:
        return None
    var = d.seed.var + (d.replicate.var or 0.0) + (d.evaluation.var or 0.0) / max(1, eval_values_per_run)
    return float(np.sqrt(var))


__all__ = ["LEVELS", "Component", "Decomposition", "decompose", "unit_std"]
