"""``repro env``: print the environment fingerprint, or what differs between two of them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from repro import fingerprint
from repro.errors import InputError
from repro.io import read_json, write_json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "env",
        help="print the environment fingerprint as JSON, or diff two fingerprint files",
        description=(
            "Print the environment fingerprint (library versions, torch build, CPU, threads, numerics "
            "env vars, GPUs via NVML, git commit) as JSON. With --diff A B, print one line per "
            "differing dotted key: KEY<TAB>A value<TAB>B value (JSON; <missing> where a key is absent). "
            "Exit 0 whether or not they differ."
        ),
    )
    parser.add_argument("--out", metavar="FILE", help="also write the fingerprint to FILE (atomically)")
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
    print(json.dumps(fp, indent=2, sort_keys=True))
    return 0
