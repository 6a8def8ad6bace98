"""``repro archdiff A B``: structural differences between two variants, or a variant and a reference."""

from __future__ import annotations

import argparse
import json

from repro.errors import InputError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "archdiff", help="structural differences between two variants' models, or a variant and a reference",
        description="Build A and B and list each kind of structural difference (where, a -> b) with both parameter "
                    "counts. One side may be a reference transcription: 'compare_gan' (the study's own code: "
                    "ResNet CIFAR at 32x32, ResNet19, SNDCGAN and DCGAN at 16-128), 'paper' (the paper's ResNet "
                    "CIFAR with the variant's flags, 32x32) or 'github' (the SNGAN authors' ResNet CIFAR, 32x32; "
                    "the output then separates the differences the paper lists from those it did not list). "
                    "Where the structures agree, the outputs are compared with transplanted weights.")
    p.add_argument("a", metavar="A", help="variant name (see `repro variants`), or compare_gan / paper / github")
    p.add_argument("b", metavar="B", help="variant name, or compare_gan / paper / github")
    p.add_argument("--resolution", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (default 1.0: the paper's widths)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def compute(a: str, b: str, resolution: int = 32, width: float = 1.0) -> dict:
    """The diff of A and B; with a reference on either side, :func:`repro.arch.archdiff.diff_reference`
    read from A's side."""
    from repro.arch import archdiff  # lazy: torch only when the command runs

    refs = [n for n in (a, b) if n in archdiff.REFERENCES]
    if not refs:
        return archdiff.diff_variants(a, b, resolution=resolution, width=width)
    if len(refs) == 2:
        raise InputError("compare a variant with a reference, not two references; "
                         f"references: {', '.join(archdiff.REFERENCES)}")
    if a in archdiff.REFERENCES:  # reference first: diff variant vs reference, then read it from A's side
        result = archdiff.diff_reference(b, a, resolution=resolution, width=width)
        for key in ("rows", "unlisted"):
            if key in result:
                result[key] = archdiff.swap_sides(result[key])
        if "listed" in result:  # variant -> variant with all flags, read backwards
            result["listed"] = archdiff.swap_sides(result["listed"])
        return {**result, "a": a, "b": b}
    return {**archdiff.diff_reference(a, b, resolution=resolution, width=width), "a": a, "b": b}


def run(args: argparse.Namespace) -> int:
    from repro.arch import archdiff

    result = compute(args.a, args.b, args.resolution, args.width)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"{args.a} vs {args.b} at {args.resolution}x{args.resolution}, width {args.width:g}")
    if "unlisted" in result:
        print(f"\n{archdiff.LISTED_TITLE}:")
        print(archdiff.format_rows(result["listed"], args.a, args.b))
        print(f"\n{archdiff.UNLISTED_TITLE}:")
        print(archdiff.format_rows(result["unlisted"], args.a, args.b))
        print()
    else:
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
        print(f"outputs with transplanted weights (float64, width {c['width']:g}): "
              f"max |G diff| {c['generator_max_abs_diff']:.3g} (|G| up to {c['generator_max_abs']:.3g}), "
              f"max |D diff| {c['discriminator_max_abs_diff']:.3g} (|D| up to {c['discriminator_max_abs']:.3g})")
    return 0
