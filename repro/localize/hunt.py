"""``hunt``: the same deterministic run in many fresh processes; how many final hashes?

A pair of runs trained in one process cannot show a result that varies from process to process
(a race decided once per process, at a kernel's first call, by thread start-up order or machine
load). This trains the same short deterministic run in ``processes`` fresh interpreters
(``python -m repro train``) for each intra-op thread count, the counts interleaved round by round
so that machine load falls on each alike, and reports per thread count the distinct final
parameter hashes, how many processes left the typical (most common) hash, and an exact 95%
upper bound on the per-process rate of that (:mod:`repro.stats.binomial`: 0 of N gives
``1 - 0.05 ** (1 / N)``, about 3 / N). With ``keep``, the run directory of the first process of
each distinct hash is kept, so ``repro localize`` can compare a diverging process with a typical
one.

Each process gets a fresh cache directory by default (``REPRO_CACHE_DIR``: the digits arrays are
rebuilt from scikit-learn, as on a fresh CI machine); ``warm_cache`` shares one.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from repro import io, rundir
from repro.errors import InputError, ReproError
from repro.localize.result import HuntResult, ThreadResult
from repro.stats import binomial

log = logging.getLogger(__name__)


class HuntFailed(ReproError):
    """A training process of the hunt exited with an error."""


def summarise(threads: int, hashes: list[str], seconds: list[float] = (), kept: dict[str, str] | None = None
              ) -> ThreadResult:
    """The :class:`ThreadResult` of one thread count's final hashes (in process order)."""
    if not hashes:
        raise InputError("no process to summarise")
    counts = dict(collections.Counter(hashes).most_common())
    typical = next(iter(counts))
    diverging = len(hashes) - counts[typical]
    return ThreadResult(threads, len(hashes), counts, typical, diverging, binomial.upper_bound(diverging, len(hashes)),
                        binomial.interval(diverging, len(hashes)), tuple(seconds), tuple(hashes), dict(kept or {}))


def train_in_fresh_process(variant: str, steps: int, threads: int, out: Path, *, sets: tuple[str, ...] = (),
                           cache: str | None = None) -> tuple[str, float]:
    """(final parameter hash, wall seconds) of one deterministic run of ``variant`` trained into
    ``out`` by a fresh interpreter (``python -m repro train``)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # this checkout, also when not installed
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if cache is not None:
        env["REPRO_CACHE_DIR"] = cache
    cmd = [sys.executable, "-m", "repro", "train", "--quiet", "--variant", variant, "--steps", str(steps),
           "--checkpoint-every", str(steps), "--set", "device=cpu", "--set", f"threads={threads}",
           *[a for kv in sets for a in ("--set", kv)], "--mode", "deterministic", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise HuntFailed(f"`{' '.join(cmd[1:])}` exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    record = rundir.read_run(out)
    if record.get("status") != "completed" or not record.get("final_param_hash"):
        raise HuntFailed(f"the run in {out} ended {record.get('status')!r} (diverged or failed); a hunt needs "
                         "runs that complete")
    return record["final_param_hash"], seconds


def hunt(variant: str, *, processes: int = 10, threads: tuple[int, ...] = (1, 2), steps: int = 10,
         sets: tuple[str, ...] = (), warm_cache: bool = False, keep: str | Path | None = None,
         on_process: Callable[[int, int, str, float], None] | None = None) -> HuntResult:
    """Train ``variant`` for ``steps`` in ``processes`` fresh processes per thread count (see the
    module docstring). ``sets``: config overrides ``KEY=VALUE`` for every run (``--set``; a
    ``threads`` or ``device`` among them overrides the hunt's). ``keep``: a folder that receives
    the run directory of the first process of each distinct hash, as
    ``threads<T>-<hash prefix>``. ``on_process(round, threads, hash, seconds)`` after each one."""
    if processes < 1 or steps < 1 or not threads or any(t < 1 for t in threads):
        raise InputError("a hunt needs processes >= 1, steps >= 1 and thread counts >= 1")
    if len(set(threads)) != len(threads):
        raise InputError(f"thread counts repeat: {list(threads)}")
    keep_dir = io.check_output_dir(Path(keep), "--keep folder") if keep is not None else None
    started = _now()
    hashes: dict[int, list[str]] = {t: [] for t in threads}
    seconds: dict[int, list[float]] = {t: [] for t in threads}
    kept: dict[int, dict[str, str]] = {t: {} for t in threads}
    machine: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="repro-hunt-") as tmp:
        shared = os.path.join(tmp, "cache")
        for i in range(processes):
            for t in threads:  # interleaved: each round runs every thread count once
                out = Path(tmp) / f"run-{t}-{i}"
                cache = shared if warm_cache else os.path.join(tmp, f"cache-{t}-{i}")
                h, s = train_in_fresh_process(variant, steps, t, out, sets=sets, cache=cache)
                hashes[t].append(h)
                seconds[t].append(s)
                if not machine:
                    machine = machine_of(out)
                if keep_dir is not None and h not in kept[t]:
                    target = keep_dir / f"threads{t}-{h[:12]}"
                    if target.exists():
                        raise InputError(f"{target} exists: choose an empty --keep folder")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(out), target)
                    kept[t][h] = str(target)
                else:
                    shutil.rmtree(out, ignore_errors=True)
                if not warm_cache:
                    shutil.rmtree(cache, ignore_errors=True)
                if on_process is not None:
                    on_process(i + 1, t, h, s)
    results = tuple(summarise(t, hashes[t], seconds[t], kept[t]) for t in threads)
    return HuntResult(variant, steps, processes, tuple(sets), warm_cache, results, machine, started, _now())


def machine_of(run_dir: Path) -> dict[str, Any]:
    """CPU, torch and its libraries, from a run's fingerprint (what decides a CPU run's bits)."""
    try:
        fp = io.read_json(Path(run_dir) / rundir.FINGERPRINT, "fingerprint")
    except (OSError, ValueError):
        return {}
    cpu, build = fp.get("cpu", {}), fp.get("torch", {}).get("build", {})
    return {"cpu_model": cpu.get("model"), "cpu_vendor": cpu.get("vendor"), "cpu_family": cpu.get("family"),
            "cpu_model_number": cpu.get("model_number"), "cpus": fp.get("threads", {}).get("cpu_count"),
            "cpu_capability": build.get("cpu_capability"), "torch": fp.get("torch", {}).get("version"),
            "onednn": build.get("onednn"), "mkl": build.get("mkl"), "python": fp.get("python", {}).get("version"),
            "platform": cpu.get("platform")}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
