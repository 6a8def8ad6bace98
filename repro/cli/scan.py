"""repro scan: ops without a deterministic implementation on this device."""

from __future__ import annotations

from repro.cli._common import add_config_options, config_from_args, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help="list ops of a training step that have no deterministic implementation here")
    add_config_options(p)
    p.add_argument("--scan-steps", type=int, default=1, help="training steps to run (default 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro.train.scan import scan

    result = scan(config_from_args(args), steps=args.scan_steps)
    print_json(result)
    return 0
