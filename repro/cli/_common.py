"""Options shared by the subcommands that build a training config."""

from __future__ import annotations

import argparse
import json
from typing import Any

from repro.config import TrainConfig, parse_overrides


def add_config_options(p: argparse.ArgumentParser, *, variant_default: str | None = "resnet_default") -> None:
    """--variant (required when ``variant_default`` is None), --dataset, --seed, --steps, --hparams, --set."""
    defaults = TrainConfig()
    if variant_default is None:
        p.add_argument("--variant", required=True, help="preset name (repro variants)")
    else:
        p.add_argument("--variant", default=variant_default,
                       help=f"preset name (repro variants); default {variant_default}")
    p.add_argument("--dataset", default=None, help=f"dataset name (default {defaults.dataset})")
    p.add_argument("--seed", type=int, default=None, help=f"run seed (default {defaults.seed})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"generator steps; each is n_dis D updates + 1 G update (default {defaults.steps})")
    p.add_argument("--hparams", default=None, metavar="NAME",
                   help="a Table 1 setting of the study (lr, penalty_weight, beta1, beta2, n_dis), e.g. "
                        "lr2e-4_lam1_b0.5-0.999_ndis5; its name is recorded in the config (repro.gan.hparams)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set lr=0.001 --set n_dis=5 (repeatable)")


def overrides_from_args(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The fields the options set: --hparams, then explicit options (and ``extra``) that were given, then --set."""
    from repro.gan import hparams

    table1 = hparams.fields(args.hparams) if getattr(args, "hparams", None) else {}
    explicit = {k: v for k, v in (("dataset", args.dataset), ("seed", args.seed), ("steps", args.steps),
                                  *extra.items()) if v is not None}
    return {**table1, **explicit, **parse_overrides(args.overrides)}


def config_from_args(args: argparse.Namespace, **extra: Any) -> TrainConfig:
    """Defaults <- preset row <- --hparams <- explicit options <- --set overrides."""
    from repro.gan.presets import config_for

    return config_for(args.variant, **overrides_from_args(args, **extra))

def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))
