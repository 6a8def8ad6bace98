"""What the subcommands share: the parser class, its help formatter, and the config options."""

from __future__ import annotations

import argparse
import dataclasses
import json
from types import SimpleNamespace
from typing import Any

from repro.config import TrainConfig, parse_overrides
from repro.registry import suggest


class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help only where it says something: not when the help
    already names its default, not on required options, and not for None, False or empty lists
    (argparse's ArgumentDefaultsHelpFormatter prints "(default 200) (default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or action.required or default in (None, False, argparse.SUPPRESS)
                or (isinstance(default, (list, tuple, str)) and not default)
                or action.option_strings == [] or isinstance(action, argparse._StoreConstAction)):
            return text
        return f"{text} (default: {default})" if text else f"default: {default}"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with :class:`HelpFormatter` and "did you mean" for an invalid choice (a command name,
    ``--mode``, ...)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["formatter_class"] = HelpFormatter  # one help style for every command
        super().__init__(*args, **kwargs)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            close = suggest(str(value), names)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from {', '.join(names)})")


def add_config_options(p: argparse.ArgumentParser, *, variant_default: str | None = "resnet_default",
                       required: bool = True) -> None:
    """--variant (required when ``variant_default`` is None and ``required``), --dataset, --data-root, --seed,
    --steps, --hparams, --set."""
    # the dataclass's field defaults, read without building a TrainConfig: validating one imports
    # the model registries and torch, which `repro train --help` does not need
    defaults = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(TrainConfig)})
    if variant_default is None:
        p.add_argument("--variant", required=required, help="preset name (repro variants)")
    else:
        p.add_argument("--variant", default=variant_default,
                       help=f"preset name (repro variants); default {variant_default}")
    p.add_argument("--dataset", default=None, help=f"dataset name (default {defaults.dataset})")
    p.add_argument("--data-root", default=None, metavar="PATH",
                   help="local folder of a real dataset (config field data_root; default: the dataset's "
                        "environment variable, e.g. REPRO_CIFAR10_ROOT)")
    p.add_argument("--seed", type=int, default=None, help=f"run seed (default {defaults.seed})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"generator steps; each is n_dis D updates + 1 G update (default {defaults.steps})")
    p.add_argument("--hparams", default=None, metavar="NAME",
                   help="a Table 1 setting of the study (lr, penalty_weight, beta1, beta2, n_dis), e.g. "
                        "lr2e-4_lam1_b0.5-0.999_ndis5; its name is recorded in the config (repro.hparams)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set lr=0.001 --set n_dis=5 (repeatable)")


def overrides_from_args(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The fields the options set: --hparams, then explicit options (and ``extra``) that were given, then --set."""
    from repro import hparams

    table1 = hparams.fields(args.hparams) if getattr(args, "hparams", None) else {}
    explicit = {k: v for k, v in (("dataset", args.dataset), ("data_root", args.data_root), ("seed", args.seed),
                                  ("steps", args.steps),
                                  *extra.items()) if v is not None}
    return {**table1, **explicit, **parse_overrides(args.overrides)}


def config_from_args(args: argparse.Namespace, **extra: Any) -> TrainConfig:
    """Defaults <- preset row <- --hparams <- explicit options <- --set overrides."""
    from repro.gan.presets import config_for

    return config_for(args.variant, **overrides_from_args(args, **extra))

def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))
