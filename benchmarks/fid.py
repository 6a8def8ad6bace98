"""Benchmark: repro.metrics.frechet_distance vs the TTUR scipy.linalg.sqrtm formula, and the
throughput of StreamingStats.update.

    python benchmarks/fid.py [--dims 512 2048] [--samples 4096]

Inputs: covariances of `samples` Gaussian feature vectors (well conditioned when samples >> d),
the second set shifted and rescaled. Threads are left as torch/numpy set them; the machine's
BLAS thread count is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from reference_impls.metrics_numpy import fid_ttur  # noqa: E402
from repro.metrics import StreamingStats, frechet_distance  # noqa: E402


def inputs(d: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((n, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d)) / np.sqrt(d)) + 0.05
    return a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False), a


def best_of(fn, repeats: int) -> tuple[float, float]:
    times, value = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"numpy {np.__version__}, cpu count {os.cpu_count()}")
    target_ratio, worst_rel = None, 0.0
    for d in args.dims:
        mu1, s1, mu2, s2, feats = inputs(d, args.samples, seed=d)
        t_ours, ours = best_of(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
        t_ref, ref = best_of(lambda: fid_ttur(mu1, s1, mu2, s2), 1)
        rel = abs(ours - ref) / abs(ref)
        ratio = t_ref / t_ours
        worst_rel = max(worst_rel, rel)
        if d == 2048:  # the target dimension (Inception pool3)
            target_ratio = ratio
        stats = StreamingStats(d)
        batch = 256
        t = time.perf_counter()
        for start in range(0, len(feats), batch):
            stats.update(feats[start:start + batch])
        rate = len(feats) / (time.perf_counter() - t)
        print(f"d={d}: repro FID {t_ours:.3f} s, sqrtm FID {t_ref:.3f} s, ratio {ratio:.1f}x, "
              f"FID {ours:.10g} vs {ref:.10g}, relative difference {rel:.2e}; "
              f"StreamingStats.update {rate:,.0f} features/s (batch {batch})")
    ok = (target_ratio is None or target_ratio >= 10) and worst_rel <= 1e-9
    ratio_text = "d=2048 not run" if target_ratio is None else f"{target_ratio:.1f}x at d=2048"
    print(f"target >= 10x at d=2048 and <= 1e-9 relative everywhere: {'met' if ok else 'NOT met'} "
          f"({ratio_text}; worst relative difference {worst_rel:.2e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
