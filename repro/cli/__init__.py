"""The ``repro`` command line: thin wrappers that parse, call the library and print.

Each subcommand lives in its own module under ``repro.cli`` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` to a
function ``(args) -> int``. A ``ValueError`` (bad input) is printed as one line
``repro: error: ...`` with exit code 2, without a traceback.
"""

from __future__ import annotations

import importlib
import sys

from repro.cli._common import ArgumentParser

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
    parser = ArgumentParser(
        prog="repro",
        description="Audit the reproducibility and determinism of GAN training (Kurach et al., ICML 2019).",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"repro.cli.{name}").add_parser(sub)
    return parser


def version_text() -> str:
    """``repro 0.1.0 (torch 2.13.0, python 3.11.9)``, read without importing torch."""
    import platform
    from importlib import metadata

    from repro import __version__

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return f"repro {__version__} (torch {torch_version}, python {platform.python_version()})"


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
