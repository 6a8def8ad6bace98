"""How often does the gate's FID check fail with nothing changed, and how often does it catch a shift?

Simulates the CI gate's FID check (:func:`repro.stats.drift_check`, the code the gate runs) from a
baseline's own variance components: per variant its mean FID, the seed standard deviation, the
nondeterminism standard deviation and the evaluation standard deviation (with its number of
evaluation seeds per run). One seed's observation is

    mean + S + R + (E_1 + ... + E_e) / e,   R ~ N(0, nondet^2), E_j ~ N(0, eval^2),

and the seed effect S (mean 0, standard deviation ``seed_std``) has one of these shapes:

- ``normal``;
- ``skewed``: a log-normal with log-sd 0.5 (skewness 1.75), rescaled; ``heavy-skew``: log-sd 1 (6.2);
- ``collapse p``: a fraction p of the seeds collapses to a high-FID mode (two modes whose gap
  gives the seed standard deviation; the within-mode spread is 10% of it), and the collapse is
  known to the gate (IS < 2, :func:`repro.stats.collapsed`).

Each trial draws a baseline (``--n-baseline`` seeds a variant) and a new report (``--n-new`` seeds)
for every variant, with bits that differ (each new seed is a fresh draw), and gates all variants
together: the gate fails when any variant's check fails. *False-fail*: nothing changed. *Power*:
every new per-seed FID of one variant is shifted up by 10% or 25% of its baseline mean, the others
unchanged (each variant in turn).

For reference it also runs, on the same draws, the t band with s from the baseline's seeds alone
(t at n_b - 1 degrees of freedom, exact only for normal per-seed FIDs), the t band with s pooled
over both reports (the two-sample t test), and the rule the gate used before issue 22 across
machines: 3 baseline seeds, baseline +- max(3 x sqrt(1/3 + 1/n_new) x s, 5% x baseline), s the
standard deviation of the baseline's per-seed values.

    python benchmarks/gate_calibration.py [--baseline audits/baselines/ci_digits.json]
        [--n-baseline 5] [--n-new N] [--trials 4000] [--alpha 0.05] [--seed 0] [--json OUT]

Prints one row per shape: false-fail rate, power at +10% and +25%, each with its Monte Carlo
standard error, then the same for the two reference rules.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scipy import stats  # noqa: E402

from repro.io import read_json  # noqa: E402
from repro.stats import drift_check  # noqa: E402

SHAPES = ("normal", "skewed", "heavy-skew", "collapse 0.2", "collapse 0.4")
SHIFTS = (0.0, 0.10, 0.25)


def components(doc: dict) -> dict[str, dict[str, float]]:
    """Per variant: mean, seed, nondet, eval standard deviations and evaluation seeds per run, from
    a baseline (``variants``) or an audit report (``variance``)."""
    entries = doc.get("variants") or doc.get("variance") or {}
    out = {}
    for name, e in entries.items():
        seed = e.get("seed_std") if e.get("seed_std") is not None else e.get("noise_std")
        out[name] = {"mean": float(e["fid_mean"]), "seed": float(seed or 0.0), "nondet": float(e.get("nondet_std") or 0.0),
                     "eval": float(e.get("eval_std") or 0.0), "e": int(e.get("eval_values_per_run") or 1)}
    if not out:
        raise SystemExit("gate_calibration: the file has no variants (a baseline) or variance (a report)")
    return out


def seed_effects(shape: str, rng: np.random.Generator, size: tuple[int, ...], sd: float):
    """(effects with mean 0 and standard deviation ``sd``, collapse flags or None)."""
    if shape == "normal":
        return sd * rng.standard_normal(size), None
    if shape in ("skewed", "heavy-skew"):
        s = 0.5 if shape == "skewed" else 1.0
        m, v = math.exp(s * s / 2), (math.exp(s * s) - 1) * math.exp(s * s)
        return sd * (rng.lognormal(0.0, s, size) - m) / math.sqrt(v), None
    p = float(shape.split()[1])
    c = rng.random(size) < p
    within = 0.1
    gap = math.sqrt(1 - within ** 2) / math.sqrt(p * (1 - p))
    return sd * ((c - p) * gap + within * rng.standard_normal(size)), c


def observations(comp: dict[str, float], shape: str, rng: np.random.Generator, size: tuple[int, ...]):
    s, flags = seed_effects(shape, rng, size, comp["seed"])
    noise = comp["nondet"] * rng.standard_normal(size) + comp["eval"] / math.sqrt(comp["e"]) * rng.standard_normal(size)
    return comp["mean"] + s + noise, flags


def old_rule_fails(base: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The pre-issue-22 band across machines (3 baseline seeds), vectorised over trials (rows)."""
    n_b, n_new = base.shape[1], new.shape[1]
    s = base.std(axis=1, ddof=1)  # the seed spread the baseline measured (seed + rest per seed)
    half = np.maximum(3.0 * math.sqrt(1 / n_b + 1 / n_new) * s, 0.05 * np.abs(base.mean(axis=1)))
    return np.abs(new.mean(axis=1) - base.mean(axis=1)) > half


