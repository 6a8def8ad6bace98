"""End-to-end audit at tiny scale on the CPU, and divergence localisation by bit injection."""

from __future__ import annotations

import json

import pytest
import torch

from repro.audit import report as report_mod
from repro.audit.plan import plan
from repro.audit.run import run_audit

# n_dis 1: the resnet presets carry compare_gan's recipe (n_dis 5); these tests exercise the audit, not the recipe
TINY = {"width": 0.0625, "batch_size": 8, "steps": 4, "checkpoint_every": 2, "trace_every": 1, "device": "cpu",
        "n_dis": 1}


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
    import os

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out / 'mlflow.db'}"
    report = run_audit("resnet_all", baseline_variant="resnet_default", extra_seeds=(1,), perturb=("threads",),
                       overrides=dict(TINY), out_dir=out, num_samples=64, eval_seeds=2, progress=False)
    return out, report


def test_report_structure_and_files(audit):
    out, report = audit
    on_disk = report_mod.load(out / "report.json")
    assert on_disk["schema"] == "repro.audit/1"
    assert {r["id"] for r in on_disk["runs"]} == {s.id for s in plan("resnet_all", "resnet_default",
                                                                       extra_seeds=(1,), perturb=("threads",))}
    assert all(r["status"] == "completed" and r["fid"] is not None for r in on_disk["runs"])
    # compare_gan's minimum over checkpoints, beside the final checkpoint's FID
    assert all(r["fid_min"] <= r["fid"] and r["fid_min_step"] in (2, 4) for r in on_disk["runs"])
    kinds = sorted((p["variant"], p["kind"]) for p in on_disk["pairs"])
    assert kinds == sorted((v, k) for v in ("resnet_all", "resnet_default")
                           for k in ("deterministic", "nondeterministic", "threads"))
    for v in ("resnet_all", "resnet_default"):
        d = on_disk["variance"][v]
        assert d["n_runs"] == 5 and d["fid_mean"] > 0
        assert d["seed_std"] is not None and d["eval_std"] is not None
        c = on_disk["cost"][v]
        assert c["ratio"] > 0 and c["det_median_step_s"] > 0
    assert "verdict" in on_disk["comparison"]
    rows = on_disk["archdiff"]["resnet_all vs resnet_default"]["rows"]
    assert len(rows) == 6
    for name in ("report.md", "metrics.json", "plots/divergence.csv", "plots/losses.csv", "figures/divergence.png",
                 "figures/losses.png", "figures/samples_resnet_all.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert "## FID variance decomposition" in md and "## Cost of determinism" in md
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resnet_all"]["det_pairs_identical"] == 1


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
                      use_mlflow=False)
    assert [r["final_param_hash"] for r in again["runs"]] == [r["final_param_hash"] for r in report["runs"]]
    assert [r["fid"] for r in again["runs"]] == [r["fid"] for r in report["runs"]]


def test_injected_bit_flip_is_localised(tmp_path):
    from repro.gan.architectures import build
    from repro.gan.presets import config_for

    generator, _ = build(config_for("resnet_default", **TINY))
    name = [n for n in generator.state_dict() if n.endswith("weight")][-1]  # the output conv
    hooks = {"resnet_default/deterministic-s0-r1": _flip_bit("generator", name, 2)}
    report = run_audit("resnet_default", baseline_variant="resnet_default", overrides=dict(TINY), out_dir=tmp_path,
                       num_samples=64, eval_seeds=1, progress=False, use_mlflow=False, callbacks=hooks)
    det = next(p for p in report["pairs"] if p["kind"] == "deterministic")
    assert not det["identical"]
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
                       out_dir=tmp_path, num_samples=64, eval_seeds=1, progress=False, use_mlflow=False)
    assert report["runs"] and all(r["status"] == "diverged" for r in report["runs"])
    assert all(1 <= r["diverged_step"] <= TINY["steps"] and r["fid"] is None for r in report["runs"])
    assert report["variance"]["resnet_default"]["fid_mean"] is None
    md = (tmp_path / "report.md").read_text()
    assert f"diverged at {report['runs'][0]['diverged_step']}" in md
