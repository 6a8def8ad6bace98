"""``repro arch VARIANT --resolution R``: generator and discriminator layer tables (seed format)."""

from __future__ import annotations

import argparse
import json

from repro.errors import InputError

DEFAULT_WIDTH = 1.0  # the paper's widths (training defaults to a narrower net for CPU runs)
DEFAULT_CHANNELS = 3


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("arch", help="print a variant's layer tables with parameter counts",
                              description="Print the generator and discriminator layer tables of VARIANT "
                                          "(LAYER, KERNEL [kh, kw, stride], RS = resample U/D, OUTPUT HxWxC, PARAMS).")
    p.add_argument("variant", metavar="VARIANT", help="a preset name (see `repro variants`)")
    p.add_argument("--resolution", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--width", type=float, default=DEFAULT_WIDTH,
                   help=f"channel multiplier (default {DEFAULT_WIDTH}: the paper's widths)")
    p.add_argument("--channels", type=int, default=DEFAULT_CHANNELS, help="image channels, 1 or 3 (default 3)")
    p.add_argument("--json", action="store_true", help="print the tables as JSON")
    p.set_defaults(func=run)


def tables(variant: str, resolution: int = 32, width: float = DEFAULT_WIDTH, channels: int = DEFAULT_CHANNELS) -> dict:
    """Layer tables of ``variant`` (see :func:`repro.arch.layer_table.arch_tables`)."""
    from repro.arch import layer_table  # lazy
    from repro.gan import presets  # lazy: torch only when the command runs

    if channels not in (1, 3):
        raise InputError(f"invalid channels={channels}: must be 1 or 3")
    cfg = presets.config_for(variant, resolution=resolution, width=width, channels=channels)
    out = layer_table.arch_tables(cfg)
    return {"variant": variant, "resolution": resolution, "width": width, "channels": channels, **out}


def run(args: argparse.Namespace) -> int:
    from repro.arch import layer_table

    result = tables(args.variant, args.resolution, args.width, args.channels)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    head = f"{args.variant} at {args.resolution}x{args.resolution}x{args.channels}, width {args.width:g}"
    print(layer_table.format_table(result["generator"]["rows"], f"Generator ({head})", result["generator"]["params"]))
    print()
    print(layer_table.format_table(result["discriminator"]["rows"], f"Discriminator ({head})",
                                   result["discriminator"]["params"]))
    return 0
