"""Figures of an audit: divergence curves, loss curves and sample grids (PNG, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from repro import io, rundir
from repro.audit.schema import PairRow, Report, RunRow
from repro.gan.sampling import generate


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def divergence_figure(pairs: list[PairRow], path: str | os.PathLike) -> Path:
    """Relative L2 distance between paired runs against step (log scale; identical pairs listed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    identical = []
    for p in pairs:
        pts = [(s, v) for s, v in p.rel_l2 if v > 0]
        label = f"{p.variant} {p.kind}"
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=label)
        else:
            identical.append(label)
    ax.set_yscale("log")
    ax.set_xlabel("generator step")
    ax.set_ylabel("||theta_a - theta_b|| / ||theta_a||")
    title = "Divergence of paired runs (same seed)"
    if identical:
        title += "\nbitwise identical: " + ", ".join(identical)
    ax.set_title(title, fontsize=9)
    if len(ax.get_lines()):
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "every pair bitwise identical", ha="center", va="center", transform=ax.transAxes)
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path


def loss_figure(traces: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """D and G loss against step for a few runs."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    for label, rows in traces.items():
        rows = [r for r in rows if "d_loss" in r]
        steps = [r["step"] for r in rows]
        axes[0].plot(steps, [r["d_loss"] for r in rows], lw=0.8, label=label)
        axes[1].plot(steps, [r["g_loss"] for r in rows], lw=0.8, label=label)
    axes[0].set_title("discriminator loss", fontsize=9)
    axes[1].set_title("generator loss", fontsize=9)
    for ax in axes:
        ax.set_xlabel("generator step")
    axes[1].legend(fontsize=7)
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path


def _grid_array(images, nrow: int) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] as one uint8 (C, H', W') grid with 1-pixel gaps."""
    x = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images, dtype=np.float32)
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.ones((c, nrows * (h + 1) + 1, ncol * (w + 1) + 1), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = x[i]
    return (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)


def sample_grid(images, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Save (N, C, H, W) images in [0, 1] as one PNG grid with 1-pixel gaps."""
    from PIL import Image  # lazy: Pillow loads only for figures

    arr = _grid_array(images, nrow)
    c = arr.shape[0]
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    img = img.resize((img.width * 4, img.height * 4), Image.NEAREST)  # 16x16 digits are tiny on screen
    path = Path(path)
    with io.atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


SEED_RANKS = ("best", "median", "worst")


def ranked_seeds(report: Report, variant: str) -> list[tuple[str, RunRow]]:
    """``[(label, run)]``: the deterministic replicate 0 of the seeds with the lowest, the median and
    the highest FID (the value the comparison uses), without repeats when there are fewer seeds."""
    runs = sorted((r for r in report.runs_of(variant) if r.usable and r.perturb is None
                   and r.mode == "deterministic" and r.replicate == 0),
                  key=lambda r: (r.fid_mean_over_eval_seeds, r.seed))
    if not runs:
        return []
    picks = {"best": runs[0], "median": runs[(len(runs) - 1) // 2], "worst": runs[-1]}
    out, seen = [], set()
    for label in SEED_RANKS:
        run = picks[label]
        if run.id not in seen:
            seen.add(run.id)
            out.append((label, run))
    return out


def seed_grids(report: Report, variant: str, run_dirs: dict[str, Path], path: str | os.PathLike,
               n: int = 32) -> Path | None:
    """One figure of sample grids (final checkpoint, ``n`` fixed latents, seed 0) for the best,
    median and worst seed of ``variant`` by FID, each panel labelled with its seed and FID."""
    picks = ranked_seeds(report, variant)
    if not picks:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 2.4), squeeze=False)
    for ax, (label, run) in zip(axes[0], picks):
        net, _ = rundir.load_generator(run_dirs[run.id])
        arr = _grid_array(generate(net, n, seed=0), nrow=8)
        ax.imshow(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(f"{label}: seed {run.seed}, FID {run.fid_mean_over_eval_seeds:.1f}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{variant}: final checkpoint (step {report.settings.steps})", fontsize=9)
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path


def fid_curves_figure(report: Report, path: str | os.PathLike) -> Path:
    """FID at every checkpoint (evaluation seed 0), one panel per variant: a line per seed's
    deterministic replicate 0, the main seed's nondeterministic replicate and one-thread rerun
    dashed. A static image that needs no network, beside ``dvc plots show`` (which loads Vega
    from a CDN)."""
    plt = _pyplot()
    variants = report.plan.variants
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 3.8), squeeze=False, sharey=True)
    for ax, v in zip(axes[0], variants):
        for r in report.runs_of(v):
            if not r.checkpoints:
                continue
            steps, fids = zip(*[(c.step, c.fid) for c in sorted(r.checkpoints, key=lambda c: c.step)])
            if r.mode == "deterministic" and r.replicate == 0 and r.perturb is None:
                ax.plot(steps, fids, marker="o", ms=3, lw=1, label=f"seed {r.seed}")
            elif r.seed == report.settings.seed and r.replicate == 0:
                ax.plot(steps, fids, ls="--", lw=1, label=f"seed {r.seed} {r.perturb or r.mode}")
        ax.set_title(v, fontsize=9)
        ax.set_xlabel("generator step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("FID (evaluation seed 0)")
    fig.suptitle("FID at every checkpoint", fontsize=9)
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path
