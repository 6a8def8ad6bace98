"""FID variance decomposition and the variant-vs-baseline verdict.

Noise sources, each a standard deviation of FID and a percentage of the mean FID:

- evaluation: FID re-evaluated with several evaluation seeds (``fid_eval_std`` of each run,
  root-mean-square over runs); the bootstrap interval over generated samples is reported too;
- nondeterminism: FIDs of the nondeterministic replicates (same seed, same config);
- seed: FIDs of deterministic runs with different seeds (when extra seeds are given).

The total noise is the square root of the sum of the available components' squares.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def _std(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) >= 2 else None


def _rms(values: list[float]) -> float | None:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else None


def _pct(std: float | None, mean: float) -> float | None:
    return None if std is None or not mean else 100.0 * std / mean


def decompose(runs: list[dict[str, Any]], variant: str, seed: int) -> dict[str, Any]:
    """Variance components of one variant from the audit's run rows (see ``report.run_row``)."""
    ok = [r for r in runs if r["variant"] == variant and r["status"] == "completed" and r.get("fid") is not None]
    plain = [r for r in ok if r["perturb"] is None]
    if not plain:
        return {"fid_mean": None, "n_runs": 0, "note": "no completed, evaluated run"}
    fid_mean = statistics.fmean(r["fid"] for r in plain)
    eval_std = _rms([r["fid_eval_std"] for r in plain if r.get("fid_eval_std") is not None])
    boot_std = _rms([(r["fid_ci_high"] - r["fid_ci_low"]) / (2 * Z_95) for r in plain
                     if r.get("fid_ci_high") is not None and r.get("fid_ci_low") is not None])
    nondet = [r["fid"] for r in plain if r["mode"] == "nondeterministic" and r["seed"] == seed]
    det = [r["fid"] for r in plain if r["mode"] == "deterministic" and r["seed"] == seed]
    per_seed = {r["seed"]: r["fid"] for r in plain if r["mode"] == "deterministic" and r["replicate"] == 0}
    nondet_std, det_std = _std(nondet), _std(det)
    seed_std = _std(list(per_seed.values()))
    components = [c for c in (eval_std, nondet_std, seed_std) if c is not None]
    noise_std = math.sqrt(sum(c * c for c in components)) if components else None
    threads = [r for r in ok if r["perturb"] == "threads"]
    base = next((r for r in plain if r["mode"] == "deterministic" and r["seed"] == seed and r["replicate"] == 0), None)
    return {
        "fid_mean": fid_mean,
        "n_runs": len(plain),
        "eval_std": eval_std, "eval_pct": _pct(eval_std, fid_mean),
        "bootstrap_std": boot_std, "bootstrap_pct": _pct(boot_std, fid_mean),
        "nondet_std": nondet_std, "nondet_pct": _pct(nondet_std, fid_mean), "n_nondet": len(nondet),
        "det_std": det_std, "n_det": len(det),
        "seed_std": seed_std, "seed_pct": _pct(seed_std, fid_mean), "n_seeds": len(per_seed),
        "noise_std": noise_std, "noise_pct": _pct(noise_std, fid_mean),
        "threads_fid_delta": (threads[0]["fid"] - base["fid"]) if threads and base else None,
    }


def compare_variants(runs: list[dict[str, Any]], variance: dict[str, dict], variant: str,
                     baseline: str) -> dict[str, Any]:
    """Is the FID difference of ``variant`` against ``baseline`` real or within noise?

    Band: 2 x the combined noise std (sqrt(noise_v^2 + noise_b^2)), about a 95% band for
    normal noise. Welch's t-test on the per-run FIDs is reported beside it when both sides
    have at least two runs with non-zero spread.
    """
    from scipy import stats

    if variant == baseline:
        return {"variant": variant, "baseline_variant": baseline, "verdict": "same variant: nothing to compare"}
    v, b = variance.get(variant, {}), variance.get(baseline, {})
    if v.get("fid_mean") is None or b.get("fid_mean") is None:
        return {"variant": variant, "baseline_variant": baseline, "verdict": "not comparable: missing FID"}
    diff = v["fid_mean"] - b["fid_mean"]
    noise = math.sqrt((v.get("noise_std") or 0.0) ** 2 + (b.get("noise_std") or 0.0) ** 2)
    band = 2.0 * noise
    samples = [[r["fid"] for r in runs if r["variant"] == name and r["status"] == "completed"
                and r["perturb"] is None and r.get("fid") is not None] for name in (variant, baseline)]
    p_value = None
    test = "none (fewer than two runs with spread on a side)"
    if all(len(s) >= 2 and statistics.pstdev(s) > 0 for s in samples):
        p_value = float(stats.ttest_ind(samples[0], samples[1], equal_var=False).pvalue)
        test = "Welch's t-test on per-run FIDs (two-sided)"
    real = abs(diff) > band
    return {
        "variant": variant, "baseline_variant": baseline,
        "fid_variant": v["fid_mean"], "fid_baseline": b["fid_mean"], "fid_diff": diff,
        "noise_std": noise, "band": band, "band_rule": "2 x sqrt(noise_variant^2 + noise_baseline^2)",
        "test": test, "p_value": p_value,
        "verdict": ("real difference" if real else "within noise") + (
            f": FID differs by {diff:+.3f}, {'beyond' if real else 'inside'} the noise band +/-{band:.3f}"),
    }
