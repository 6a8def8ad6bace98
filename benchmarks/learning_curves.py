"""Learning curves: FID and IS of the digits-cnn protocol at every checkpoint, per config and seed.

For each config (a variant plus ``--set``-style overrides; ``steps=N`` gives it its own budget),
each seed is trained with ``repro.train.train`` into ``RUNS_DIR/LABEL/sSEED`` (checkpoint every
``--checkpoint-every`` generator steps), and every checkpoint is scored under the protocol ``repro evaluate`` uses for
the digits data (``fid_digits_cnn_test``: as many generated samples as test images, 8-bit
rounding, z from evaluation seed 0): FID, and IS from the classifier's logits. The final
checkpoint is also scored over ``--final-eval-seeds`` evaluation seeds (the audit's evidence is
their mean). Results go to ``OUT/NAME.json`` (per-seed curves: step, FID, IS, seconds per step),
``OUT/NAME.png`` (FID against step, one line per seed, one panel per config) and
``OUT/NAME.txt`` (the summary table, also printed), rewritten after every run, so that a long
exploration leaves interim results as it goes.

Run directories are reused: a run that already reached the step budget is only scored; an
unfinished one (stopped, killed) is resumed from its last verified checkpoint; a run trained to
fewer steps is extended (its ``config.json`` gets the larger ``steps``, and training continues from
its last checkpoint: nothing in a step depends on ``steps``, so the result equals a run trained
that long from the start). A run directory that holds another config is an error. Scores are
cached beside each run (``sSEED.curve.json``, keyed by the checkpoint's generator hashes and the
extractor's sha256), so stopping and restarting the script costs nothing already done.

Collapse rule (``collapsed`` in the JSON and the table): a seed's checkpoint counts as collapsed
when its IS is below ``--collapse-is`` (default 2.0: the samples cover fewer than about two of
the ten digit classes; 355 real training digits score IS about 8.5 and FID about 3.5 against the
test split) or its FID exceeds ``--collapse-ratio``
(default 2.0) times the median FID of the config's seeds at that step; a diverged run (NaN loss)
counts as collapsed from its divergence on.

    python benchmarks/learning_curves.py \\
        --config all_n5 resnet_all --config default_n5 resnet_default \\
        --config all_n1 resnet_all hparams=lr2e-4_lam1_b0.5-0.999_ndis1 width=0.125 \\
        --seeds 0 1 2 3 4 --steps 400 --checkpoint-every 50 --threads 1 \\
        --runs-dir /work/lc_runs --out audits/learning_curves --name explore

``--time-steps N`` trains nothing: it times N generator steps of each config (seed 0, the
embedded digits, the run loop's per-step work without files: benchmarks/_bench.py) at each
``--time-threads`` count, interleaved over ``--time-rounds`` rounds after a warm-up so that
machine load hits each alike, and writes ``OUT/NAME_timing.json`` with the median and range of
seconds per generator step.

``--no-train`` only scores and summarises what the run directories hold; ``--samples`` saves a
sample grid (64 images, z from seed 0) of the final checkpoint of ``--sample-seed`` per config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _bench

SCHEMA = "repro.learning_curves/1"
CURVE_CACHE_SCHEMA = 1
IS_SPLITS = 10  # repro.metrics.evaluate.IS_SPLITS


@dataclass
class Config:
    label: str
    variant: str
    overrides: dict[str, Any] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # the KEY=VALUE texts as given
    steps: int | None = None  # this config's step budget (steps=N); None: --steps

    def budget(self, default: int) -> int:
        return self.steps or default

    def train_config(self, seed: int, steps: int, checkpoint_every: int, threads: int | None):
        """The full TrainConfig: preset row <- hparams=NAME (Table 1) <- other overrides <- run fields."""
        from repro import hparams
        from repro.gan.presets import config_for

        changes: dict[str, Any] = {}
        rest = dict(self.overrides)
        if rest.get("hparams"):
            changes.update(hparams.fields(rest.pop("hparams")))
        changes.update(rest)
        changes.update(seed=seed, steps=self.budget(steps), checkpoint_every=checkpoint_every, mode="deterministic")
        if threads is not None and "threads" not in self.overrides:
            changes["threads"] = threads
        return config_for(self.variant, **changes)


def parse_config(tokens: list[str]) -> Config:
    from repro.config import parse_overrides
    from repro.gan.presets import names

    if len(tokens) < 2:
        raise ValueError(f"--config needs LABEL VARIANT [KEY=VALUE ...], got {' '.join(tokens)!r}")
    label, variant, texts = tokens[0], tokens[1], tokens[2:]
    if not label.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"config label {label!r}: use letters, digits, '_', '-', '.' only (it names a folder)")
    if variant not in names():
        raise ValueError(f"unknown variant {variant!r} (see `repro variants`)")
    hp = [t for t in texts if t.startswith("hparams=")]
    others = [t for t in texts if not t.startswith("hparams=")]
    overrides = parse_overrides(others)
    steps = overrides.pop("steps", None)
    if steps is not None and steps < 1:
        raise ValueError(f"--config {label}: steps must be >= 1")
    for key in ("seed", "checkpoint_every", "mode"):
        if key in overrides:
            raise ValueError(f"--config {label}: {key} is set by the script's own option, not per config")
    if hp:
        overrides["hparams"] = hp[-1].partition("=")[2]
    return Config(label, variant, overrides, texts, steps)


# ---------------------------------------------------------------------------------------------- training

def _log(msg: str) -> None:
    print(f"[curves] {msg}", file=sys.stderr, flush=True)


def ensure_trained(cfg, run_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Train, resume or extend the run in ``run_dir`` to ``cfg.steps``; return its run record."""
    from repro import io, rundir
    from repro.config import diff, to_dict
    from repro.train import train

    if (run_dir / rundir.CONFIG).exists():
        previous = rundir.read_config(run_dir)
        other = diff(previous, cfg, ignore=("steps",))
        if other:
            fields = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in other.items())
            raise ValueError(f"{run_dir} holds a run of another config ({fields}); use another label or "
                             "--runs-dir, or delete that run directory")
        try:
            record = rundir.read_run(run_dir)
        except ValueError:
            record = {"status": "failed"}
        done = (rundir.checkpoint_steps(run_dir) or [0])[-1]
        if record.get("status") == "diverged" or done >= cfg.steps:
            return record
        if previous.steps != cfg.steps:
            _log(f"{run_dir}: steps {previous.steps} -> {cfg.steps}, continuing from step {done}")
            io.write_json(run_dir / rundir.CONFIG, to_dict(cfg))
        if record.get("status") == "completed":
            record["status"] = "running"
            io.write_json(run_dir / rundir.RUN, record)
        _log(f"resuming {run_dir} from step {done} to {cfg.steps}")
        return train(cfg, run_dir, resume=True, progress=False, meta=meta)
    _log(f"training {run_dir} ({cfg.steps} steps)")
    return train(cfg, run_dir, progress=False, meta=meta)


