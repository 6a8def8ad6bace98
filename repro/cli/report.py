"""repro report: render report.md (and the DVC metrics file) from an audit's report.json."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="render report.md from an audit report.json")
    p.add_argument("report", help="path to report.json")
    p.add_argument("--out", default=None, help="markdown file to write (default: report.md beside the json)")
    p.add_argument("--upgrade", action="store_true",
                   help="read an older report (repro.audit/1, /2 or /3) as the current schema and rewrite "
                        "report.json, the DVC metrics (metrics/VARIANT.json, metrics/comparison.json; a metrics.json "
                        "of the older layout is removed) and report.md (a /1 report is re-analysed under the current "
                        "rules; its old verdict is kept under upgraded_from)")
    p.set_defaults(func=run)


def run(args) -> int:
    from repro import io  # lazy: the command line loads what a command runs
    from repro.audit import report as report_mod
    from repro.audit import schema
    from repro.audit.upgrade import upgrade

    path = Path(args.report)
    out = io.check_output_file(Path(args.out) if args.out else path.with_name("report.md"), "report markdown")
    if args.upgrade:
        report = upgrade(io.read_json(path, "audit report"), str(path))
        io.write_json(path, schema.to_dict(report))
        report_mod.write_metrics(report, path.parent)
        (path.parent / "metrics.json").unlink(missing_ok=True)  # the older layout's one file, now metrics/
    report = report_mod.load(path)  # the schema names a missing section or a value of the wrong type
    io.write_text(out, report_mod.render_markdown(report, report_mod.figure_files(path.parent)))
    print(out)
    return 0
