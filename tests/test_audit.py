"""End-to-end audit at tiny scale on the CPU, and divergence localisation by bit injection."""

from __future__ import annotations

import json
import os

import pytest
import torch
from tiny import TINY

from repro.audit import report as report_mod
from repro.audit import schema
from repro.audit.plan import plan
from repro.audit.run import run_audit as _run_audit
from repro.audit.spec import AuditSpec

COST_PAIRS = 3  # interleaved cost measurement: enough for an interval, short for the fast tier


def run_audit(variant, *, callbacks=None, **kw):
    """The audit of ``AuditSpec.build(variant, **kw)``, as the dict its serialiser writes. Runs train
    in this process unless a test asks otherwise: the step callbacks are closures, and a fresh
    interpreter per run would cost the fast tier seconds a run (test_isolation.py and
    test_audit_isolated_by_default check process isolation)."""
    kw.setdefault("isolation", "in-process")
    return schema.to_dict(_run_audit(AuditSpec.build(variant, **kw), callbacks=callbacks))


def _flip_bit(net: str, tensor: str, step: int):
    def hook(trainer):
        if trainer.step == step:
            module = trainer.G if net == "generator" else trainer.D
            with torch.no_grad():
                module.state_dict()[tensor].view(-1).view(torch.int32)[0] ^= 1  # lowest mantissa bit
    return hook


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
        report = run_audit("resnet_all", baseline_variant="resnet_default", extra_seeds=(1,), perturb=("threads",),
                           overrides=dict(TINY), out_dir=out, num_samples=64, eval_seeds=2, progress=False,
                           cost_pairs=COST_PAIRS, isolation="process")
    return out, report


def test_audit_isolated_by_default():
    """Every run in a fresh interpreter unless asked otherwise: the spec, the builder and the CLI."""
    from repro.audit.spec import ExecutorSpec
    from repro.cli import build_parser

    assert ExecutorSpec().isolation == "process"
    assert AuditSpec.build("resnet_all", overrides=dict(TINY)).executor.isolation == "process"
    args = build_parser().parse_args(["audit", "--variant", "resnet_all"])
    assert args.isolation == "process" and not args.no_localize and args.hunt == 0


def test_audit_options_of_the_executor_and_the_hunt_are_checked(capsys):
    from repro.cli import main

    for argv, message in ((["--gpus-per-task", "0.5"], "--gpus-per-task needs --executor ray"),
                          (["--hunt", "-1"], "invalid hunt=-1"), (["--hunt", "2", "--hunt-threads", "1", "1"],
                                                                   "invalid hunt_threads=[1, 1]")):
        assert main(["audit", "--variant", "resnet_all", "--no-mlflow", *argv]) == 2
        assert message in capsys.readouterr().err


def test_replicates_train_in_their_own_processes_and_a_pair_that_differs_is_localised(audit):
    """Issue 20: each run of a pair has its own PID; a pair that is not identical (here the thread
    perturbation, 1 vs 2 intra-op threads, when this CPU gives other bits for it) is replayed and
    its op named in report.json, report.md and the run's MLflow tags."""
    from mlflow.tracking import MlflowClient

    out, report = audit
    runs = {r["id"]: r for r in report["runs"]}
    assert all(r["worker_pid"] for r in runs.values())
    for p in report["pairs"]:
        assert runs[p["a"]]["worker_pid"] != runs[p["b"]]["worker_pid"], p
        assert (p["localization"] is None) == p["identical"], p
    md = (out / "report.md").read_text()
    assert "## Where the runs part ways" in md and "runs isolated: process" in md
    threads = [p for p in report["pairs"] if p["kind"] == "threads" and not p["identical"]]
    if not threads:
        assert "there is nothing to localise" in md
        pytest.skip("1 and 2 intra-op threads give the same bits for the tiny config on this CPU")
    loc = threads[0]["localization"]
    assert loc["status"] == "localised" and loc["culprit"], loc["summary"]
    op = loc["culprit"]["a"]["op"]
    assert f"**threads: {threads[0]['a']} vs {threads[0]['b']}**: localised" in md and op in md
    assert (out / "localize").is_dir()
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("repro-audit")
    tagged = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("localized.op") == op]
    assert tagged and tagged[0].data.tags["localized.status"] == "localised"


