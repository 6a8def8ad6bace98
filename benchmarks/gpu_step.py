"""GPU training-step time against the hardware's limit, in one process, interleaved.

For ResNet CIFAR at 32 px, ResNet19 at 128 px (paper widths, batch 64, n_dis 1) and SNGAN-32
(n_dis 5), in deterministic and nondeterministic mode, it times (benchmarks/_bench.py: ABAB
rounds after a warm-up, median per-step time with min-max over blocks):

- ``repro``: our run loop (repro.train.steps via _bench.LoopRunner: steps, trace hashes every
  trace_every, host reads) with the default settings;
- ``repro fast``: the same with adam_impl=fused, memory_format=channels_last, sync_every=10,
  trace_async=true;
- ``plain``: a plain PyTorch loop over the same G and D modules (torch Adam, data already on
  the device, no checks, no hashes): what the engine costs on top;
- ``mimicry``: for SNGAN-32 only, benchmarks/_sngan32.py, written from Miyato et al. 2018's
  architecture table, against ``repro`` configured to the same architecture (resnet_all flags,
  hinge, torch spectral norm, n_dis 5, betas (0, 0.9)).

It prints the FLOPs per step (torch.utils.flop_counter.FlopCounterMode: convolutions and
matrix products, forward and backward), the achieved TFLOP/s, the fraction of the device's
peak (PEAKS: dense TF32 tensor-core throughput, because cuDNN runs float32 convolutions in TF32
by default; the FP32 fraction is in the JSON), and each contender's det/nondet ratio.

``--compare-knobs``: ResNet CIFAR 32 px, both modes, our loop with each speed setting on against
the defaults (before/after in one run); ``--with-compile`` adds compile=default and
compile=reduce-overhead (the compile happens in the warm-up and its time is reported).
``--profile``: torch.profiler over a few steps of ``repro`` at 32 px in each mode; the top ops
by device time side by side, to find what makes deterministic mode slower.

Without CUDA it prints why and exits 0; ``--device cpu --tiny`` runs every code path small on
the CPU (for tests; its numbers mean nothing). Budget, estimated from the FLOP counts (about
1.2 TFLOP per step at 32 px, 7.6 at 128 px) before any GPU run: 3-4 minutes on an H100 with
--compare-knobs and --profile, without --with-compile (``--quick``: about half).

    python benchmarks/gpu_step.py --out gpu_step.json [--compare-knobs] [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _sngan32
import torch
import torch.nn.functional as F
from _bench import Contender, LoopRunner, fmt_ms, interleave, ratio, stats, synthetic

from repro.config import MODES, TrainConfig, to_dict
from repro.determinism import execution_mode
from repro.gan import architectures
from repro.gan.presets import config_for
from repro.train.loop import Trainer

# Dense (no sparsity) peak throughput in TFLOP/s from NVIDIA's data sheets, by device-name
# substring, most specific first: (TF32 tensor core, FP32 non-tensor, BF16 tensor core).
PEAKS = (
    ("H200 NVL", {"tf32": 417.5, "fp32": 60.0, "bf16": 835.5}),
    ("H200", {"tf32": 494.7, "fp32": 66.9, "bf16": 989.4}),  # H200 SXM
    ("H100 NVL", {"tf32": 417.5, "fp32": 60.0, "bf16": 835.5}),
    ("H100 PCIe", {"tf32": 378.0, "fp32": 51.2, "bf16": 756.0}),
    ("H100", {"tf32": 494.7, "fp32": 66.9, "bf16": 989.4}),  # H100 SXM ("NVIDIA H100 80GB HBM3")
    ("A100", {"tf32": 156.0, "fp32": 19.5, "bf16": 312.0}),
    ("L40S", {"tf32": 183.0, "fp32": 91.6, "bf16": 362.0}),
)
PEAK_PRECISION = "tf32"  # see the module docstring
FAST = {"adam_impl": "fused", "memory_format": "channels_last", "sync_every": 10, "trace_async": True}
KNOBS = {
    "adam_impl=fused": {"adam_impl": "fused"},
    "memory_format=channels_last": {"memory_format": "channels_last"},
    "sync_every=10": {"sync_every": 10},
    "trace_async": {"trace_async": True},
    "all four": FAST,
    "fill_uninitialized_memory=false": {"fill_uninitialized_memory": False},  # deterministic mode only
}
COMPILE_KNOBS = {"compile=default": {"compile": "default"}, "compile=reduce-overhead": {"compile": "reduce-overhead"}}


def peak_for(name: str) -> tuple[str, dict[str, float]] | tuple[None, None]:
    for key, peaks in PEAKS:
        if key in name:
            return key, peaks
    return None, None


# ------------------------------------------------------------------ contenders


class PlainLoop:
    """A plain loop over the same modules: torch Adam, a pool of real batches on the device, z
    drawn on the device, the loss written out, D frozen for the G update (the same math as ours)."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        torch.manual_seed(0)
        G, D = architectures.build(cfg)
        self.G, self.D = G.to(device), D.to(device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        lo, hi = self.D.input_range
        g = torch.Generator().manual_seed(0)
        shape = (8, cfg.batch_size, cfg.channels, cfg.resolution, cfg.resolution)
        self.real = (torch.rand(shape, generator=g) * (hi - lo) + lo).to(device)
        self.cfg, self.device, self.i = cfg, device, 0
        if cfg.loss not in ("ns", "hinge"):
            raise ValueError(f"PlainLoop writes out the ns and hinge losses only, not {cfg.loss}")

    def _z(self) -> torch.Tensor:
        return torch.rand(self.cfg.batch_size, self.cfg.z_dim, device=self.device) * 2 - 1

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def train_step(self) -> None:
        self.D.requires_grad_(True)
        for _ in range(self.cfg.n_dis):
            x = self.real[self.i % self.real.shape[0]]
            self.i += 1
            with torch.no_grad():
                fake = self.G(self._z())
            loss = self._d_loss(self.D(x), self.D(fake))
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
        self.D.requires_grad_(False)
        logits = self.D(self.G(self._z()))
        loss = -logits.mean() if self.cfg.loss == "hinge" else F.softplus(-logits).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()


def steps_of(obj):
    def run(n: int) -> None:
        for _ in range(n):
            obj.train_step()

    return run


def count_flops(run_one, device: torch.device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        run_one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return int(counter.get_total_flops())


# ------------------------------------------------------------------ cases


def cases(args) -> dict[str, TrainConfig]:
    common = {"channels": 3, "device": args.device, "batch_size": args.batch_size, "width": args.width}
    out = {
        "resnet_cifar_32": config_for("resnet_default", resolution=args.res32, **common),
        "resnet19_128": config_for("resnet19", resolution=args.res128, **common),
        # our ResNet moved to the SNGAN authors' choices, to compare with mimicry's SNGAN-32
        "sngan_32": config_for("resnet_all", resolution=32, loss="hinge", sn_impl="torch", n_dis=5, beta1=0.0,
                               beta2=0.9, **common),
    }
    return {k: v for k, v in out.items() if k in args.cases.split(",")}


def build(name: str, cfg: TrainConfig, mode: str, args) -> tuple[list[Contender], list]:
    device = torch.device(args.device)
    split = synthetic(cfg, n=4 * cfg.batch_size)
    contenders, closers = [], []
    with execution_mode(mode):
        for label, changes in (("repro", {}), ("repro fast", FAST)):
            runner = LoopRunner(Trainer(cfg.replace(mode=mode, **changes), split))
            closers.append(runner)
            contenders.append(Contender.of(label, runner))
        contenders.append(Contender("plain", steps_of(PlainLoop(cfg, device)), mode, args.device))
        if name == "sngan_32":
            mimicry = _sngan32.Trainer(device, width=cfg.width, batch_size=cfg.batch_size, n_dis=cfg.n_dis)
            contenders.append(Contender("mimicry", steps_of(mimicry), mode, args.device))
    return contenders, closers


def run_cases(args, peak: dict | None) -> dict:
    """Per case, every contender of both modes in one interleaved schedule (det and nondet blocks
    alternate, so the det/nondet ratio pairs blocks measured side by side)."""
    results = {}
    for name, cfg in cases(args).items():
        t0 = time.perf_counter()
        contenders, closers = [], []
        for mode in MODES:
            built, closing = build(name, cfg, mode, args)
            contenders += built
            closers += closing
        interleave(contenders, rounds=args.rounds, steps=args.steps, warmup=args.warmup)
        by_mode: dict[str, dict] = {mode: {} for mode in MODES}
        for c in contenders:
            with execution_mode(c.mode, fill_uninitialized_memory=c.fill_uninitialized_memory):
                flops = count_flops(lambda c=c: c.run(1), torch.device(args.device))
            s = stats(c.blocks)
            row = {**s, "flops_per_step": flops, "tflops_per_s": flops / s["median_s"] / 1e12, "blocks_s": c.blocks}
            if peak:
                row["fraction_of_peak"] = {k: row["tflops_per_s"] / v for k, v in peak.items()}
            by_mode[c.mode][c.name] = row
        for closer in closers:
            closer.close()
        del contenders, closers
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        det, nondet = by_mode["deterministic"], by_mode["nondeterministic"]
        ratios = {n: ratio(det[n]["blocks_s"], nondet[n]["blocks_s"]) for n in det}
        results[name] = {"config": to_dict(cfg), "modes": by_mode, "det_over_nondet": ratios,
                         "seconds": time.perf_counter() - t0}
        print_case(name, cfg, results[name], peak)
    return results


def print_case(name: str, cfg: TrainConfig, result: dict, peak: dict | None) -> None:
    print(f"\n== {name}: {cfg.architecture} {cfg.resolution}px x{cfg.channels}, width {cfg.width:g}, "
          f"batch {cfg.batch_size}, n_dis {cfg.n_dis} ({result['seconds']:.0f} s)")
    print(f"{'contender':11} {'mode':8} {'per step (median [min-max])':>32} {'GFLOP/step':>11} {'TFLOP/s':>8} "
          f"{'of peak':>8}")
    for mode, rows in result["modes"].items():
        for contender, row in rows.items():
            frac = f"{100 * row['fraction_of_peak'][PEAK_PRECISION]:7.2f}%" if peak else "      -"
            print(f"{contender:11} {mode[:8]:8} {fmt_ms(row):>32} {row['flops_per_step'] / 1e9:11.1f} "
                  f"{row['tflops_per_s']:8.2f} {frac:>8}")
    det = result["modes"]["deterministic"]
    text = ", ".join(f"{n} {r['ratio']:.3f} [{r['round_min']:.3f}-{r['round_max']:.3f}]"
                     for n, r in result["det_over_nondet"].items())
    print(f"det/nondet: {text}")
    ours = det["repro"]["median_s"]
    others = ", ".join(f"repro/{n} {ours / det[n]['median_s']:.3f}" for n in det if n != "repro")
    print(f"deterministic: {others}")


# ------------------------------------------------------------------ knobs and profile


def compare_knobs(args) -> dict:
    """ResNet CIFAR 32 px: our loop with each setting against the defaults, both modes in one
    interleaved schedule."""
    cfg = cases(argparse.Namespace(**{**vars(args), "cases": "resnet_cifar_32"}))["resnet_cifar_32"]
    knobs = {**KNOBS, **(COMPILE_KNOBS if args.with_compile else {})}
    split = synthetic(cfg, n=4 * cfg.batch_size)
    out: dict = {"errors": {}}
    contenders, closers, setup_s = [], [], {}
    for mode in MODES:
        for label, changes in {"defaults": {}, **knobs}.items():
            if mode == "nondeterministic" and "fill_uninitialized_memory" in changes:
                continue  # a deterministic-mode switch
            t0 = time.perf_counter()
            try:
                with execution_mode(mode, fill_uninitialized_memory=changes.get("fill_uninitialized_memory", True)):
                    runner = LoopRunner(Trainer(cfg.replace(mode=mode, **changes), split))
                    runner(2)  # compiles here, outside the timed blocks
            except Exception as exc:  # e.g. CUDA graphs refusing the step: report it, time the rest
                out["errors"][f"{mode} {label}"] = f"{type(exc).__name__}: {exc}"[:500]
                print(f"{mode} {label}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                continue
            setup_s[(mode, label)] = time.perf_counter() - t0
            closers.append(runner)
            contenders.append(Contender.of(label, runner))
    interleave(contenders, rounds=args.rounds, steps=args.steps, warmup=args.warmup)
    for closer in closers:
        closer.close()
    for mode in MODES:
        mine = [c for c in contenders if c.mode == mode]
        reference = next(c for c in mine if c.name == "defaults").blocks
        print(f"\n== speed settings, resnet_cifar_32, {mode}")
        rows = {}
        for c in mine:
            s, r = stats(c.blocks), ratio(c.blocks, reference)
            rows[c.name] = {**s, "vs_defaults": r, "setup_s": setup_s[(mode, c.name)]}
            print(f"{c.name:32} {fmt_ms(s):>32} {r['ratio']:7.3f} x defaults [{r['round_min']:.3f}-"
                  f"{r['round_max']:.3f}] (setup {setup_s[(mode, c.name)]:.1f} s)")
        out[mode] = rows
    del contenders, closers
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def profile(args) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cfg = cases(argparse.Namespace(**{**vars(args), "cases": "resnet_cifar_32"}))["resnet_cifar_32"]
    split = synthetic(cfg, n=4 * cfg.batch_size)
    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    tables = {}
    for mode in MODES:
        with execution_mode(mode):
            runner = LoopRunner(Trainer(cfg.replace(mode=mode), split))
            runner(args.warmup)
            with torch_profile(activities=activities) as prof:
                runner(args.profile_steps)
            runner.close()
        rows = {}
        for e in prof.key_averages():
            total = getattr(e, "device_time_total", None)
            total = getattr(e, "cuda_time_total", 0) if total is None else total
            own = getattr(e, "self_device_time_total", None)
            own = getattr(e, "self_cuda_time_total", 0) if own is None else own
            rows[e.key] = {"device_ms_per_step": total / 1e3 / args.profile_steps,
                           "self_device_ms_per_step": own / 1e3 / args.profile_steps,
                           "cpu_ms_per_step": e.cpu_time_total / 1e3 / args.profile_steps,
                           "calls_per_step": e.count / args.profile_steps}
        tables[mode] = rows
    det, nondet = tables["deterministic"], tables["nondeterministic"]
    # ops with their children (which aten op costs), then kernels by their own time (which kernel)
    keys = ("device_ms_per_step", "self_device_ms_per_step") if cuda else ("cpu_ms_per_step",)
    tops = {}
    for key in keys:
        ranked = sorted(set(det) | set(nondet),
                        key=lambda k: -max(det.get(k, {}).get(key, 0), nondet.get(k, {}).get(key, 0)))
        top = [k for k in ranked if not k.startswith(("ProfilerStep", "Optimizer.step#"))][: args.profile_top]
        tops[key] = top
        print(f"\n== profile, resnet_cifar_32, {args.profile_steps} steps: {key.replace('_', ' ')}")
        print(f"{'op / kernel':70} {'det':>9} {'nondet':>9} {'det-nondet':>11} {'calls det/nondet':>17}")
        for k in top:
            a, b = det.get(k, {}).get(key, 0.0), nondet.get(k, {}).get(key, 0.0)
            calls = f"{det.get(k, {}).get('calls_per_step', 0):g}/{nondet.get(k, {}).get('calls_per_step', 0):g}"
            print(f"{k[:70]:70} {a:9.3f} {b:9.3f} {a - b:+11.3f} {calls:>17}")
    return {"top": tops, "tables": tables}


# ------------------------------------------------------------------ main


def environment(args) -> dict:
    info = {"torch": torch.__version__, "device": args.device, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "threads": torch.get_num_threads()}
    if args.device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name()
    return info


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny: exercise the code)")
    p.add_argument("--tiny", action="store_true", help="tiny widths, batches and images (code-path check)")
    p.add_argument("--quick", action="store_true", help="3 rounds, 3 warm-up steps (about half the time)")
    p.add_argument("--cases", default="resnet_cifar_32,resnet19_128,sngan_32")
    p.add_argument("--rounds", type=int, default=None, help="interleaved blocks per contender (default 5, quick 3)")
    p.add_argument("--steps", type=int, default=None,
                   help="steps per block (default 10: one trace hash and one host read per block, so each "
                        "block carries their cost exactly once)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps per contender (default 5, quick 3)")
    p.add_argument("--compare-knobs", action="store_true", help="each speed setting on vs off (32 px, both modes)")
    p.add_argument("--with-compile", action="store_true", help="--compare-knobs: also torch.compile (minutes)")
    p.add_argument("--profile", action="store_true", help="top ops by device time, deterministic vs not")
    p.add_argument("--profile-steps", type=int, default=5)
    p.add_argument("--profile-top", type=int, default=20)
    p.add_argument("--skip-main", action="store_true", help="only --compare-knobs / --profile")
    args = p.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_step: skipped: no CUDA device (torch.cuda.is_available() is False). "
              "Run on a GPU machine, or `--device cpu --tiny` to exercise the code path.")
        return 0
    if args.device == "cpu" and not args.tiny:
        print("gpu_step: --device cpu needs --tiny (paper widths on a CPU take hours)", file=sys.stderr)
        return 2
    quick = args.quick or args.tiny
    args.rounds = args.rounds or (3 if quick else 5)
    args.steps = args.steps or 10
    args.warmup = args.warmup if args.warmup is not None else (3 if quick else 5)
    if args.tiny:
        args.width, args.batch_size, args.res32, args.res128 = 0.0625, 4, 16, 16
        args.rounds, args.steps, args.warmup, args.profile_steps = 2, 1, 1, 1
    else:
        args.width, args.batch_size, args.res32, args.res128 = 1.0, 64, 32, 128
    env = environment(args)
    peak_name, peak = peak_for(env.get("device_name", "")) if args.device.startswith("cuda") else (None, None)
    print(f"gpu_step: {env.get('device_name', args.device)}; torch {env['torch']}, CUDA {env['cuda']}, "
          f"cuDNN {env['cudnn']}; cudnn.allow_tf32={env['cudnn_allow_tf32']}, "
          f"matmul.allow_tf32={env['matmul_allow_tf32']}")
    if peak:
        print(f"peak: {peak_name} dense {PEAK_PRECISION.upper()} {peak[PEAK_PRECISION]:g} TFLOP/s "
              f"(FP32 {peak['fp32']:g}, BF16 {peak['bf16']:g}); convolutions run in TF32 (cudnn.allow_tf32)")
    elif args.device.startswith("cuda"):
        print(f"peak: unknown device {env.get('device_name')!r}: add it to PEAKS; fractions omitted")
    start = time.perf_counter()
    result = {"environment": env, "peak": {"device": peak_name, "precision": PEAK_PRECISION, "tflops": peak},
              "settings": {k: getattr(args, k) for k in ("rounds", "steps", "warmup", "width", "batch_size")},
              "fast_settings": FAST}
    if not args.skip_main:
        result["cases"] = run_cases(args, peak)
    if args.compare_knobs:
        result["knobs"] = compare_knobs(args)
    if args.profile:
        result["profile"] = profile(args)
    result["seconds"] = time.perf_counter() - start
    print(f"\ngpu_step: {result['seconds']:.0f} s")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
