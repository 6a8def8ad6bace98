"""The report shows the values its verdict used (issue 22 item 9), and says which basis decided."""

from __future__ import annotations

import dataclasses

from report_fixtures import synthetic_report

from repro.audit import report as report_mod
from repro.audit.plan import AuditPlan


def _report():
    plan = AuditPlan("resnet_all", "resnet_default", 2, 0, (1, 2, 3, 4), ())
    return synthetic_report(plan, fid=lambda spec: 100.0 + 3 * spec.seed + (5 if spec.variant == "resnet_all" else 0))


def test_runs_table_shows_the_fid_the_comparison_used():
    report = _report()
    md = report_mod.render_markdown(report)
    table = md[md.index("## Runs"):md.index("## Divergence")]
    for variant, noise in report.variance.items():
        for seed, value in zip(noise.seeds, noise.seed_values):
            run = report.run(f"{variant}/deterministic-s{seed}-r0")
            # the comparison's per-seed value is the run's FID averaged over its evaluation seeds ...
            assert value == run.fid_mean_over_eval_seeds != run.fid
            # ... and that is the runs table's FID column (the seed-0 value sits beside it)
            row = next(line for line in table.splitlines() if line.startswith(f"| {run.id} |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[3] == report_mod._f(value) and cells[5].startswith(report_mod._f(run.fid))


def test_verdict_section_states_the_rule_and_the_rank_based_comparison():
    md = report_mod.render_markdown(_report())
    verdict = md[md.index("## Verdict"):md.index("## Runs")]
    assert "two one-sided tests" in verdict and "Hodges-Lehmann" in verdict and "Mann-Whitney" in verdict
    assert "range" in verdict  # seeds needed at min_effect with its range
    assert "observed difference" not in verdict


def test_bias_dominated_bootstrap_is_named():
    report = _report()
    run = report.runs[0]
    flagged = dataclasses.replace(report, runs=[dataclasses.replace(run, fid_boot_bias=run.fid / 2), *report.runs[1:]])
    md = report_mod.render_markdown(flagged)
    assert "not an independent measurement of sampling noise" in md
    assert f"overstates the spread (FID below 3x its bootstrap bias): {run.id}" in md
