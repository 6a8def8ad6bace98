"""Layer tables in the seed's format (LAYER, KERNEL, RS, OUTPUT) derived from built modules.

Each row of ``net.layers`` names itself (``table_label() -> (layer, kernel, resample)``); the
output shape comes from a dry forward pass of one sample through an eval-mode copy of the net
(so the real net's buffers, e.g. spectral-norm ``u``, are left untouched). Parameter counts are
trainable parameters (buffers such as spectral-norm ``u`` and BN running statistics excluded).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from repro.gan import architectures
from repro.gan.blocks import Generator


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _kernel_text(kernel) -> str:
    return "-" if kernel is None else "[" + ", ".join(map(str, kernel)) + "]"


def _shapes(net: nn.Module, example: torch.Tensor) -> list[tuple[int, ...]]:
    """Per-sample output shape of each row of ``net.layers``: one sample through the net in eval
    mode, after which every buffer (spectral-norm ``u``, BN statistics) and train flag is restored.

    (The ``meta`` device would avoid the arithmetic, but its one-off set-up costs seconds per
    process, more than one sample through the largest table, resnet19 at 128px.)
    """
    buffers = {name: b.detach().clone() for name, b in net.named_buffers()}
    modes = {m: m.training for m in net.modules()}
    param = next(net.parameters(), None)
    if param is not None:
        example = example.to(device=param.device, dtype=param.dtype)
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
             for m in net.layers]
    try:
        net.eval()
        with torch.no_grad():
            net(example)
    finally:
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for name, b in net.named_buffers():
                b.copy_(buffers[name])
        for m, training in modes.items():
            m.training = training
    return shapes


def layer_table(net: nn.Module, resolution: int | None = None, channels: int | None = None) -> list[dict[str, Any]]:
    """Rows ``{layer, kernel, resample, output, params}`` of a generator or discriminator.

    ``kernel`` is ``[kh, kw, stride]`` or ``None``; ``output`` the per-sample shape as the seed
    writes it (``[H, W, C]`` for maps, ``[F]`` for vectors); ``params`` the row's trainable
    parameter count. A generator's table starts with the ``z`` row. ``resolution``/``channels``
    default to the discriminator's own.
    """
    if isinstance(net, Generator):
        example = torch.zeros(1, net.z_dim)
        rows = [{"layer": "z", "kernel": None, "resample": "-", "output": [net.z_dim], "params": 0}]
    else:
        r = resolution or net.resolution
        example = torch.zeros(1, channels or net.channels, r, r)
        rows = []
    for module, shape in zip(net.layers, _shapes(net, example)):
        layer, kernel, resample = module.table_label()
        out = [shape[1], shape[2], shape[0]] if len(shape) == 3 else list(shape)
        rows.append({"layer": layer, "kernel": list(kernel) if kernel else None, "resample": resample,
                     "output": out, "params": _params(module)})
    return rows


def table_dict(generator: nn.Module, discriminator: nn.Module) -> dict[str, Any]:
    """Both tables with totals (``repro arch --json``)."""
    g, d = layer_table(generator), layer_table(discriminator)
    return {"generator": {"rows": g, "params": _params(generator)},
            "discriminator": {"rows": d, "params": _params(discriminator)}}


def format_table(rows: list[dict[str, Any]], title: str, total: int) -> str:
    """Fixed-width text: LAYER KERNEL RS OUTPUT PARAMS, then the total."""
    cells = [("LAYER", "KERNEL", "RS", "OUTPUT", "PARAMS")]
    for r in rows:
        cells.append((*row_text(r), f"{r['params']:,}"))
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = [title]
    for row in cells:
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    lines.append(f"total parameters: {total:,}")
    return "\n".join(lines)


def row_text(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """(layer, kernel, resample, output) as the seed's table writes them, e.g. ('ResBlock', '[3, 3, 1]', 'U', '8x8x512')."""
    out = row["output"]
    return (row["layer"], _kernel_text(row["kernel"]), row["resample"], "x".join(map(str, out)))


def arch_tables(cfg) -> dict[str, Any]:
    """Build ``cfg``'s nets (under a fixed seed, in a forked RNG: the caller's RNG is untouched)
    and return :func:`table_dict` of them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator, discriminator = architectures.build(cfg)
    return table_dict(generator, discriminator)
