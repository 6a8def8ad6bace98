"""``repro env``: print the environment fingerprint, or what differs between two of them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from repro import fingerprint
from repro.errors import InputError
from repro.io import read_json, write_json

# the numerics switches the summary shows (the rest: --json)
SUMMARY_SWITCHES = ("deterministic_algorithms", "cudnn_deterministic", "cudnn_benchmark", "float32_matmul_precision")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "env",
        help="summarise the environment fingerprint (--json: all of it), or diff two fingerprint files",
        description=(
            "Print a short summary of the environment fingerprint (library versions, torch build, CPU, "
            "threads, GPUs, git commit, and the numerics switches that change bits); --json prints all of it. "
            "With --diff A B, print one line per "
            "differing dotted key: KEY<TAB>A value<TAB>B value (JSON; <missing> where a key is absent). "
            "Exit 0 whether or not they differ."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the whole fingerprint as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the whole fingerprint to FILE (atomically)")
    parser.add_argument("--diff", nargs=2, metavar=("A", "B"), help="compare two fingerprint JSON files")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATTERN",
        help="with --diff: skip dotted keys matching this fnmatch pattern (and keys below it); repeatable; "
        f"e.g. {fingerprint.VOLATILE_KEYS[0]} for the volatile GPU clocks",
    )
    parser.set_defaults(func=run)


def load(path: str) -> dict[str, Any]:
    """Read a fingerprint file; a missing, corrupt or non-object file is a ``ValueError`` naming it."""
    data = read_json(path, what="fingerprint file")
    if not isinstance(data, dict):
        raise InputError(f"fingerprint file {path} holds a JSON {type(data).__name__}, expected an object")
    return data


def _fmt(value: Any) -> str:
    if value is fingerprint.MISSING:
        return "<missing>"
    return json.dumps(value, sort_keys=True)


def run(args: argparse.Namespace) -> int:
    if args.diff:
        if args.out:
            raise InputError("--out writes this machine's fingerprint; it cannot be combined with --diff")
        a, b = (load(path) for path in args.diff)
        rows = fingerprint.diff(a, b, ignore=args.ignore)
        for key, va, vb in rows:
            print(f"{key}\t{_fmt(va)}\t{_fmt(vb)}")
        if not rows:
            print("no differences")
        return 0
    if args.ignore:
        raise InputError("--ignore only applies with --diff A B")
    fp = fingerprint.collect()
    if args.out:
        write_json(args.out, fp)
    if args.json:
        print(json.dumps(fp, indent=2, sort_keys=True))
        return 0
    summary = fingerprint.summary(fp)
    width = max(map(len, summary))
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in summary.items()))
    switches = {k: v for k, v in (fp.get("numerics") or {}).items() if k in SUMMARY_SWITCHES}
    env = {k: v for k, v in (fp.get("env") or {}).items() if v is not None}
    for label, values in (("numerics", switches), ("env", env)):
        if values:
            print(f"{label.ljust(width)}  " + ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    print(f"(the whole fingerprint: repro env --json; {len(fingerprint.flatten(fp))} fields)")
    return 0
