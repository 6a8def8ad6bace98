"""Per-variant noise of FID, the variant-vs-baseline verdict and the checkpoint-selection effect.

Everything here counts independent evidence once (:mod:`repro.stats.evidence`): runs of one seed
with the same final parameter hash are one model, and a variant's observations are one FID per
training seed. The noise is the nested decomposition of :mod:`repro.stats.nested` (seed >
distinct runs within a seed, i.e. nondeterminism > evaluation seeds within a run), each level a
standard deviation with a 95% interval; the bootstrap standard deviation over generated samples
(``fid_boot_std`` of each run, stored by the evaluation) is shown beside it, never mixed in.
The verdict is :func:`repro.stats.compare_seeds`: one test, one verdict.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from typing import Any, Iterable

from repro.audit.schema import Comparison, Noise, NoiseComponent, RunRow, Selection, to_dict
from repro.stats import compare_seeds, nested_design, seed_evidence, unit_std
from repro.stats import decompose as nested_decompose
from repro.stats.evidence import distinct_runs


def _plain(rows: Iterable[RunRow]) -> list[dict[str, Any]]:
    """The rows as the mappings :mod:`repro.stats` reads (it does not know the report's records)."""
    return [to_dict(r) for r in rows]


def _pct(std: float | None, mean: float | None) -> float | None:
    return None if std is None or not mean else 100.0 * std / mean


def _rms(values: list[float]) -> float | None:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else None


def _t_interval(values: list[float], level: float = 0.95) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    from scipy import stats

    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def decompose(rows: Iterable[RunRow], variant: str, *, per_seed: str = "deterministic",
              main_seed: int = 0, n_boot: int = 2000) -> Noise:
    """Noise of one variant from the audit's run rows.

    ``fid_mean`` is the mean of the per-seed observations (``per_seed``, see
    :func:`repro.stats.seed_evidence`); ``noise_std`` is the standard deviation of one such
    observation (seed + nondeterminism + evaluation / E, :func:`repro.stats.unit_std`), or with one
    seed the within-seed part only (``noise_basis`` says which).
    """
    rows = list(rows)
    evidence = seed_evidence(_plain(rows), variant, per_seed=per_seed)
    plain = [r for r in rows if r.variant == variant and r.usable and r.perturb is None]
    if not evidence:
        return Noise(fid_mean=None, noise_std=None, eval_std=None, nondet_std=None, seed_std=None, n_seeds=0,
                     n_runs=len(plain), per_seed=per_seed,
                     note="no completed, evaluated run gives a per-seed observation")
    dec = nested_decompose(nested_design(evidence), n_boot=n_boot, seed=0)
    e_per_run = min(len(d.eval_values) for e in evidence for d in e.runs)
    values = [e.value for e in evidence]
    fid_mean = statistics.fmean(values)
    unit = unit_std(dec, e_per_run)
    within_var = (dec.replicate.var or 0.0) + (dec.evaluation.var or 0.0) / e_per_run
    noise, basis = ((unit, "one seed's observation: sqrt(seed^2 + nondeterminism^2 + evaluation^2 / E)")
                    if unit is not None else
                    (math.sqrt(within_var), "within one seed only (one seed: the seed spread is unknown)"))
    groups = [list(d.ids) for e in evidence for d in e.runs if len(d.ids) > 1]
    boot = _rms([r.fid_boot_std for r in plain if r.fid_boot_std is not None])
    comp = {c.level: c for c in dec.components()}
    delta, note = _threads(rows, variant, main_seed, comp["seed"].std)
    return Noise(
        fid_mean=fid_mean, per_seed=per_seed, per_seed_source=evidence[0].source,
        seeds=[e.seed for e in evidence], seed_values=values,
        n_seeds=len(evidence), n_runs=len(plain), n_distinct_runs=dec.n_runs,
        identical_groups=groups, eval_values_per_run=e_per_run,
        seed_std=comp["seed"].std, nondet_std=comp["replicate"].std, eval_std=comp["evaluation"].std,
        components={name: NoiseComponent(std=c.std, ci_low=c.ci_low, ci_high=c.ci_high, df=c.df, note=c.note,
                                         pct=_pct(c.std, fid_mean)) for name, c in comp.items()},
        noise_std=noise, noise_pct=_pct(noise, fid_mean), noise_basis=basis,
        boot_std=boot, boot_pct=_pct(boot, fid_mean),
        method="nested random-effects ANOVA (method of moments), 95% parametric-bootstrap intervals "
               f"({n_boot} draws); bit-identical runs of a seed counted once",
        threads_fid_delta=delta, threads_note=note, selection=selection_effect(rows, variant))


def _threads(rows: list[RunRow], variant: str, main_seed: int, seed_std: float | None) -> tuple[float | None, str]:
    """The thread perturbation's FID change: a single sample, set beside the seed spread."""
    runs = [r for r in rows if r.variant == variant and r.perturb == "threads" and r.usable]
    base = next((r for r in rows if r.variant == variant and r.perturb is None and r.mode == "deterministic"
                 and r.seed == main_seed and r.replicate == 0 and r.fid is not None), None)
    if not runs or base is None:
        return None, ""
    delta = runs[0].fid - base.fid
    note = "one sample (one perturbed run against its unperturbed twin)"
    if seed_std:
        note += f"; {abs(delta) / seed_std:.2f} x the seed standard deviation {seed_std:.4g}"
    return delta, note


def selection_effect(rows: Iterable[RunRow], variant: str) -> Selection:
    """How much reporting the minimum FID over checkpoints (compare_gan's choice) lowers FID
    against the final checkpoint, over the deterministic replicate 0 of each seed (both scored
    with evaluation seed 0, so the difference is the selection alone)."""
    per_seed = {}
    for r in rows:
        if (r.variant == variant and r.usable and r.perturb is None and r.mode == "deterministic"
                and r.replicate == 0 and r.fid_min is not None):
            per_seed[r.seed] = r.fid - r.fid_min
    drops = [per_seed[s] for s in sorted(per_seed)]
    if not drops:
        return Selection(n_seeds=0, mean_drop=None, ci_low=None, ci_high=None, drops=[])
    lo, hi = _t_interval(drops)
    return Selection(n_seeds=len(drops), mean_drop=statistics.fmean(drops), ci_low=lo, ci_high=hi, drops=drops,
                     rule="final FID - min FID over checkpoints, per seed; mean with a 95% t interval")


def compare(rows: Iterable[RunRow], variant: str, baseline: str, *, per_seed: str = "deterministic",
            min_effect: float | None = None) -> Comparison:
    """``report.json``'s ``comparison``: :func:`repro.stats.compare_seeds` over one FID per seed."""
    rows = _plain(rows)
    a, b = seed_evidence(rows, variant, per_seed=per_seed), seed_evidence(rows, baseline, per_seed=per_seed)
    source = a[0].source if a else (b[0].source if b else per_seed)
    if variant == baseline:
        c = compare_seeds([], [e.value for e in b], variant=variant, baseline_variant=baseline, min_effect=min_effect)
        fields = {**asdict(c), "reason": "the variant is its own baseline: nothing to compare"}
    else:
        c = compare_seeds([e.value for e in a], [e.value for e in b], variant=variant, baseline_variant=baseline,
                          min_effect=min_effect)
        fields = asdict(c)
    return Comparison(**fields, per_seed=per_seed, per_seed_source=source, seeds_variant=[e.seed for e in a],
                      seeds_baseline=[e.seed for e in b])


def identical_labels(rows: Iterable[RunRow]) -> dict[str, str]:
    """run id -> ``"2 runs, identical"`` (with the other ids) for runs of a seed that collapsed into one."""
    by_key: dict[tuple, list[RunRow]] = {}
    for r in rows:
        if r.usable and r.perturb is None:
            by_key.setdefault((r.variant, r.seed), []).append(r)
    out = {}
    for members in by_key.values():
        for d in distinct_runs(_plain(members)):
            if len(d.ids) > 1:
                for i in d.ids:
                    out[i] = d.label
    return out
