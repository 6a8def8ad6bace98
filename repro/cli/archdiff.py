"""``repro archdiff A B``: structural differences between two variants, read from the built modules."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("archdiff", help="structural differences between two variants' models",
                              description="Build variants A and B and list each kind of structural difference "
                                          "(where, a -> b) with both parameter counts. A or B may also be "
                                          "'paper' or 'github' (the reference transcriptions, 32x32 only).")
    p.add_argument("a", metavar="A", help="variant name (see `repro variants`), or paper / github")
    p.add_argument("b", metavar="B", help="variant name, or paper / github")
    p.add_argument("--resolution", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0: the paper's widths)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def compute(a: str, b: str, resolution: int = 32, width: float = 1.0) -> dict:
    from repro import archdiff  # lazy: torch only when the command runs

    refs = [n for n in (a, b) if n in archdiff.REFERENCES]
    if not refs:
        return archdiff.diff_variants(a, b, resolution=resolution, width=width)
    if resolution != 32:
        raise ValueError(f"the reference transcriptions exist at 32x32 only, not --resolution {resolution}")
    if len(refs) == 2:
        raise ValueError("compare a variant with a reference, not two references; "
                         f"references: {', '.join(archdiff.REFERENCES)}")
    if a in archdiff.REFERENCES:  # reference first: diff variant vs reference, then swap sides
        result = archdiff.diff_reference(b, a, width=width)
        for row in result["rows"]:
            for c in row["changes"]:
                c["a"], c["b"] = c["b"], c["a"]
            row["what"] = "; ".join(f"{c['a']} -> {c['b']} ({', '.join(c['where'])})" for c in row["changes"])
        return {**result, "a": a, "b": b}
    return {**archdiff.diff_reference(a, b, width=width), "a": a, "b": b}


def run(args: argparse.Namespace) -> int:
    from repro import archdiff

    result = compute(args.a, args.b, args.resolution, args.width)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"{args.a} vs {args.b} at {args.resolution}x{args.resolution}, width {args.width:g}")
    print(archdiff.format_rows(result["rows"], args.a, args.b))
    params = result["params"]
    if "package" in params:  # a variant against a reference transcription
        labels = {"package": next(n for n in (args.a, args.b) if n not in archdiff.REFERENCES),
                  "reference": next(n for n in (args.a, args.b) if n in archdiff.REFERENCES)}
    else:
        labels = {"a": args.a, "b": args.b}
    for side, counts in params.items():
        print(f"parameters {labels[side]}: G {counts['G']:,}  D {counts['D']:,}  total {counts['total']:,}")
    if "conformance" in result:
        c = result["conformance"]
        print(f"outputs with transplanted weights (float64, no SN): max |G diff| {c['generator_max_abs_diff']:.3g}, "
              f"max |D diff| {c['discriminator_max_abs_diff']:.3g}")
    return 0
