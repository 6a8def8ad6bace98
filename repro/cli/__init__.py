"""The ``repro`` command line: thin wrappers that parse, call the library and print.

Each subcommand lives in its own module under ``repro.cli`` and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` to a
function ``(args) -> int``. A :class:`repro.errors.ReproError` (bad input, a missing file, a
directory in use) or an ``OSError`` (a file that cannot be read or written, a full disk) is
printed as one line ``repro: error: ...`` with exit code 2, without a traceback. Any other
exception is a bug in repro: its traceback is shown, with a request to report it, and the exit
code is 1. A closed output pipe (``repro variants | head``) ends quietly with 141, the status of
a process killed by SIGPIPE. ``-v`` and ``--quiet`` set the level of the log lines on stderr
(:mod:`repro.logs`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from repro import logs
from repro.cli._common import ArgumentParser
from repro.errors import ReproError

# (module under repro.cli) in the order `repro --help` lists them.
SUBCOMMANDS = (
    "variants",
    "arch",
    "archdiff",
    "train",
    "env",
    "scan",
    "localize",
    "hunt",
    "data",
    "extractor",
    "evaluate",
    "audit",
    "report",
    "gate",
    "params",
    "study",
    "claims",
)

EXIT_USAGE = 2
EXIT_BUG = 1  # what Python itself returns for an uncaught exception
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE, what a shell reports for `cat big | head`


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="repro",
        description="Audit the reproducibility and determinism of GAN training (Kurach et al., ICML 2019).",
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log lines on stderr (debug detail)")
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
    # --quiet exists on the commands that print progress; -v is global
    logs.configure(logs.level_for(args.verbose, bool(getattr(args, "quiet", False))))
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in a message at interpreter exit
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except ReproError as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"repro: error: {_os_error_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show where, and ask for a report
        traceback.print_exc()
        print(f"repro: internal error: this is a bug in {version_text()}, not a problem with your input; "
              "please report it to the repro issue tracker with the traceback above and the command you ran",
              file=sys.stderr)
        return EXIT_BUG


def _os_error_text(exc: OSError) -> str:
    """``Is a directory: 'x' -> 'y'`` rather than ``[Errno 21] ...`` (the path is what a user needs)."""
    text = exc.strerror or str(exc)
    for name in (exc.filename, exc.filename2):
        if name is not None and os.fspath(name) not in text:
            text += f": {os.fspath(name)}"
    return text


def _broken_pipe() -> int:
    """The reader went away: print nothing more, and keep Python from reporting the failed flush
    of stdout at exit (the Python docs' recipe: point stdout at /dev/null)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
