"""``repro variants``: the presets table (variants are data: repro.gan.presets)."""

from __future__ import annotations

import argparse
import json

COLUMNS = ("variant", "architecture", "loss", "d_norm", "penalty", "flags")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("variants", help="list the variant presets",
                              description="Print the presets table: one row per variant and the config fields it sets.")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--filter", default="", metavar="SUBSTRING", help="only variants whose name contains SUBSTRING")
    p.set_defaults(func=run)


def rows(substring: str = "") -> list[dict]:
    """The presets table, optionally restricted to names containing ``substring``."""
    from repro.gan import presets  # lazy: torch only when the command runs

    return [r for r in presets.table() if substring in r["variant"]]


def format_rows(table: list[dict]) -> str:
    columns = list(COLUMNS) + sorted({k for r in table for k in r} - set(COLUMNS))
    cells = [columns] + [[str(r.get(c, "-")) for c in columns] for r in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def run(args: argparse.Namespace) -> int:
    table = rows(args.filter)
    if args.json:
        print(json.dumps(table, indent=2, sort_keys=True))
        return 0
    if not table:
        from repro.gan import presets

        raise ValueError(f"no variant name contains {args.filter!r}; valid variants: {presets.PRESETS.names_text()}")
    print(format_rows(table))
    print(f"({len(table)} variants)")
    return 0
