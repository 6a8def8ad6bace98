"""``repro data``: inspect datasets. ``repro data check NAME [--data-root PATH] [--recipe R]`` prints JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets (counts, shape, value range, recipe, fingerprint)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("check", help="load both splits and print a JSON summary")
    check.add_argument("name", help="dataset name (digits, cifar10, celeba_hq_128, lsun_bedroom, folder)")
    check.add_argument("--data-root", "--root", dest="root", default="", metavar="PATH",
                       help="local dataset folder (default: the dataset's environment variable)")
    check.add_argument("--recipe", default="", help="preprocessing recipe (default: the dataset's default)")
    check.add_argument("--out", default=None, help="also write the summary to this JSON file (atomically)")
    check.set_defaults(func=run_check)
    listing = sub.add_parser("list", help="print the registered datasets, their recipes and root variables as JSON")
    listing.set_defaults(func=run_list)


def summary(name: str, root: str = "", recipe: str = "") -> dict[str, Any]:
    """Flat summary of both splits of ``name``: counts, shape, value range, recipe and fingerprints."""
    from repro.data import load

    splits = {s: load(name, s, root=root, recipe=recipe) for s in ("train", "test")}
    desc = {s: split.describe() for s, split in splits.items()}
    train, test = desc["train"], desc["test"]
    out: dict[str, Any] = {
        "name": name, "recipe": train["recipe"], "shape": train["shape"],
        "n_train": train["n"], "n_test": test["n"],
        "min": min(train["min"], test["min"]), "max": max(train["max"], test["max"]),
        "fingerprint_train": train["fingerprint"], "fingerprint_test": test["fingerprint"],
    }
    for key in sorted(set(train) | set(test)):  # dataset facts (root, format, split rule, ...), per split where they differ
        if key in ("name", "split", "n", "shape", "recipe", "fingerprint", "min", "max"):
            continue
        if train.get(key) == test.get(key):
            out[key] = train.get(key)
        else:
            out[f"{key}_train"], out[f"{key}_test"] = train.get(key), test.get(key)
    return out


def run_check(args: argparse.Namespace) -> int:
    result = summary(args.name, root=args.root, recipe=args.recipe)
    if args.out:
        from repro.io import write_json

        write_json(args.out, result)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from repro.data import REGISTRY

    rows = {name: {"recipes": list(REGISTRY.get(name).recipes), "default_recipe": REGISTRY.get(name).default_recipe,
                   "env_var": REGISTRY.get(name).env_var} for name in REGISTRY.names()}
    print(json.dumps(rows, indent=2, sort_keys=True))
    return 0