# ---------------------------------------------------------------------------------------------- scoring

def _generator_key(run_dir: Path, step: int) -> str:
    """sha256 over the generator tensors' digests of the checkpoint (its hashes file)."""
    from repro import rundir

    hashes = {k: v for k, v in rundir.read_hashes(run_dir, step).items() if k.startswith("generator.")}
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def score_run(ev, run_dir: Path, cache_path: Path, max_step: int, final_eval_seeds: int) -> dict[str, Any]:
    """FID and IS at every checkpoint <= max_step (cached), plus the final checkpoint's FID over
    ``final_eval_seeds`` evaluation seeds."""
    from repro import io, rundir
    from repro.gan.sampling import generate
    from repro.metrics.inception_score import inception_score

    n_fake = ev.real.count
    settings = {"schema": CURVE_CACHE_SCHEMA, "protocol": ev.protocol.name, "extractor_sha256":
                ev.extractor.weights_sha256, "n_fake": n_fake, "quantize": ev.quantize, "is_splits": IS_SPLITS}
    cache: dict[str, Any] = {"settings": settings, "points": {}, "final": {}}
    if cache_path.exists():
        old = io.read_json(cache_path, "curve cache")
        if old.get("settings") == settings:
            cache = old
    steps = [s for s in rundir.checkpoint_steps(run_dir) if s <= max_step]
    changed = False
    for step in steps:
        key = _generator_key(run_dir, step)
        point = cache["points"].get(str(step))
        if point and point.get("generator_key") == key:
            continue
        net, _ = rundir.load_generator(run_dir, step)
        feats, logits = ev.features(generate(net, n_fake, seed=0))
        is_mean, is_std = inception_score(logits, splits=IS_SPLITS, kind="logits")
        cache["points"][str(step)] = {"generator_key": key, "fid": ev.fid_of_features(feats),
                                      "is_mean": is_mean, "is_std": is_std}
        changed = True
    if steps and final_eval_seeds > 1:
        last = steps[-1]
        key = _generator_key(run_dir, last)
        final = cache.get("final") or {}
        if not (final.get("step") == last and final.get("generator_key") == key
                and len(final.get("fid_eval_values", [])) == final_eval_seeds):
            net, _ = rundir.load_generator(run_dir, last)
            values = [cache["points"][str(last)]["fid"]] + [
                ev.fid_of_features(ev.features(generate(net, n_fake, seed=s))[0]) for s in range(1, final_eval_seeds)]
            cache["final"] = {"step": last, "generator_key": key, "fid_eval_values": values}
            changed = True
    if changed:
        io.write_json(cache_path, cache)
    return cache


