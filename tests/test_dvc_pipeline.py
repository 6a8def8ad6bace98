"""pipelines/dvc.yaml, expanded by DVC's own parser with params.yaml, trains exactly the audit's plan."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from dvc_helpers import BIN, ROOT, dvc_env, dvc_project, run

from repro.audit.plan import plan
from repro.cli import build_parser
from repro.cli._common import config_from_args
from repro.cli.audit import spec_from_args

TRAINING = ("train", "seed", "threads")


def _stages(repo: Path):
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return {s.addressing.split(":", 1)[1]: s for s in dvc.index.stages}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvc")
    return dvc_project(tmp), tmp


@pytest.fixture(scope="module")
def stages(project):
    return _stages(project[0])


def _audit_spec(stage):
    """The audit stage's command as `repro audit` builds its spec (from the options and params.yaml)."""
    argv = shlex.split(stage.cmd)[1:]
    assert "--params" in argv, stage.cmd
    args = build_parser().parse_args(argv)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # stages run from the repository root (wdir: ..)
        return spec_from_args(args)


def test_training_stages_are_the_plan_of_the_audit_stage(stages):
    spec = _audit_spec(stages["audit"])
    trained = {str(o.def_path) for name, s in stages.items() if name.split("@")[0] in TRAINING for o in s.outs}
    assert trained == {str(s.run_dir(spec.runs_path)) for s in spec.runs()}
    # the lead's run matrix for issue 11: 9 runs per variant, 5 seeds each
    assert spec.runs() == plan("resnet_all", "resnet_default", replicates=2, seed=0, extra_seeds=(1, 2, 3, 4),
                               perturb=("threads",))
    assert len(trained) == 18


def test_every_training_stage_builds_the_config_the_audit_expects(stages):
    """`repro audit --no-train` reuses a run only when its config equals the planned one."""
    spec = _audit_spec(stages["audit"])
    configs = {str(s.run_dir(spec.runs_path)): spec.configs()[s.id] for s in spec.runs()}
    for name, stage in stages.items():
        if name.split("@")[0] not in TRAINING:
            continue
        (out,) = stage.outs
        assert out.persist, f"{name}: a training stage's run directory must persist to be resumable"
        args = build_parser().parse_args(shlex.split(stage.cmd)[1:])
        assert args.resume_unfinished and not args.force, name
        assert args.out == str(out.def_path)
        cfg = config_from_args(args, mode=args.mode, checkpoint_every=args.checkpoint_every)
        assert cfg == configs[args.out], name


def test_params_check_is_the_first_stage_and_every_stage_follows_it(stages):
    """A bad params.yaml fails before any training: data (and so everything) depends on the check's output."""
    check = stages["params"]
    assert shlex.split(check.cmd)[:3] == ["repro", "params", "check"]
    (out,) = check.outs
    assert str(out.def_path) in {str(d.def_path) for d in stages["data"].deps}
    for name, stage in stages.items():
        if name.split("@")[0] in TRAINING:
            assert any(str(d.def_path).startswith("results/data/") for d in stage.deps), name



def test_docs_show_the_current_dag(project):
    repo, tmp = project
    chart = run([str(BIN / "dvc"), "dag", "--md"], repo, dvc_env(tmp)).stdout.strip()
    assert chart in (ROOT / "docs" / "pipeline.md").read_text(), "update docs/pipeline.md's chart: dvc dag --md"