def baseline_s_fails(base: np.ndarray, new: np.ndarray, alpha_each: float) -> np.ndarray:
    """The prediction band with s from the baseline's seeds alone (t at n_b - 1 df), vectorised."""
    n_b, n_new = base.shape[1], new.shape[1]
    half = stats.t.ppf(1 - alpha_each / 2, n_b - 1) * base.std(axis=1, ddof=1) * math.sqrt(1 / n_b + 1 / n_new)
    return np.abs(new.mean(axis=1) - base.mean(axis=1)) > half


def pooled_s_fails(base: np.ndarray, new: np.ndarray, alpha_each: float) -> np.ndarray:
    """The band with s pooled over both reports (the two-sample t test), vectorised."""
    n_b, n_new = base.shape[1], new.shape[1]
    df = n_b + n_new - 2
    s = np.sqrt(((n_b - 1) * base.var(axis=1, ddof=1) + (n_new - 1) * new.var(axis=1, ddof=1)) / df)
    half = stats.t.ppf(1 - alpha_each / 2, df) * s * math.sqrt(1 / n_b + 1 / n_new)
    return np.abs(new.mean(axis=1) - base.mean(axis=1)) > half


def simulate(comps: dict[str, dict[str, float]], shape: str, shift: float, shifted: str | None, *,
             n_baseline: int, n_new: int, trials: int, alpha: float, seed: int) -> dict[str, float]:
    rng = np.random.Generator(np.random.PCG64(seed))
    names = list(comps)
    fails = np.zeros(trials, dtype=bool)
    base_only = np.zeros(trials, dtype=bool)
    pooled = np.zeros(trials, dtype=bool)
    old = np.zeros(trials, dtype=bool)
    for name in names:
        comp = comps[name]
        base, base_c = observations(comp, shape, rng, (trials, n_baseline))
        new, new_c = observations(comp, shape, rng, (trials, n_new))
        old_base, _ = observations(comp, shape, rng, (trials, 3))
        if name == shifted:
            new = new + shift * comp["mean"]
        for t in range(trials):
            check = drift_check(base[t], new[t], n_variants=len(names), alpha=alpha,
                                base_collapsed=None if base_c is None else base_c[t].tolist(),
                                new_collapsed=None if new_c is None else new_c[t].tolist())
            fails[t] |= not check.passed
        base_only |= baseline_s_fails(base, new, alpha / len(names))
        pooled |= pooled_s_fails(base, new, alpha / len(names))
        old |= old_rule_fails(old_base, new)
    rate = float(fails.mean())
    return {"rate": rate, "se": math.sqrt(rate * (1 - rate) / trials), "baseline_s_rate": float(base_only.mean()),
            "pooled_s_rate": float(pooled.mean()), "old_rate": float(old.mean())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="audits/baselines/ci_digits.json",
                    help="a baseline or an audit report.json whose variance components drive the simulation")
    ap.add_argument("--n-baseline", type=int, default=5, help="baseline seeds per variant (the gate needs >= 5)")
    ap.add_argument("--n-new", type=int, default=None, help="new seeds per variant (default: --n-baseline)")
    ap.add_argument("--trials", type=int, default=4000)
    ap.add_argument("--alpha", type=float, default=0.05, help="false-alarm rate over all gated variants")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    n_new = args.n_new or args.n_baseline
    comps = components(read_json(args.baseline, what="baseline"))
    print(f"gate_calibration: {args.baseline}; {len(comps)} gated variant(s), {args.n_baseline} baseline and {n_new} new "
          f"seeds each, alpha {args.alpha:g} over all variants, {args.trials} trials per cell")
    for name, c in comps.items():
        print(f"  {name}: mean {c['mean']:.4g}, seed sd {c['seed']:.4g} ({100 * c['seed'] / c['mean']:.1f}%), "
              f"nondet sd {c['nondet']:.4g}, eval sd {c['eval']:.4g} over {c['e']} evaluation seed(s)")
    cells = ["false-fail"] + [f"+{s:.0%} {name}" for name in comps for s in SHIFTS[1:]]
    print(f"\n{'shape':<13} " + " ".join(f"{c:>22}" for c in cells))
    results = {}
    refs = []
    start = time.time()
    for k, shape in enumerate(args.shapes):
        cases = [(0.0, None)] + [(s, name) for name in comps for s in SHIFTS[1:]]
        row = {}
        for j, (s, name) in enumerate(cases):
            key = "none" if name is None else f"{name} +{s:.0%}"
            row[key] = simulate(comps, shape, s, name, n_baseline=args.n_baseline, n_new=n_new, trials=args.trials,
                                alpha=args.alpha, seed=args.seed + 100 * k + j)
        results[shape] = row
        print(f"{shape:<13} " + " ".join(f"{r['rate']:>14.3f} +- {r['se']:.3f}" for r in row.values()), flush=True)
        refs.append((shape, row))
    print("\nthe same draws under the reference rules: t band with s from the baseline only / t band with s pooled "
          "over both reports / the old rule (3 baseline seeds, k = 3, 5% floor)")
    print(f"{'shape':<13} " + " ".join(f"{c:>22}" for c in cells))
    for shape, row in refs:
        print(f"{shape:<13} " + " ".join(f"{r['baseline_s_rate']:>8.3f} / {r['pooled_s_rate']:.3f} / {r['old_rate']:.3f}"
                                         for r in row.values()))
    print(f"\n({time.time() - start:.0f} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"baseline": args.baseline, "n_baseline": args.n_baseline, "n_new": n_new, "alpha": args.alpha,
                       "trials": args.trials, "components": comps, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
