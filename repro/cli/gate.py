"""``repro gate``: check an audit report against a committed baseline (CI), or refresh the baseline."""

from __future__ import annotations

import argparse
import json
import sys

from repro.audit import gate


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="CI gate: fail when an audit report drifts from a committed baseline",
        description=(
            "Check DIR/report.json (repro audit) against a baseline: the settings that define the measurement "
            "equal the baseline's; every deterministic pair bitwise identical; every run completed; where a "
            "variant's bits differ from the baseline's, its mean FID inside the band of an exact permutation "
            "test of the baseline's per-seed FIDs against the new ones (false alarms at most ALPHA over all "
            "gated variants); the deterministic/nondeterministic step-time ratio <= MAX_DET_COST; and, in strict "
            "mode, where the environment fingerprints match on every strict field, each deterministic run's "
            "final parameter hash equal to the baseline's. Evidence the baseline holds but the report lacks "
            "fails. Exit 0 all pass, 1 drift, 2 unusable input (missing, corrupt or wrong-shape file, schema "
            "mismatch). With --update, write a new baseline from the report instead (atomically); a report "
            "without the evidence a baseline must hold (identical deterministic pairs, completed runs, a "
            "fingerprint, at least 5 seeds per variant, the cost of determinism) is refused (exit 2)."
        ),
    )
    parser.add_argument("--baseline", required=True, metavar="PATH",
                        help=f"baseline JSON (schema {gate.BASELINE_SCHEMA}), e.g. audits/baselines/NAME.json")
    parser.add_argument("--report", required=True, metavar="PATH", help="audit report JSON (DIR/report.json)")
    parser.add_argument("--alpha", type=float, default=gate.DEFAULT_ALPHA,
                        help="false-alarm rate of the FID check over all gated variants together "
                             f"(default {gate.DEFAULT_ALPHA:g})")
    parser.add_argument("--max-det-cost", type=float, default=gate.DEFAULT_MAX_DET_COST,
                        help="bound on deterministic / nondeterministic median step time "
                             f"(default {gate.DEFAULT_MAX_DET_COST:g}: determinism may at most double the step time)")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="never compare final parameter hashes (default: compare them when the environments match)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    parser.add_argument("--update", action="store_true",
                        help="write a new baseline at --baseline from --report (refresh deliberately; commit it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.update:
            return _update(args)
        report = gate.load_report(args.report)
        baseline = gate.load_baseline(args.baseline)
        result = gate.check(report, baseline, alpha=args.alpha, max_det_cost=args.max_det_cost, strict=args.strict)
    except gate.GateInputError as exc:
        print(f"repro gate: error: {exc}", file=sys.stderr)
        return gate.EXIT_INPUT
    if args.json:
        options = {"alpha": args.alpha, "max_det_cost": args.max_det_cost, "strict": args.strict}
        print(json.dumps({**result.to_dict(), "options": options, "baseline": args.baseline, "report": args.report},
                         indent=2, sort_keys=True))
    else:
        print(gate.format_table(result))
    return result.exit_code


def _update(args: argparse.Namespace) -> int:
    from repro.fingerprint import summary
    from repro.io import check_output_file

    check_output_file(args.baseline, "baseline")  # before reading anything: a directory or unwritable path
    try:
        report = gate.load_report(args.report)
        baseline = gate.make_baseline(report, args.report)
    except gate.GateInputError as exc:
        print(f"repro gate: error: {exc}", file=sys.stderr)
        return gate.EXIT_INPUT
    gate.write_baseline(args.baseline, baseline)
    if args.json:
        print(json.dumps({k: v for k, v in baseline.items() if k != "fingerprint"}, indent=2, sort_keys=True))
        return gate.EXIT_PASS
    written = gate.baseline_record(baseline)
    print(f"wrote baseline {args.baseline} from {args.report}")
    print(f"  commit: {written.commit}")
    env = summary(written.fingerprint)
    print("  environment: " + ", ".join(f"{key}={value}" for key, value in env.items()))
    for name, v in written.variants.items():
        ratio = written.cost.get(name)
        cost = f", det cost ratio {ratio:.3g}" if isinstance(ratio, (int, float)) else ""
        print(f"  {name}: fid_mean {v.fid_mean:.6g} over {v.n_seeds} seeds, noise_std {v.noise_std:.4g}{cost}")
    print(f"  final parameter hashes: {len(written.final_param_hashes)} deterministic run(s)")
    return gate.EXIT_PASS
