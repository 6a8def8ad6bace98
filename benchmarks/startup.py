"""Start-up cost of the command line against ``python -c 'import torch'``, measured in the same run.

Each command runs in a fresh interpreter, ``--repeats`` times, interleaved with the others (so
machine load hits all alike); we report the median wall time and the median CPU time (user +
system of the child) and each one's difference from importing torch alone. Commands:

- ``import torch``: the reference;
- ``repro --help`` and ``repro train --help``: parsing only;
- ``repro train`` up to its first step (the process exits as the first step starts: imports,
  config, data, models, optimisers, fingerprint: the start-up itself);
- ``repro train`` (1 step, width 0.0625, batch 8, CPU, 1 thread, digits): a whole short run, start-up, the
  first step (oneDNN prepares its kernels on a first call), a checkpoint and the hashes;
  the digits cache is warmed first (one untimed run of every command);
- with ``--before PATH``: the same repro commands with the package imported from another
  checkout (e.g. the main branch: ``--before /work/main``), so before and after share one run.

Goal (issue 16): a command costs at most 1 s of CPU beyond importing torch.
``--importtime`` also prints the slowest top-level imports of the short run (python -X importtime).

    python benchmarks/startup.py [--repeats 5] [--before PATH] [--importtime] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One intra-op thread: on a loaded 2-core machine two OpenMP threads spin-wait for each other and
# a step of 80 ms takes 0.4-4.6 s, which would swamp the start-up being measured.
TRAIN_ARGS = ["train", "--quiet", "--force", "--steps", "1", "--set", "width=0.0625", "--set", "batch_size=8",
              "--set", "device=cpu", "--set", "checkpoint_every=1", "--set", "threads=1"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one run; a failure is an error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=env["REPRO_CACHE_DIR"])
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"startup: {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(out_dir: str, before: str | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = sys.executable
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
           "REPRO_CACHE_DIR": os.path.join(out_dir, "cache")}
    trees = {"": ROOT, **({" (before)": os.path.abspath(before)} if before else {})}
    out = {"import torch": ([py, "-c", "import torch"], env)}
    for suffix, tree in trees.items():
        tree_env = {**env, "PYTHONPATH": tree}  # PYTHONPATH wins over an editable install's finder
        out[f"repro --help{suffix}"] = ([py, "-m", "repro", "--help"], tree_env)
        out[f"repro train --help{suffix}"] = ([py, "-m", "repro", "train", "--help"], tree_env)
        run_dir = os.path.join(out_dir, f"run{len(out)}")
        until_step = ("import os, repro.train.loop as loop\n"
                      "loop.Trainer.train_step = lambda self: os._exit(0)  # stop where training starts\n"
                      f"from repro.cli import main\nmain({[*TRAIN_ARGS, '--out', run_dir + 'f']!r})\n")
        out[f"repro train to 1st step{suffix}"] = ([py, "-c", until_step], tree_env)
        out[f"repro train, 1 step{suffix}"] = ([py, "-m", "repro", *TRAIN_ARGS, "--out", run_dir], tree_env)
    return out


def check_trees(cmds: dict) -> dict[str, str]:
    """Which repro package each tree's commands import (the before tree must not be this one)."""
    seen = {}
    for name, (argv, env) in cmds.items():
        if name.startswith("repro --help"):
            probe = subprocess.run([argv[0], "-c", "import repro; print(repro.__file__)"], env=env,
                                   capture_output=True, text=True, check=True, cwd=env["REPRO_CACHE_DIR"])
            seen[name.replace("repro --help", "").strip() or "(this tree)"] = probe.stdout.strip()
    return seen


def importtime(argv: list[str], env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative seconds) of one run, from python -X importtime."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True,
                          cwd=env["REPRO_CACHE_DIR"])
    rows = []
    for line in proc.stderr.splitlines():  # "import time: <self us> | <cumulative us> | <indent><name>"
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2]
            if name.startswith(" ") and not name.startswith("  "):  # one space: imported at top level
                rows.append((name.strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--before", default=None, help="another checkout of repro to measure the same commands from")
    p.add_argument("--importtime", action="store_true", help="print the slowest top-level imports of the run")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="repro-startup-") as tmp:
        os.makedirs(os.path.join(tmp, "cache"))  # also the working directory: no tree shadows another
        cmds = commands(tmp, args.before)
        trees = check_trees(cmds)
        if args.before and len(set(trees.values())) < 2:
            raise SystemExit(f"startup: --before imports the same package as this tree: {trees}")
        for name, (argv, env) in cmds.items():  # warm-up: page cache, .pyc files, the digits cache
            timed(argv, env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
        for _ in range(args.repeats):
            for name, (argv, env) in cmds.items():
                samples[name].append(timed(argv, env))
        imports = importtime(*cmds["repro train, 1 step"]) if args.importtime else []
    med = {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
           for name, s in samples.items()}
    ref_wall, ref_cpu = med["import torch"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.repeats} interleaved repeats; packages: {trees}")
    print(f"{'command':34} {'wall s':>7} {'CPU s':>7} {'CPU - torch':>12} {'CPU / torch':>12} {'wall - torch':>13}")
    rows = {}
    for name, (wall, cpu) in med.items():
        rows[name] = {"wall_s": wall, "cpu_s": cpu, "cpu_minus_torch_s": cpu - ref_cpu, "cpu_over_torch": cpu / ref_cpu,
                      "wall_minus_torch_s": wall - ref_wall, "samples": samples[name]}
        print(f"{name:34} {wall:7.2f} {cpu:7.2f} {cpu - ref_cpu:+12.2f} {cpu / ref_cpu:12.2f} {wall - ref_wall:+13.2f}")
    if imports:
        print("slowest top-level imports of `repro train` (cumulative s): "
              + ", ".join(f"{n} {s:.2f}" for n, s in imports))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "packages": trees, "imports": imports, "repeats": args.repeats}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
