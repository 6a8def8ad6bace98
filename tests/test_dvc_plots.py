"""`dvc plots show` draws every series the audit writes (repro.audit.plotdata + dvc.yaml's plots)."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
from dvc_helpers import BIN, ROOT, dvc_env, dvc_project, run
from report_fixtures import synthetic_report

from repro.audit import plotdata
from repro.audit.plan import AuditPlan
from repro.audit.spec import AuditSpec
from repro.cli import params as params_cli

STEPS = (50, 100)


def synthetic_audit(audit: dict):
    """(report, traces) with the structure of a real audit of ``audit`` (params.yaml): FID
    100 - step / 10 + seed at each checkpoint, divergence 0 for deterministic pairs."""
    plan = AuditSpec.from_params(audit).plan
    variants = plan.variants
    report = synthetic_report(
        plan, steps=STEPS, fid=lambda spec: 90.0 + spec.seed,
        rel_l2=lambda pair, st: {"deterministic": 0.0, "threads": 0.2}.get(
            pair.kind, 0.01 * st * (variants.index(pair.variant) + 1)))
    traces = {f"{s.variant}/{s.mode}": [{"step": t, "d_loss": 1.0 + t / 10, "g_loss": 2.0 - t / 10}
                                        for t in range(1, STEPS[-1] + 1)]
              for s in plan.runs() if s.is_primary(audit["seed"])}
    return report, traces


def _series(dvc_json: dict) -> dict[str, set[str]]:
    """plot id -> the `file::column` series drawn (with at least one value)."""
    out: dict[str, set[str]] = {}
    for plot_id, entries in dvc_json["data"].items():
        for entry in entries:
            rows = entry["content"]["data"]["values"]
            out.setdefault(plot_id, set()).update(r["filename::field"] for r in rows if r.get("dvc_inferred_y_value")
                                                  not in (None, ""))
    return out


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plots")
    repo = dvc_project(tmp)
    audit = params_cli.checked(repo / "params.yaml")["audit"]
    report, traces = synthetic_audit(audit)
    written = plotdata.write_plot_data(report, repo / "results" / audit["variant"], traces)
    proc = run([str(BIN / "dvc"), "plots", "show", "--json"], repo, dvc_env(tmp))
    return json.loads(proc.stdout), written, repo


def test_every_written_column_is_drawn_with_values(shown):
    dvc_json, written, repo = shown
    assert not dvc_json.get("errors"), dvc_json.get("errors")
    drawn = set().union(*_series(dvc_json).values())
    expected = set()
    for path in written:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh))
        assert header[0] == "step"
        label = f"{path.parent.name}/{path.name}"  # DVC names a series by the file's distinct tail
        expected |= {f"{label}::{col}" for col in header[1:]}
    assert drawn == expected, (sorted(expected - drawn), sorted(drawn - expected))


def test_each_plot_compares_both_variants(shown):
    series = _series(shown[0])
    assert set(series) == {"divergence", "d_loss", "g_loss", "fid_seeds", "fid_same_seed"}
    for plot_id, names in series.items():
        assert {n.split("/")[0] for n in names} == {"resnet_all", "resnet_default"}, plot_id
    assert {n.split("::")[1] for n in series["divergence"]} == {"deterministic", "nondeterministic", "threads"}


def test_plots_have_titles_and_axis_labels(shown):
    for plot_id, entries in shown[0]["data"].items():
        spec = entries[0]["content"]
        assert spec["title"]["text"], plot_id
        assert spec["encoding"]["x"]["title"] == "generator step", plot_id


def test_fid_seed_columns_are_over_every_seed():
    audit = params_cli.checked(ROOT / "params.yaml")["audit"]
    report, _ = synthetic_audit(audit)
    cols = plotdata.fid_columns(report, "resnet_all")
    seeds = [audit["seed"], *audit["extra_seeds"]]  # FID 100 - step/10 + seed, by construction
    assert cols["seed_mean"][50] == pytest.approx(95 + sum(seeds) / len(seeds))  # a float mean of 5 values
    assert cols["seed_min"][50] == 95 + min(seeds) and cols["seed_max"][100] == 90 + max(seeds)
    assert cols["deterministic"] == {50: 95.0, 100: 90.0}


def test_fid_by_step_reads_the_checkpoint_records_in_step_order():
    audit = params_cli.checked(ROOT / "params.yaml")["audit"]
    report, _ = synthetic_audit(audit)
    row = report.runs[0]
    shuffled = dataclasses.replace(row, checkpoints=row.checkpoints[::-1])
    assert list(plotdata.fid_by_step(shuffled)) == list(STEPS)


def test_replicates_beyond_two_get_their_own_column():
    plan = AuditPlan("resnet_default", "resnet_default", replicates=3)
    report = synthetic_report(plan, steps=(10,), rel_l2=lambda pair, st: 0.1 * int(pair.b.id.rsplit("r", 1)[1]),
                              identical=lambda pair: False)
    cols = plotdata.divergence_columns(report, "resnet_default")
    assert cols["nondeterministic"] == {10: 0.1} and cols["nondeterministic r2"] == {10: 0.2}
