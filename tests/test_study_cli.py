"""`repro study` and `repro claims` end to end on the embedded digits data (real, tiny runs)."""

from __future__ import annotations

import json

import pytest

from repro.cli import main
from repro.cli.study import parse_seeds

TINY = ["--steps", "2", "--set", "checkpoint_every=2", "--set", "width=0.0625", "--set", "batch_size=8",
        "--set", "threads=1", "--n-boot", "5", "--no-mlflow"]


def test_table1_study_end_to_end_then_claims(tmp_path, capsys):
    out, rep = tmp_path / "study", tmp_path / "report"
    argv = ["study", "--variants", "sndcgan_ns_sn_none,sndcgan_ns_none_none", "--settings",
            "lr2e-4_lam1_b0.5-0.999_ndis1", "--seeds", "0-2", "--out", str(out), "--report", str(rep), *TINY]
    assert main(argv) == 0
    doc = json.loads((rep / "results.json").read_text())
    assert len(doc["runs"]) == 6 and all(r["status"] == "completed" and r["fid"] > 0 for r in doc["runs"])
    assert (rep / "study.md").exists() and (rep / "figures" / "factor_d_norm.png").exists()
    assert not (out / "study.md").exists()  # the report went to --report
    # resuming is a no-op that retrains nothing: same results
    capsys.readouterr()
    assert main(argv) == 0
    assert "training" not in capsys.readouterr().err
    assert json.loads((rep / "results.json").read_text())["runs"] == doc["runs"]
    claims = tmp_path / "c.yaml"
    claims.write_text("claims:\n  - {id: sn, text: sn beats none, source: 'Section 4.2', factor: d_norm, a: sn,"
                      " b: none, expect: lower}\n")
    assert main(["claims", "--study", str(rep), "--claims", str(claims)]) == 0
    verdict = json.loads((rep / "claims.json").read_text())["verdicts"][0]
    assert verdict["outcome"] in ("holds", "contradicted", "inconclusive")
    assert verdict["comparison"]["n_seeds_variant"] == 3 and verdict["comparison"]["ci_low"] is not None


def test_table2_study_end_to_end(tmp_path):
    out = tmp_path / "bo"
    assert main(["study", "--variants", "sndcgan_ns_sn_gp", "--space", "table2", "--trials", "2", "--rounds", "1",
                 "--seeds", "0", "--out", str(out), *TINY]) == 0
    doc = json.loads((out / "results.json").read_text())
    # the paper searches n_dis 1 and 5, each in its own optimisation: 2 trials each
    assert [t["setting"] for t in doc["trials"]] == ["ndis1_bo000", "ndis1_bo001", "ndis5_bo000", "ndis5_bo001"]
    assert [t["n_dis"] for t in doc["trials"]] == [1, 1, 5, 5]
    assert all(0.1 <= t["penalty_weight"] <= 100 for t in doc["trials"])  # gp: Table 2's non-L2 range
    assert (out / "optuna.journal").stat().st_size > 0
    assert "ndis5_bo001" in (out / "study.md").read_text()


def test_plan_prints_generator_steps_and_discriminator_updates(capsys):
    """The CIFAR-10 budget as the paper counts it (200k D updates) and as repro does (generator steps)."""
    common = ["study", "--variants", "resnet_ns_sn_none", "--settings", "lr2e-4_lam1_b0.5-0.999_*", "--seeds", "0-4",
              "--dataset", "cifar10", "--out", "unused", "--plan", "--step-time", "0.056"]
    assert main([*common, "--d-steps", "200000"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["d_steps_per_run"] == 200000 and p["steps_per_run"] == 0
    assert p["by_ndis"]["1"]["generator_steps_per_run"] == 200000 and p["by_ndis"]["1"]["d_updates_per_run"] == 200000
    assert p["by_ndis"]["5"]["generator_steps_per_run"] == 40000 and p["by_ndis"]["5"]["d_updates_per_run"] == 200000
    assert p["generator_steps"] == 5 * (200000 + 40000) and p["d_updates"] == 10 * 200000
    # 5 runs x 200k x 0.056 s + 5 x 40k x 0.056 x 3 s
    assert p["device_hours"] == pytest.approx(5 * (200000 * 0.056 + 40000 * 0.168) / 3600)
    assert "discriminator updates" in p["counts"] and "generator steps" in p["counts"]
    assert main([*common, "--steps", "100"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["by_ndis"]["5"]["generator_steps_per_run"] == 100 and p["by_ndis"]["5"]["d_updates_per_run"] == 500
    assert not __import__("pathlib").Path("unused").exists()


@pytest.mark.parametrize("argv,message", [
    (["--variants", "resnet_nope_*"], "no variant matches 'resnet_nope_*'"),
    (["--variants", "sndcgan", "--settings", "lr3_*"], "no Table 1 setting matches 'lr3_*'"),
    (["--variants", "sndcgan", "--trials", "3"], "--trials and --rounds belong to --space table2"),
    (["--variants", "sndcgan", "--space", "table2", "--trials", "2"], "table2 needs --trials N >= 1 and 1 <= "),
    (["--variants", "sndcgan", "--seeds", "0,x"], "invalid --seeds item 'x'"),
    (["--variants", "sndcgan", "--set", "seed=3"], "use --seeds"),
    (["--variants", "sndcgan", "--steps", "5", "--d-steps", "5"], "give the run length once"),
    (["--variants", "sndcgan", "--space", "table2", "--trials", "2", "--rounds", "1", "--ndis", "1,x"],
     "invalid --ndis item 'x'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "s"
    assert main(["study", *argv, "--out", str(out), "--no-mlflow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("repro: error: ") and message in err[0]
    assert not out.exists()


def test_parse_seeds():
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("3,7, 9-10") == (3, 7, 9, 10)


@pytest.mark.slow
def test_study_logs_one_mlflow_parent_run(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    argv = ["study", "--variants", "sndcgan_ns_sn_none", "--settings", "lr2e-4_lam1_b0.5-0.999_ndis1", "--seeds",
            "0", "--out", str(tmp_path / "s"), *[a for a in TINY if a != "--no-mlflow"]]
    assert main(argv) == 0
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["repro-study"])
    parents = runs[runs["tags.repro.kind"] == "study"]
    assert len(parents) == 1 and (runs["tags.repro.kind"] == "study-trial").sum() == 1
