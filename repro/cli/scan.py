"""repro scan: ops without a deterministic implementation on this device, or (``--run-twice``) ops
whose results differ when run twice on the same inputs."""

from __future__ import annotations

from repro.cli._common import add_config_options, config_from_args, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help="list ops of a training step that have no deterministic implementation here")
    add_config_options(p)
    p.add_argument("--scan-steps", type=int, default=1, help="training steps to run (default 1)")
    p.add_argument("--run-twice", action="store_true",
                   help="instead: run every op of the steps twice on the same inputs, in the config's mode "
                        "(--set mode=nondeterministic for the default kernels), and list the ops whose two results "
                        "differ bit for bit, with module path and phase")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro.train.scan import run_twice, scan

    if args.run_twice:
        print_json(run_twice(config_from_args(args), steps=args.scan_steps).to_dict())
        return 0
    result = scan(config_from_args(args), steps=args.scan_steps)
    print_json(result)
    return 0
