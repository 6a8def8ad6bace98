"""``repro variants``: the presets table (variants are data: repro.gan.presets)."""

from __future__ import annotations

import argparse
import json

from repro.errors import InputError

COLUMNS = ("variant", "architecture", "loss", "d_norm", "penalty", "flags", "lr", "beta1", "beta2", "n_dis",
           "penalty_weight", "recipe", "table1", "study")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("variants", help="list the variant presets",
                              description="Print the presets table: one row per variant, the config fields it sets, "
                                          "the Table 1 setting its config equals (table1, see --hparams) and whether "
                                          "the study's own code could train it (study: yes, or no and why).")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--filter", default="", metavar="SUBSTRING", help="only variants whose name contains SUBSTRING")
    p.set_defaults(func=run)


def rows(substring: str = "") -> list[dict]:
    """The presets table, optionally restricted to names containing ``substring``."""
    from repro.gan import presets  # lazy: torch only when the command runs

    return [r for r in presets.table() if substring in r["variant"]]


def format_rows(table: list[dict]) -> str:
    """Fixed-width text; a variant beyond the study reads ``no [n]``, with reason n below the table."""
    reasons: list[str] = []

    def cell(row: dict, column: str) -> str:
        value = str(row.get(column, "-"))
        if column == "study" and value.startswith("beyond: "):
            reason = value[len("beyond: "):]
            if reason not in reasons:
                reasons.append(reason)
            return f"no [{reasons.index(reason) + 1}]"
        return value

    columns = list(COLUMNS) + sorted({k for r in table for k in r} - set(COLUMNS))
    cells = [columns] + [[cell(r, c) for c in columns] for r in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines += [f"[{i}] beyond the study: {reason}" for i, reason in enumerate(reasons, start=1)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    table = rows(args.filter)
    if args.json:
        print(json.dumps(table, indent=2, sort_keys=True))
        return 0
    if not table:
        from repro.gan import presets

        raise InputError(f"no variant name contains {args.filter!r}; valid variants: {presets.PRESETS.names_text()}")
    print(format_rows(table))
    print(f"({len(table)} variants; lr, beta1, beta2, n_dis, penalty_weight are what each variant trains with: "
          "recipe 'preset' = set by the preset (the ResNet ablation rows: compare_gan's ResNet CIFAR recipe), "
          "'default' = TrainConfig's defaults (grid rows set only loss, d_norm and penalty); pick another "
          "Table 1 setting with --hparams NAME)")
    return 0
