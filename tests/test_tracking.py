"""MLflow logging: one parent per audit however often it is logged, searchable tags, FID series."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest
from report_fixtures import synthetic_report
from train_helpers import SUBPROCESS_CFG

from repro import fingerprint, gitstate
from repro.audit import tracking
from repro.audit.plan import AuditPlan, plan
from repro.gan.presets import config_for
from repro.train import train

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def audit_files(tmp_path_factory):
    """A report shaped like a real audit's, over run directories of one tiny trained run (copied)."""
    tmp = tmp_path_factory.mktemp("audit")
    cfg = config_for("resnet_default", **{**SUBPROCESS_CFG, "steps": 2, "checkpoint_every": 1})
    first = train(cfg, tmp / "trained", progress=False)
    specs = plan("resnet_all", "resnet_default", replicates=2, seed=0, extra_seeds=(1,))
    run_dirs = {}
    for s in specs:
        run_dirs[s.id] = s.run_dir(tmp / "runs")
        shutil.copytree(tmp / "trained", run_dirs[s.id])
    report = synthetic_report(AuditPlan("resnet_all", "resnet_default", 2, 0, (1,)), steps=(1, 2),
                              fid=lambda spec: 80.0 + specs.index(spec), identical=lambda pair: pair.kind != "nondeterministic",
                              runs_dir=str(tmp / "runs"), overrides={"steps": 2, "batch_size": 8, "flags": ["a", "b"]})
    report = dataclasses.replace(report, runs=[dataclasses.replace(r, final_param_hash=first["final_param_hash"])
                                               for r in report.runs])
    metrics = {s.id: {"fid": 80.0 + i} for i, s in enumerate(specs)}  # logged as each run's metrics.json
    out = tmp / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    return report, out, run_dirs, metrics


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def _active(client):
    exp = client.get_experiment_by_name(tracking.EXPERIMENT)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("repro.kind") == "audit"]
    return parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def test_two_consecutive_logs_leave_one_parent(audit_files, store):
    report, out, run_dirs, metrics = audit_files
    first = tracking.log_audit(report, out, run_dirs, metrics)
    second = tracking.log_audit(report, out, run_dirs, metrics)
    parents, children = _active(store)
    assert [p.info.run_id for p in parents] == [second] and first != second
    assert len(children) == len(report.runs)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {second}
    assert parents[0].data.tags[tracking.AUDIT_ID_TAG] == tracking.audit_id(report)


def test_another_audit_keeps_its_own_parent(audit_files, store):
    report, out, run_dirs, metrics = audit_files
    report = dataclasses.replace(report, runs=report.runs[:2])  # two runs are enough here
    tracking.log_audit(report, out, run_dirs, metrics)
    other = dataclasses.replace(report, settings=dataclasses.replace(report.settings, steps=3))
    tracking.log_audit(other, out, run_dirs, metrics)
    parents, children = _active(store)
    assert len(parents) == 2 and len(children) == 4


def test_what_a_user_searches_by(audit_files, store):
    report, out, run_dirs, metrics = audit_files
    parent_id = tracking.log_audit(report, out, run_dirs, metrics)
    parent = store.get_run(parent_id)
    assert parent.data.params["override.steps"] == "2" and parent.data.params["override.flags"] == "a,b"
    assert "overrides" not in parent.data.params  # no dict printed as a string
    assert parent.data.tags["verdict"] == "inconclusive"
    exp = store.get_experiment_by_name(tracking.EXPERIMENT)
    found = store.search_runs([exp.experiment_id],
                              filter_string="tags.identical_to = 'resnet_all/deterministic-s0-r0'")
    assert [r.info.run_name for r in found] == ["resnet_all/deterministic-s0-r1"]
    child = found[0]
    assert child.data.tags["final_param_hash"] == report.runs[0].final_param_hash
    assert child.data.tags["fingerprint.torch"] and "fingerprint.commit" in child.data.tags  # the run's own
    assert child.data.params["batch_size"] == "8"  # the run's config, one param per field
    history = store.get_metric_history(child.info.run_id, "fid")
    assert sorted((m.step, m.value) for m in history) == [(1, 81.1), (2, 81.0)]  # synthetic_report's checkpoints
    assert child.data.metrics["fid"] == 81.0  # the latest step: the final checkpoint
    artifacts = [a.path for a in store.list_artifacts(child.info.run_id, "samples")]
    assert artifacts == ["samples/samples_step2.png"]
    lonely = store.search_runs([exp.experiment_id], filter_string="tags.identical_to = 'none'")
    assert {r.info.run_name for r in lonely} >= {"resnet_all/deterministic-s1-r0"}


def test_audit_id_is_what_was_asked():
    base = synthetic_report(AuditPlan("resnet_all", "resnet_default"), runs_dir="/one")
    moved = dataclasses.replace(base, settings=dataclasses.replace(base.settings, runs_dir="/two"))
    longer = dataclasses.replace(base, settings=dataclasses.replace(base.settings, steps=3))
    fewer = dataclasses.replace(base, runs=base.runs[:1])
    assert tracking.audit_id(base) == tracking.audit_id(moved)
    assert len({tracking.audit_id(r) for r in (base, longer, fewer)}) == 3


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_is_dirty_only_for_changes_beyond_what_the_pipeline_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("repro/a.py", "pipelines/dvc.lock", "pipelines/dvc.yaml", "params.yaml", "audits/r/report.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")

    # what counts as code is the user's choice: this project's pipeline also writes params and audits
    monkeypatch.setenv("REPRO_NOT_CODE", "params.yaml:audits/*")

    def commit():
        return fingerprint.summary({"git": gitstate.git_info()})["commit"]

    (tmp_path / "pipelines/dvc.lock").write_text("2\n")  # a lock file is never code
    assert gitstate.git_info(not_code=())["dirty_code"] is False
    for name in ("params.yaml", "audits/r/report.json"):
        (tmp_path / name).write_text("2\n")
    (tmp_path / "audits" / "new.json").write_text("{}")
    monkeypatch.delenv("REPRO_NOT_CODE")
    assert gitstate.git_info()["dirty_code"] is True  # in another project, audits/ may be code
    assert gitstate.git_info(not_code=("params.yaml", "audits/*"))["dirty_code"] is False
    monkeypatch.setenv("REPRO_NOT_CODE", "params.yaml:audits/*")
    info = gitstate.git_info()
    assert info["dirty"] is True and info["dirty_code"] is False and not commit().endswith("-dirty")
    (tmp_path / "pipelines" / "dvc.yaml").write_text("2\n")  # a pipeline edit is a source edit
    assert commit().endswith("-dirty")
    _git(tmp_path, "checkout", "pipelines/dvc.yaml")
    (tmp_path / "repro" / "b.py").write_text("new = 1\n")  # an untracked module changes what runs
    assert commit().endswith("-dirty")
    (tmp_path / "repro" / "b.py").unlink()
    _git(tmp_path, "mv", "repro/a.py", "repro/c.py")  # a rename
    assert commit().endswith("-dirty")


def test_old_fingerprints_without_dirty_code_keep_their_label():
    assert fingerprint.summary({"git": {"commit": "f" * 40, "dirty": True}})["commit"] == "f" * 12 + "-dirty"
    assert fingerprint.summary({"git": {"commit": "f" * 40, "dirty": False}})["commit"] == "f" * 12


def test_changed_paths_reads_renames():
    assert gitstate.changed_paths("R  new.py\0old.py\0?? audits/x/\0 M dvc.lock\0") == \
        ["new.py", "old.py", "audits/x/", "dvc.lock"]