def test_report_structure_and_files(audit):
    out, report = audit
    on_disk = schema.to_dict(report_mod.load(out / "report.json"))
    assert on_disk["schema"] == schema.REPORT_SCHEMA
    assert {r["id"] for r in on_disk["runs"]} == {s.id for s in plan("resnet_all", "resnet_default",
                                                                       extra_seeds=(1,), perturb=("threads",))}
    assert all(r["status"] == "completed" and r["fid"] is not None for r in on_disk["runs"])
    # compare_gan's minimum over checkpoints, beside the final checkpoint's FID
    assert all(r["fid_min"] <= r["fid"] and r["fid_min_step"] in (2, 4) for r in on_disk["runs"])
    # every checkpoint's score, as records (the last is the final FID)
    assert all([c["step"] for c in r["checkpoints"]] == [2, 4] and r["checkpoints"][-1]["fid"] == r["fid"]
               for r in on_disk["runs"])
    kinds = sorted((p["variant"], p["kind"]) for p in on_disk["pairs"])
    assert kinds == sorted((v, k) for v in ("resnet_all", "resnet_default")
                           for k in ("deterministic", "nondeterministic", "threads"))
    for v in ("resnet_all", "resnet_default"):
        d = on_disk["variance"][v]
        assert d["n_runs"] == 5 and d["fid_mean"] > 0
        assert d["seed_std"] is not None and d["eval_std"] is not None
        # on a CPU the four seed-0 runs (2 deterministic, 2 nondeterministic) are one model: one observation
        assert d["n_seeds"] == 2 and d["n_distinct_runs"] == 2
        assert [sorted(g) for g in d["identical_groups"]] == [sorted(
            f"{v}/{m}-s0-r{r}" for m in ("deterministic", "nondeterministic") for r in (0, 1))]
        c = on_disk["cost"][v]
        assert c["ratio"] > 0 and c["det_median_step_s"] > 0
        inter = c["interleaved"]  # what the gate checks (issue 14 item 12)
        assert inter["pairs"] == COST_PAIRS and inter["ci_low"] <= inter["ratio"] <= inter["ci_high"]
    c = on_disk["comparison"]
    assert {"variant", "baseline_variant", "diff", "ci_low", "ci_high", "p_value", "ci90_low", "ci90_high",
            "n_seeds_variant", "n_seeds_baseline", "seeds_needed_min_effect", "seeds_needed_low",
            "seeds_needed_high", "rank", "collapse_variant", "collapse_baseline", "basis", "min_effect", "verdict",
            "method"} <= set(c)
    # each seed's IS and collapse flag, and what defines each run's measurement (issue 22)
    assert all(len(on_disk["variance"][v]["seed_collapsed"]) == 2 for v in ("resnet_all", "resnet_default"))
    assert all(r["protocol"] and r["extractor_sha256"] and r["recipe"] for r in on_disk["runs"])
    # two seeds a side: never a verdict other than inconclusive, whatever the interval says
    assert c["n_seeds_variant"] == c["n_seeds_baseline"] == 2 and c["verdict"] == "inconclusive"
    rows = on_disk["archdiff"]["resnet_all vs resnet_default"]["rows"]
    assert len(rows) == 6
    for name in ("report.md", "metrics/resnet_all.json", "metrics/comparison.json", "plots/resnet_all/divergence.csv", "plots/resnet_default/g_loss.csv",
                 "plots/resnet_all/fid.csv", "figures/divergence.png",
                 "figures/losses.png", "figures/samples_resnet_all.png", "figures/fid_curves.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "## FID noise: a nested decomposition" in md and "## Cost of determinism" in md
    assert "4 runs, identical" in md and md.index("## Summary") < md.index("## Verdict")
    metrics = json.loads((out / "metrics" / "resnet_all.json").read_text())
    assert metrics["det_identical"] == 1 and metrics["n_seeds"] == 2


def test_deterministic_pairs_bitwise_identical(audit):
    _, report = audit
    det = [p for p in report["pairs"] if p["kind"] == "deterministic"]
    assert det and all(p["identical"] and p["first_divergent_step"] is None for p in det)
    assert all(v == 0.0 for p in det for _, v in p["rel_l2"])


def test_mlflow_parent_and_nested_runs(audit):
    from mlflow.tracking import MlflowClient

    out, report = audit
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("repro-audit")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.info.run_id == report["mlflow_run_id"]]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == report["mlflow_run_id"]]
    assert len(parent) == 1 and len(children) == len(report["runs"])
    child = children[0]
    assert {"mode", "seed", "replicate", "variant"} <= set(child.data.tags)
    assert "lr" in child.data.params and "fid" in child.data.metrics
    history = client.get_metric_history(child.info.run_id, "d_loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]


def test_rerun_trains_nothing(audit, monkeypatch):
    out, report = audit
    import repro.train.loop as loop

    def no_training(*a, **k):
        raise AssertionError("a completed run was trained again")

    monkeypatch.setattr(loop.Trainer, "train_step", no_training)
    again = run_audit("resnet_all", baseline_variant="resnet_default", extra_seeds=(1,), perturb=("threads",),
                      overrides=dict(TINY), out_dir=out, num_samples=64, eval_seeds=2, progress=False,
                      use_mlflow=False, cost_pairs=COST_PAIRS)
    assert [r["final_param_hash"] for r in again["runs"]] == [r["final_param_hash"] for r in report["runs"]]
    assert [r["fid"] for r in again["runs"]] == [r["fid"] for r in report["runs"]]


def test_injected_bit_flip_is_localised(tmp_path):
    from repro.gan.architectures import build
    from repro.gan.presets import config_for

    generator, _ = build(config_for("resnet_default", **TINY))
    name = [n for n in generator.state_dict() if n.endswith("weight")][-1]  # the output conv
    hooks = {"resnet_default/deterministic-s0-r1": _flip_bit("generator", name, 2)}
    report = run_audit("resnet_default", baseline_variant="resnet_default", overrides=dict(TINY), out_dir=tmp_path,
                       num_samples=64, eval_seeds=1, progress=False, use_mlflow=False, callbacks=hooks,
                       cost_pairs=COST_PAIRS)
    det = next(p for p in report["pairs"] if p["kind"] == "deterministic")
    assert not det["identical"]
    # the flip came from outside any op (a hook on the weights): the replays do not repeat it, and
    # the audit says so instead of blaming an op
    assert det["localization"]["status"] == "not localised", det["localization"]["summary"]
    assert "did not diverge" in det["localization"]["reason"]
    assert det["first_divergent_step"] == 2
    assert det["checkpoint_step"] == 2
    assert det["first_divergent_tensors"] == [f"generator.{name}"]
    assert det["rel_l2"][0][1] > 0
    nondet = next(p for p in report["pairs"] if p["kind"] == "nondeterministic")
    assert nondet["identical"]  # on a CPU the nondeterministic mode alone changes nothing


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        run_audit("nope", out_dir=tmp_path, use_mlflow=False)
    with pytest.raises(ValueError, match="below the checkpoint interval"):
        run_audit("resnet_all", overrides={**TINY, "steps": 1}, out_dir=tmp_path, use_mlflow=False)
    with pytest.raises(ValueError, match="at least 2"):
        run_audit("resnet_all", replicates=1, out_dir=tmp_path, use_mlflow=False)


def test_diverged_runs_are_reported_not_crashed(tmp_path):
    report = run_audit("resnet_default", baseline_variant="resnet_default", overrides={**TINY, "lr": 1e30},
                       out_dir=tmp_path, num_samples=64, eval_seeds=1, progress=False, use_mlflow=False,
                       cost_pairs=COST_PAIRS)
    assert report["runs"] and all(r["status"] == "diverged" for r in report["runs"])
    assert all(1 <= r["diverged_step"] <= TINY["steps"] and r["fid"] is None for r in report["runs"])
    assert report["variance"]["resnet_default"]["fid_mean"] is None
    md = (tmp_path / "report.md").read_text()
    assert f"diverged at {report['runs'][0]['diverged_step']}" in md


# --------------------------------------------------------------------------- issue 14: reuse, locks, MLflow


def _small_audit(out, **kw):
    """One variant, two runs per mode: the smallest audit that evaluates and compares runs."""
    options = dict(baseline_variant="resnet_default", overrides=dict(TINY), out_dir=out, num_samples=64,
                   eval_seeds=1, progress=False, use_mlflow=False, cost_pairs=2)
    return run_audit("resnet_default", **{**options, **kw})


@pytest.fixture(scope="module")
def small_audit_once(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "a"
    return out, _small_audit(out)


@pytest.fixture
def small_audit(small_audit_once, tmp_path):
    """A private copy of the small audit (runs, metrics, cost) that a test may change."""
    import shutil

    out, report = small_audit_once
    shutil.copytree(out, tmp_path / "a")
    return tmp_path / "a", report


def _no_training(monkeypatch):
    import repro.train.loop as loop

    def refuse(*a, **k):
        raise AssertionError("a run with the same config was trained again")

    monkeypatch.setattr(loop.Trainer, "train_step", refuse)


def test_other_evaluation_settings_re_evaluate(small_audit, tmp_path, monkeypatch, capsys):
    """Item 7: metrics made with other settings (eval seeds, samples, extractor weights) are not
    reused under the new settings, and the same settings reuse them."""
    import torch

    from repro.metrics.extractors.base import sha256_file
    from repro.metrics.extractors.digits_cnn import default_path

    out, first = small_audit
    _no_training(monkeypatch)
    metrics_file = out / "runs" / "resnet_default" / "deterministic-s0-r0" / "metrics.json"
    assert all(r["fid_eval_std"] is None for r in first["runs"])  # one evaluation seed: no spread
    capsys.readouterr()
    again = _small_audit(out, eval_seeds=2, num_samples=32)
    err = capsys.readouterr().err
    assert err.count("re-evaluating") == 4 and "eval_seeds 1, asked 2" in err and "n_fake 64, asked 32" in err
    assert all(r["fid_eval_std"] > 0 for r in again["runs"])  # the noise over two evaluation seeds
    assert [r["fid"] for r in again["runs"]] != [r["fid"] for r in first["runs"]]
    assert {k: json.loads(metrics_file.read_text())[k] for k in ("eval_seeds", "n_fake")} == {"eval_seeds": 2,
                                                                                              "n_fake": 32}
    _small_audit(out, eval_seeds=2, num_samples=32)  # the same settings again: nothing re-evaluated
    assert "evaluating" not in capsys.readouterr().err

    other = tmp_path / "digits-cnn-copy.pt"  # the same network in another file: other weights sha256
    torch.save({**torch.load(default_path(), weights_only=True), "note": "another file"}, other)
    _small_audit(out, eval_seeds=2, num_samples=32, extractor_weights=str(other))
    assert capsys.readouterr().err.count("extractor weights sha256") == 4
    assert json.loads(metrics_file.read_text())["extractor_sha256"] == sha256_file(other)


def test_force_retrains_only_runs_whose_config_differs(small_audit, monkeypatch, capsys):
    """Item 8: --force keeps runs with the same config and says so; it retrains the others."""
    out, first = small_audit
    with monkeypatch.context() as m:
        _no_training(m)
        capsys.readouterr()
        again = _small_audit(out, force=True)
    err = capsys.readouterr().err
    assert err.count("reusing (completed)") == 4 and "retraining" not in err
    assert [r["final_param_hash"] for r in again["runs"]] == [r["final_param_hash"] for r in first["runs"]]

    with pytest.raises(ValueError, match=r"trained with another config \(lr 0.0002 -> 0.0001\); pass --force"):
        _small_audit(out, overrides={**TINY, "lr": 1e-4})
    changed = _small_audit(out, overrides={**TINY, "lr": 1e-4}, force=True)
    err = capsys.readouterr().err
    assert err.count("retraining: its config differs (lr 0.0002 -> 0.0001)") == 4
    assert changed["runs"][0]["final_param_hash"] != first["runs"][0]["final_param_hash"]


def test_second_audit_into_the_same_directory_is_refused(small_audit_once):
    from repro import lock

    out, _ = small_audit_once
    assert not lock.is_locked(out) and not (out / lock.LOCK_NAME).exists()  # released when the audit ended
    with lock.hold(out, "audit directory"):
        with pytest.raises(lock.DirectoryInUse, match=f"audit directory {out} is in use by PID {os.getpid()}"):
            _small_audit(out)


def test_unusable_mlflow_store_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    with pytest.raises(ValueError, match=r"MLflow store sqlite:///.*not-a-folder/mlflow.db is unusable.*--no-mlflow"):
        _small_audit(tmp_path / "a", use_mlflow=True)
    assert not (tmp_path / "a").exists()  # nothing trained, nothing written


def test_audit_hunt_lands_in_the_report(tmp_path):
    """`repro audit --hunt N`: each variant trained in N fresh processes per thread count, with the
    audit's overrides and seed; the record in report.json and its lines in report.md."""
    from repro.cli import main

    out = tmp_path / "a"
    argv = ["audit", "--variant", "resnet_default", "--baseline-variant", "resnet_default", "--steps", "2",
            "--set", "checkpoint_every=2", "--set", "width=0.0625", "--set", "batch_size=8", "--set", "n_dis=1",
            "--no-mlflow", "--quiet", "--eval-seeds", "1", "--num-samples", "32", "--hunt", "2", "--hunt-steps", "2",
            "--hunt-threads", "1", "--out", str(out)]
    assert main(argv) == 0
    report = report_mod.load(out / "report.json")
    hunt = report.hunt["resnet_default"]
    assert (hunt.processes, hunt.steps, [r.threads for r in hunt.results]) == (2, 2, [1])
    assert "n_dis=1" in hunt.sets and "seed=0" in hunt.sets and hunt.results[0].distinct == 1
    assert "Hunt of `resnet_default` (2 fresh processes" in (out / "report.md").read_text()
