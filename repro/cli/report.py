"""repro report: render report.md (and the DVC plot files) from an audit's report.json."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="render report.md from an audit report.json")
    p.add_argument("report", help="path to report.json")
    p.add_argument("--out", default=None, help="markdown file to write (default: report.md beside the json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro import io
    from repro.audit import report as report_mod

    report = report_mod.load(args.report)
    out = Path(args.out) if args.out else Path(args.report).with_name("report.md")
    io.write_text(out, report_mod.render_markdown(report, report_mod.figure_files(Path(args.report).parent)))
    print(out)
    return 0
