"""repro report: render report.md (and the DVC plot files) from an audit's report.json."""

from __future__ import annotations

from pathlib import Path

from repro.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="render report.md from an audit report.json")
    p.add_argument("report", help="path to report.json")
    p.add_argument("--out", default=None, help="markdown file to write (default: report.md beside the json)")
    p.add_argument("--upgrade", action="store_true",
                   help="re-analyse a repro.audit/1 report with the current rules and rewrite report.json "
                        "(the old verdict is kept under upgraded_from), metrics.json and report.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro import io
    from repro.audit import report as report_mod

    if args.upgrade:
        from repro.audit.upgrade import upgrade_v1

        path = Path(args.report)
        report = upgrade_v1(io.read_json(path, "audit report"), str(path))
        io.write_json(path, report)
        io.write_json(path.with_name("metrics.json"), report_mod.dvc_metrics(report))
    report = report_mod.load(args.report)  # the schema names a missing section or a value of the wrong type
    out = io.check_output_file(Path(args.out) if args.out else Path(args.report).with_name("report.md"),
                               "report markdown")
    try:
        text = report_mod.render_markdown(report, report_mod.figure_files(Path(args.report).parent))
    except (KeyError, TypeError, IndexError, AttributeError) as exc:  # a section of the wrong shape
        raise InputError(f"audit report {args.report} has an incomplete section "
                         f"({type(exc).__name__}: {exc}); re-run `repro audit` to write a complete report") from None
    io.write_text(out, text)
    print(out)
    return 0