def step_times(run_dir: Path, checkpoints: list[int]) -> dict[int, float]:
    """Median seconds per generator step over the trace rows in (previous checkpoint, checkpoint]."""
    from repro import rundir

    rows = [r for r in rundir.read_trace(run_dir) if "step_time_s" in r]
    out, prev = {}, 0
    for step in checkpoints:
        times = [r["step_time_s"] for r in rows if prev < r["step"] <= step]
        if times:
            out[step] = statistics.median(times)
        prev = step
    return out


# ---------------------------------------------------------------------------------------------- summary

def _median(xs):
    return statistics.median(xs) if xs else None


def mark_collapse(seeds: list[dict[str, Any]], collapse_is: float, collapse_ratio: float) -> None:
    """Set ``collapsed`` on every point of every seed (the rule in the module docstring)."""
    by_step: dict[int, list[float]] = {}
    for s in seeds:
        for p in s["curve"]:
            by_step.setdefault(p["step"], []).append(p["fid"])
    for s in seeds:
        for p in s["curve"]:
            med = statistics.median(by_step[p["step"]])
            p["collapsed"] = bool(p["is_mean"] < collapse_is or p["fid"] > collapse_ratio * med)


def summarise(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per config and checkpoint step: mean FID, seed std / mean, collapsed seeds, s/step."""
    rows = []
    for c in result["configs"]:
        seeds = c["seeds"]
        steps = sorted({p["step"] for s in seeds for p in s["curve"]})
        for step in steps:
            pts = [p for s in seeds for p in s["curve"] if p["step"] == step]
            diverged = sum(1 for s in seeds if s.get("diverged_step") is not None and s["diverged_step"] <= step)
            fids = [p["fid"] for p in pts]
            mean = statistics.fmean(fids) if fids else None
            std = statistics.stdev(fids) if len(fids) > 1 else None
            times = [p["step_time_s"] for p in pts if p.get("step_time_s") is not None]
            rows.append({"config": c["label"], "step": step, "d_steps": step * c["n_dis"], "seeds": len(fids),
                         "mean_fid": mean, "cv": (std / mean) if std is not None and mean else None,
                         "min_fid": min(fids) if fids else None, "max_fid": max(fids) if fids else None,
                         "mean_is": statistics.fmean(p["is_mean"] for p in pts) if pts else None,
                         "collapsed": sum(p["collapsed"] for p in pts) + diverged,
                         "step_time_s": _median(times)})
    return rows


def format_table(result: dict[str, Any]) -> str:
    rows = summarise(result)
    rule = result["collapse_rule"]
    out = [f"Learning curves ({result['name']}): FID of the {result['protocol']} protocol (evaluation seed 0, "
           f"{result['n_fake']} samples) per checkpoint; mean over seeds; cv = seed std (ddof 1) / mean; "
           f"collapsed: {rule}; s/step = median seconds per generator step (trace), median over seeds, at "
           f"{result['threads_note']}.", ""]
    head = f"{'config':<22} {'step':>6} {'D upd':>6} {'seeds':>5} {'mean FID':>9} {'cv':>6} {'min':>7} {'max':>7} " \
           f"{'IS':>5} {'coll':>4} {'s/step':>7}"
    out += [head, "-" * len(head)]

    def f(x, spec):
        return format(x, spec) if x is not None else "-"
    last = None
    for r in rows:
        if last is not None and r["config"] != last:
            out.append("")
        last = r["config"]
        out.append(f"{r['config']:<22} {r['step']:>6} {r['d_steps']:>6} {r['seeds']:>5} {f(r['mean_fid'], '9.1f')} "
                   f"{f(r['cv'], '6.3f')} {f(r['min_fid'], '7.1f')} {f(r['max_fid'], '7.1f')} "
                   f"{f(r['mean_is'], '5.2f')} {r['collapsed']:>4} {f(r['step_time_s'], '7.3f')}")
    out += ["", "Final checkpoint per seed (FID at evaluation seed 0 | mean over the final evaluation seeds; IS; "
            "* = collapsed, D = diverged):"]
    for c in result["configs"]:
        parts = []
        for s in c["seeds"]:
            if not s["curve"]:
                parts.append(f"s{s['seed']}: -")
                continue
            p = s["curve"][-1]
            fin = s.get("final_fid_mean")
            mark = "D" if s.get("diverged_step") is not None else ("*" if p["collapsed"] else "")
            parts.append(f"s{s['seed']}@{p['step']}: {p['fid']:.1f}|{f(fin, '.1f')} IS {p['is_mean']:.2f}{mark}")
        finals = [s["final_fid_mean"] for s in c["seeds"] if s.get("final_fid_mean") is not None]
        tail = ""
        if len(finals) > 1:
            m = statistics.fmean(finals)
            tail = f"  => final-eval mean {m:.1f}, cv {statistics.stdev(finals) / m:.3f}"
        out.append(f"  {c['label']} ({c['variant']} {' '.join(c['overrides_text'])}): " + "; ".join(parts) + tail)
    late = [(c["label"], late_cv(r for r in rows if r["config"] == c["label"])) for c in result["configs"]]
    if any(x for _, x in late):
        out += ["", f"Late spread (less noisy than one checkpoint's cv from a few seeds): root mean square of the "
                f"per-checkpoint cv over the last {LATE_CHECKPOINTS} checkpoints, and their mean FID:"]
        out += [f"  {label:<22} cv {x['cv']:.3f}  mean FID {x['mean_fid']:.1f}  (steps {x['steps'][0]}-{x['steps'][-1]})"
                for label, x in late if x]
    return "\n".join(out) + "\n"


LATE_CHECKPOINTS = 4


def late_cv(rows) -> dict[str, Any] | None:
    """RMS of the per-checkpoint seed cv over the last LATE_CHECKPOINTS checkpoints with 2+ seeds."""
    rows = [r for r in rows if r["cv"] is not None][-LATE_CHECKPOINTS:]
    if not rows:
        return None
    return {"cv": math.sqrt(statistics.fmean(r["cv"] ** 2 for r in rows)),
            "mean_fid": statistics.fmean(r["mean_fid"] for r in rows), "steps": [r["step"] for r in rows]}


def figure(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro import io

    configs = result["configs"]
    n = len(configs)
    ncol = min(n, 4)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(max(4.2 * ncol, 6.0), 3.4 * nrow), squeeze=False, sharey=True)
    for ax, c in zip(axes.flat, configs):
        for s in c["seeds"]:
            xs = [p["step"] for p in s["curve"]]
            ys = [p["fid"] for p in s["curve"]]
            if not xs:
                continue
            line, = ax.plot(xs, ys, marker=".", lw=1.2, label=f"seed {s['seed']}")
            coll = [(p["step"], p["fid"]) for p in s["curve"] if p["collapsed"]]
            if coll:
                ax.plot(*zip(*coll), "x", color=line.get_color(), ms=7)
        ax.set_yscale("log")
        ax.set_title(c["label"], fontsize=9)
        ax.set_xlabel(f"generator step (x{c['n_dis']} D updates)", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("FID (digits-cnn), log scale", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if configs:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{result['name']}: FID per checkpoint, one line per seed (x = collapsed)", fontsize=10)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def save_samples(result: dict[str, Any], runs_dir: Path, out: Path, seed: int) -> list[str]:
    from repro import rundir
    from repro.audit.figures import sample_grid
    from repro.gan.sampling import generate

    paths = []
    for c in result["configs"]:
        run_dir = runs_dir / c["label"] / f"s{seed}"
        if not rundir.checkpoint_steps(run_dir):
            continue
        net, _ = rundir.load_generator(run_dir, min(c["steps"], rundir.checkpoint_steps(run_dir)[-1]))
        path = out / f"{result['name']}_samples_{c['label']}_s{seed}.png"
        sample_grid(generate(net, 64, seed=0), path)
        paths.append(str(path))
    return paths


# ---------------------------------------------------------------------------------------------- timing

def time_configs(configs: list[Config], args) -> dict[str, Any]:
    """Seconds per generator step of each config at each of ``--time-threads``, interleaved
    (benchmarks/_bench.py): one model per config, its blocks at each thread count in turn."""
    import torch
    from _bench import Contender, LoopRunner, interleave, stats

    from repro.train.loop import Trainer

    thread_counts = args.time_threads or [args.threads or torch.get_num_threads()]
    contenders = []
    for c in configs:
        cfg = c.train_config(args.seeds[0], args.steps, args.checkpoint_every, args.threads)
        runner = LoopRunner(Trainer(cfg))
        for t in thread_counts:
            def run(n, runner=runner, t=t):  # inside the block's execution mode, which restores the count
                torch.set_num_threads(t)
                runner(n)
            contenders.append((c, cfg, t, runner, Contender(f"{c.label}@{t}", run, cfg.mode, str(runner.trainer.device),
                                                            cfg.fill_uninitialized_memory)))
    load = [round(x, 2) for x in os.getloadavg()]
    interleave([x[4] for x in contenders], rounds=args.time_rounds, steps=args.time_steps, warmup=2)
    rows: dict[str, Any] = {}
    for c, cfg, t, runner, k in contenders:
        row = rows.setdefault(c.label, {"variant": c.variant, "overrides_text": c.texts, "n_dis": cfg.n_dis,
                                        "width": cfg.width, "batch_size": cfg.batch_size, "lr": cfg.lr,
                                        "threads": {}})
        row["threads"][str(t)] = {**stats(k.blocks), "block_s": k.blocks}
    for c, cfg, t, runner, k in contenders:
        if str(thread_counts[0]) == str(t):
            runner.close()
    return {"schema": SCHEMA + "/timing", "thread_counts": thread_counts, "cpus": os.cpu_count(),
            "steps_per_block": args.time_steps, "rounds": args.time_rounds, "loadavg_before": load,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()], "configs": rows}


def format_timing(timing: dict[str, Any]) -> str:
    out = [f"Seconds per generator step, {timing['rounds']} interleaved rounds of {timing['steps_per_block']} steps "
           f"per config and thread count (load average before {timing['loadavg_before']}, after "
           f"{timing['loadavg_after']}; min = the least loaded block):"]
    for label, r in timing["configs"].items():
        cells = "; ".join(f"{t} thread(s) median {x['median_s']:.3f} s [min {x['min_s']:.3f}, max {x['max_s']:.3f}]"
                          for t, x in r["threads"].items())
        out.append(f"  {label:<22} n_dis {r['n_dis']} width {r['width']:g} batch {r['batch_size']:>3}: {cells}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- main

def collect(configs: list[Config], args, ev, train: bool) -> dict[str, Any]:
    from repro import rundir

    runs_dir = Path(args.runs_dir)
    order = [(c, s) for c in configs for s in args.seeds] if args.order == "config" else \
            [(c, s) for s in args.seeds for c in configs]
    result = {"schema": SCHEMA, "name": args.name, "protocol": ev.protocol.name, "n_fake": ev.real.count,
              "extractor_sha256": ev.extractor.weights_sha256, "seeds": list(args.seeds), "default_steps": args.steps,
              "checkpoint_every": args.checkpoint_every, "final_eval_seeds": args.final_eval_seeds,
              "collapse_rule": f"IS < {args.collapse_is:g} or FID > {args.collapse_ratio:g} x the median FID of "
                               "the config's seeds at that step; a diverged run counts from its divergence",
              "threads_note": (f"{args.threads} intra-op thread(s)" if args.threads else "torch's default threads")
              + f" on {os.cpu_count()} CPU(s), wall time of a machine that may be shared (load averages "
                "recorded per run)",
              "configs": []}

    def build(final: bool) -> dict[str, Any]:
        out = dict(result, configs=[])
        for c in configs:
            budget = c.budget(args.steps)
            cfg0 = c.train_config(args.seeds[0], budget, args.checkpoint_every, args.threads)
            entry = {"label": c.label, "variant": c.variant, "overrides_text": c.texts, "n_dis": cfg0.n_dis,
                     "lr": cfg0.lr, "beta1": cfg0.beta1, "beta2": cfg0.beta2, "width": cfg0.width,
                     "batch_size": cfg0.batch_size, "threads": cfg0.threads, "steps": budget,
                     "table1": _table1(cfg0), "seeds": []}
            for seed in args.seeds:
                run_dir = runs_dir / c.label / f"s{seed}"
                if not rundir.checkpoint_steps(run_dir):
                    continue
                cache = score_run(ev, run_dir, runs_dir / c.label / f"s{seed}.curve.json", budget,
                                  args.final_eval_seeds)
                ckpts = sorted(int(k) for k in cache["points"] if int(k) <= budget
                               and int(k) in rundir.checkpoint_steps(run_dir))
                times = step_times(run_dir, ckpts)
                record = rundir.read_run(run_dir)
                curve = [{"step": k, "fid": cache["points"][str(k)]["fid"], "is_mean": cache["points"][str(k)]["is_mean"],
                          "is_std": cache["points"][str(k)]["is_std"], "step_time_s": times.get(k)} for k in ckpts]
                final = cache.get("final") or {}
                values = final.get("fid_eval_values") if final.get("step") == (ckpts or [None])[-1] else None
                entry["seeds"].append({
                    "seed": seed, "run_dir": str(run_dir), "status": record.get("status"),
                    "diverged_step": record.get("diverged_step"), "curve": curve,
                    "final_step": ckpts[-1] if ckpts else None,
                    "final_fid_eval_values": values, "final_fid_mean": statistics.fmean(values) if values else None,
                    "median_step_time_s": _median([r["step_time_s"] for r in rundir.read_trace(run_dir)
                                                   if "step_time_s" in r and r["step"] <= budget]),
                    "wall_time_s": record.get("wall_time_s"), "loadavg": record.get("loadavg")})
            mark_collapse(entry["seeds"], args.collapse_is, args.collapse_ratio)
            out["configs"].append(entry)
        out["complete"] = final
        out["written"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return out

    def write(final: bool) -> dict[str, Any]:
        from repro import io

        res = build(final)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        io.write_json(out / f"{args.name}.json", res)
        table = format_table(res)
        io.write_text(out / f"{args.name}.txt", table)
        figure(res, out / f"{args.name}.png")
        return res

    if train:
        for i, (c, seed) in enumerate(order, 1):
            cfg = c.train_config(seed, args.steps, args.checkpoint_every, args.threads)
            run_dir = runs_dir / c.label / f"s{seed}"
            start = time.perf_counter()
            load = os.getloadavg()
            record = ensure_trained(cfg, run_dir, {"config_label": c.label, "loadavg": [round(x, 2) for x in load]})
            _log(f"{i}/{len(order)} {c.label} s{seed}: {record.get('status')} "
                 f"({time.perf_counter() - start:.0f} s, load {load[0]:.2f})")
            write(False)
    return write(True)


def _table1(cfg) -> str | None:
    from repro import hparams

    return hparams.match(cfg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", nargs="+", action="append", required=True, metavar="LABEL VARIANT [KEY=VALUE",
                   help="a config: a label (its folder name), a variant (`repro variants`) and TrainConfig "
                        "overrides as for `repro train --set`, steps=N for this config's budget (default --steps), plus hparams=NAME for a Table 1 setting "
                        "(repro/hparams.py: sets lr, lambda, beta1, beta2, n_dis); repeatable")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, required=True, help="generator steps per run (the budget)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="generator steps between scored checkpoints")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads of every run unless a config sets threads (0 = torch's default; default 1)")
    p.add_argument("--runs-dir", required=True, help="where the run directories live (keep it out of the repository)")
    p.add_argument("--out", default="audits/learning_curves", help="folder of NAME.json/.png/.txt")
    p.add_argument("--name", default="curves", help="base name of the output files (default curves)")
    p.add_argument("--order", choices=("config", "seed"), default="config",
                   help="training order: every seed of a config before the next (config), or seed 0 of every "
                        "config first (seed)")
    p.add_argument("--final-eval-seeds", type=int, default=10,
                   help="evaluation seeds of the final checkpoint's FID (the audit uses 10; default 10)")
    p.add_argument("--collapse-is", type=float, default=2.0, help="IS below this is collapse (default 2.0)")
    p.add_argument("--collapse-ratio", type=float, default=2.0,
                   help="FID above this times the config's median at that step is collapse (default 2.0)")
    p.add_argument("--extractor-weights", default=None,
                   help="digits-cnn weights (e.g. models/digits-cnn.pt of the pipeline); default: its cache, "
                        "trained there on first use")
    p.add_argument("--time-steps", type=int, default=0, metavar="N",
                   help="train nothing: time N steps per config per round, interleaved (writes NAME_timing.json)")
    p.add_argument("--time-rounds", type=int, default=3, help="rounds of --time-steps (default 3)")
    p.add_argument("--time-threads", type=int, nargs="+", default=None, metavar="T",
                   help="with --time-steps: the intra-op thread counts to time, interleaved (default: --threads)")
    p.add_argument("--no-train", action="store_true", help="score and summarise what the run directories hold")
    p.add_argument("--samples", action="store_true", help="save a sample grid of --sample-seed per config")
    p.add_argument("--sample-seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.steps < 1 or args.checkpoint_every < 1 or args.final_eval_seeds < 1 or args.threads < 0:
        p.error("--steps, --checkpoint-every and --final-eval-seeds must be >= 1, --threads >= 0")
    if len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        p.error("--seeds must be distinct integers >= 0")
    try:
        configs = [parse_config(tokens) for tokens in args.config]
        labels = [c.label for c in configs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"config labels must be distinct, got {labels}")
        for c in configs:  # every config error before anything trains
            c.train_config(args.seeds[0], args.steps, args.checkpoint_every, args.threads)
    except ValueError as exc:
        p.error(str(exc))

    import torch

    from repro.metrics.evaluate import prepare

    if args.threads:
        torch.set_num_threads(args.threads)  # scoring too: one training or scoring process at a time
    if args.time_steps:
        from repro import io

        timing = time_configs(configs, args)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        io.write_json(Path(args.out) / f"{args.name}_timing.json", timing)
        print(format_timing(timing), end="")
        return 0
    ev = prepare("digits", protocol="fid_digits_cnn_test", extractor_weights=args.extractor_weights)
    try:
        result = collect(configs, args, ev, train=not args.no_train)
    except ValueError as exc:
        print(f"learning_curves: {exc}", file=sys.stderr)
        return 1
    if args.samples:
        result["sample_grids"] = save_samples(result, Path(args.runs_dir), Path(args.out), args.sample_seed)
        from repro import io

        io.write_json(Path(args.out) / f"{args.name}.json", result)
    print(format_table(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
