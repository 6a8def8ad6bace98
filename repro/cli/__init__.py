"""The ``repro`` command line: thin wrappers that parse, call the library and print.

Each subcommand lives in its own module under ``repro.cli`` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` to a
function ``(args) -> int``. A ``ValueError`` (bad input) is printed as one line
``repro: error: ...`` with exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module under repro.cli) in the order `repro --help` lists them.
SUBCOMMANDS = (
    "variants",
    "arch",
    "archdiff",
    "train",
    "env",
    "scan",
    "data",
    "extractor",
    "evaluate",
    "audit",
    "report",
    "gate",
)

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        description="Audit the reproducibility and determinism of GAN training (Kurach et al., ICML 2019).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"repro.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
