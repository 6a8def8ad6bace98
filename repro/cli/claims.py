"""repro claims: check a paper's claims (a YAML file) on a study's results, seeds as evidence."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_CLAIMS = "claims/kurach2019.yaml"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "claims", help="check the paper's claims on a study: holds, contradicted or inconclusive, with intervals",
        description="Evaluate each claim of --claims on the trials of --study with repro.stats.compare_seeds "
                    "(one observation per seed and side: the claim's statistic, e.g. the median of the seed's "
                    "top 5% FIDs over the side's settings; Welch 95% interval of the difference, or rank-based when "
                    "the per-seed values are bimodal or strongly skewed; seeds needed for 80% power at min_effect) and write STUDY/claims.json and claims.md. A claim about a factor level the "
                    "study did not train is an error naming the levels it has (or 'not tested' with "
                    "--skip-untestable).")
    p.add_argument("--study", default=None,
                   help="study directory or report folder (holds results.json), or the file (required unless "
                        "--list-variants)")
    p.add_argument("--claims", default=DEFAULT_CLAIMS, help="claims file (YAML)")
    p.add_argument("--min-effect", type=float, default=None,
                   help="smallest FID difference that matters for statistics in FID units (default 5%% of side B's "
                        "mean; a spread or a settings count keeps that default)")
    p.add_argument("--stand-in", dest="stand_ins", action="append", default=[], metavar="PAPER=USED",
                   help="test claims the paper made on one architecture on another, e.g. resnet19=resnet "
                        "(repeatable); every verdict tested so says it in its caveats")
    p.add_argument("--skip-untestable", action="store_true",
                   help="list claims the study cannot test as 'not tested' instead of failing")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write claims.json and claims.md here (default: the folder of the study's results.json)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--list-variants", action="store_true",
                   help="print the presets a study must train for every claim to be testable (comma-separated, "
                        "for `repro study --variants`; with --stand-in applied) and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro import io
    from repro.errors import InputError
    from repro.study import claims, needs, report, results

    if args.list_variants:
        print(",".join(needs.variants_needed(claims.load(args.claims), claims.parse_stand_ins(args.stand_ins))))
        return 0
    if not args.study:
        raise InputError("--study DIR is required (or --list-variants)")
    study = Path(args.study)
    doc = results.read(study)
    verdicts = [v.to_dict() for v in claims.evaluate(claims.load(args.claims), doc["trials"],
                                                     min_effect=args.min_effect,
                                                     skip_untestable=args.skip_untestable,
                                                     stand_ins=claims.parse_stand_ins(args.stand_ins))]
    out_dir = Path(args.out) if args.out else (study if study.is_dir() else study.parent)
    from repro.cli.study import caveat as study_caveat

    caveat = study_caveat(doc["spec"])
    io.write_json(out_dir / "claims.json", {"schema": "repro.study.claims/2", "claims_file": str(args.claims),
                                            "min_effect": args.min_effect,
                                            "stand_ins": claims.parse_stand_ins(args.stand_ins),
                                            "skip_untestable": args.skip_untestable, "verdicts": verdicts})
    io.write_text(out_dir / "claims.md", report.render_claims(verdicts, caveat=caveat))
    if args.json:
        print(json.dumps(verdicts, indent=2))
    else:
        for v in verdicts:
            if v["outcome"] == "not tested":
                print(f"{v['outcome']:>13}  {v['id']} [{v['statistic']}]: {v['reason']}")
                continue
            c = v["comparison"] or {}
            effect = f"{c['diff']:+.4g}" if c.get("diff") is not None else "-"
            interval = (f" [{c['ci_low']:.4g}, {c['ci_high']:.4g}]" if c.get("ci_low") is not None else "")
            print(f"{v['outcome']:>13}  {v['id']} [{v['statistic']}]: effect {effect}{interval}, seeds "
                  f"{c.get('n_seeds_variant', 0)}/{c.get('n_seeds_baseline', 0)}, needed at min_effect {_needed(c)}")
        print(f"-> {out_dir / 'claims.md'}")
    return 0


def _needed(c: dict) -> str:
    """Seeds per side for 80% power at min_effect, with the range over the pooled std's interval."""
    if c.get("seeds_needed_min_effect") is None:
        return "-"
    high = c.get("seeds_needed_high")
    return f"{c['seeds_needed_min_effect']} ({c.get('seeds_needed_low')}-{high if high is not None else '?'})"
