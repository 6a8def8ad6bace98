"""Figures of an audit: divergence curves, loss curves and sample grids (PNG, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from repro import io


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def divergence_figure(pairs: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Relative L2 distance between paired runs against step (log scale; identical pairs listed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    identical = []
    for p in pairs:
        pts = [(s, v) for s, v in p["rel_l2"] if v > 0]
        label = f"{p['variant']} {p['kind']}"
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


def sample_grid(images, path: str | os.PathLike, nrow: int = 8) -> Path:
    """Save (N, C, H, W) images in [0, 1] as one PNG grid with 1-pixel gaps."""
    from PIL import Image

    x = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images, dtype=np.float32)
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.ones((c, nrows * (h + 1) + 1, ncol * (w + 1) + 1), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = x[i]
    arr = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr.transpose(1, 2, 0))
    img = img.resize((img.width * 4, img.height * 4), Image.NEAREST)  # 16x16 digits are tiny on screen
    path = Path(path)
    with io.atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
