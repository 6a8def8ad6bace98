"""`dvc plots show` draws every series the audit writes (repro.audit.plotdata + dvc.yaml's plots)."""

from __future__ import annotations

import csv
import json

import pytest
from dvc_helpers import BIN, ROOT, dvc_env, dvc_project, run

from repro.audit import plotdata
from repro.cli import params as params_cli

STEPS = (50, 100)


def synthetic_audit(audit: dict) -> tuple[dict, dict, dict]:
    """(report, traces, metrics) with the structure of a real audit of ``audit`` (params.yaml)."""
    specs = params_cli.plan_of(audit)
    runs = [{"id": s.id, "variant": s.variant, "mode": s.mode, "seed": s.seed, "replicate": s.replicate,
             "perturb": s.perturb} for s in specs]
    pairs = []
    for i, v in enumerate(dict.fromkeys(s.variant for s in specs)):
        mine = [s for s in specs if s.variant == v and s.seed == audit["seed"]]
        for mode in ("deterministic", "nondeterministic"):
            reps = [s for s in mine if s.mode == mode and s.perturb is None]
            pairs += [{"variant": v, "kind": mode, "a": reps[0].id, "b": b.id,
                       "rel_l2": [[st, 0.0 if mode == "deterministic" else 0.01 * st * (i + 1)] for st in STEPS]}
                      for b in reps[1:]]
        pairs += [{"variant": v, "kind": "threads", "a": mine[0].id, "b": s.id, "rel_l2": [[st, 0.2] for st in STEPS]}
                  for s in mine if s.perturb == "threads"]
    report = {"settings": {"seed": audit["seed"]}, "runs": runs, "pairs": pairs}
    traces = {f"{s.variant}/{s.mode}": [{"step": t, "d_loss": 1.0 + t / 10, "g_loss": 2.0 - t / 10}
                                        for t in range(1, STEPS[-1] + 1)]
              for s in specs if s.is_primary(audit["seed"])}
    metrics = {s.id: {f"fid_step_{st}": 100.0 - st / 10 + s.seed for st in STEPS} for s in specs}
    return report, traces, metrics


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
    report, traces, metrics = synthetic_audit(audit)
    written = plotdata.write_plot_data(report, repo / "audits" / audit["variant"], traces, metrics)
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
    report, traces, metrics = synthetic_audit(audit)
    cols = plotdata.fid_columns(report, "resnet_all", {k: plotdata.fid_by_step(m) for k, m in metrics.items()})
    seeds = [audit["seed"], *audit["extra_seeds"]]  # FID 100 - step/10 + seed, by construction
    assert cols["seed_mean"][50] == pytest.approx(95 + sum(seeds) / len(seeds))  # a float mean of 5 values
    assert cols["seed_min"][50] == 95 + min(seeds) and cols["seed_max"][100] == 90 + max(seeds)
    assert cols["deterministic"] == {50: 95.0, 100: 90.0}


def test_fid_by_step_reads_checkpoint_keys_only():
    assert plotdata.fid_by_step({"fid": 1.0, "fid_step_100": 2.0, "fid_step_50": 3.0, "fid_min_step": 50}) == \
        {50: 3.0, 100: 2.0}


def test_replicates_beyond_two_get_their_own_column():
    pairs = [{"variant": "v", "kind": "nondeterministic", "a": "v/nondeterministic-s0-r0",
              "b": f"v/nondeterministic-s0-r{r}", "rel_l2": [[10, 0.1 * r]]} for r in (1, 2)]
    cols = plotdata.divergence_columns({"pairs": pairs}, "v")
    assert cols == {"nondeterministic": {10: 0.1}, "nondeterministic r2": {10: 0.2}}
