"""pipelines/study/dvc.yaml with params.yaml's `study:` section: what DVC expands its stages to, and
the pipeline end to end at a smoke scale (slow tier), as the lead re-runs the committed study."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from dvc_helpers import BIN, ROOT, dvc_env, run

from repro.cli import build_parser
from repro.cli.study import spec_from_args
from repro.study import claims, needs, runner

# the smallest study the pipeline can run: two variants (the sides of sn-beats-none-resnet19 with
# ResNet CIFAR standing in), one Table 1 setting, 3 seeds (the fewest a verdict takes), 2 steps
SMOKE = """study:
  variants: resnet_default,resnet_ns_none_none
  settings: lr2e-4_lam1_b0.5-0.999_ndis1
  seeds: 0-2
  steps: 2
  dataset: digits
  batch_size: 8
  checkpoint_every: 2
  threads: 1
  jobs: 1
"""

# every claim testable (ResNet CIFAR standing in for ResNet19): `repro claims --list-variants
# --stand-in resnet19=resnet`, all 24 Table 1 settings (a top-5% spread needs 21), 5 seeds; the
# steps are the recipe's (docs/study.md, "Re-running it for every claim")
FULL = """study:
  variants: resnet_default,resnet_skip,resnet_cin,resnet_opt,resnet_sum,resnet_tan,resnet_eps,resnet_all,resnet_ns_none_none,resnet_ns_none_gp,resnet_ns_bn_none,resnet_ns_ln_gp,resnet_ns_sn_gp,resnet_wgan_none_none,resnet_wgan_sn_none,resnet_ls_none_none,resnet_ls_sn_none,sndcgan_ns_none_none,sndcgan_ns_none_gp,sndcgan_ns_sn_none
  settings: '*'
  seeds: 0-4
  steps: 300
  dataset: digits
  batch_size: 32
  checkpoint_every: 100
  threads: 1
  jobs: 2
"""


def _project(tmp_path: Path, params: str) -> Path:
    """A throw-away DVC project holding the study pipeline, the claims file and the package."""
    repo = tmp_path / "repo"
    (repo / "pipelines" / "study").mkdir(parents=True)
    shutil.copy(ROOT / "pipelines" / "study" / "dvc.yaml", repo / "pipelines" / "study" / "dvc.yaml")
    shutil.copytree(ROOT / "claims", repo / "claims")
    shutil.copytree(ROOT / "repro", repo / "repro", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "params.yaml").write_text(params)
    run([str(BIN / "dvc"), "init", "--no-scm", "-q"], repo, dvc_env(tmp_path))
    return repo


def _stages(repo: Path) -> dict:
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return {s.addressing.split(":", 1)[1]: s for s in dvc.index.stages}


@pytest.mark.parametrize("params", ["committed", "smoke", "full"])
def test_the_stages_expand_to_a_valid_study_and_claims_command(tmp_path, params, monkeypatch):
    text = {"committed": (ROOT / "params.yaml").read_text(), "smoke": SMOKE, "full": FULL}[params]
    stages = _stages(_project(tmp_path, text))
    assert set(stages) == {"study", "claims"}
    argv = shlex.split(stages["study"].cmd)
    assert argv[:2] == ["repro", "study"]
    monkeypatch.chdir(ROOT)
    spec = spec_from_args(build_parser().parse_args(argv[1:]))  # what `repro study` would train: checked
    assert spec.space == "table1" and len(spec.seeds) >= 3
    c = build_parser().parse_args(shlex.split(stages["claims"].cmd)[1:])
    assert c.skip_untestable and claims.parse_stand_ins(c.stand_ins) == {"resnet19": "resnet"}
    assert c.study == "audits/study" and c.claims == "claims/kurach2019.yaml"
    assert {str(d.def_path) for d in stages["claims"].deps} >= {"claims/kurach2019.yaml", "repro/study/seedstats.py"}
    if params == "full":  # the params given for a re-run make every claim testable
        paper = claims.load(ROOT / "claims" / "kurach2019.yaml")
        assert set(needs.variants_needed(paper, {"resnet19": "resnet"})) <= set(spec.variants)
        assert len(runner.table1_trials(spec)) == 24 * len(spec.variants) and len(spec.seeds) == 5


@pytest.mark.slow
def test_the_study_pipeline_runs_end_to_end_at_smoke_scale(tmp_path):
    repo = _project(tmp_path, SMOKE)
    run([str(BIN / "dvc"), "repro", "pipelines/study/dvc.yaml"], repo, dvc_env(tmp_path), timeout=1800)
    results = json.loads((repo / "audits" / "study" / "results.json").read_text())
    assert len(results["runs"]) == 6 and all(r["status"] == "completed" and r["fid"] > 0 for r in results["runs"])
    verdicts = {v["id"]: v for v in json.loads((repo / "audits" / "study" / "claims.json").read_text())["verdicts"]}
    assert len(verdicts) == len(claims.load(ROOT / "claims" / "kurach2019.yaml"))
    tested = verdicts["sn-beats-none-resnet19"]
    assert tested["outcome"] in ("holds", "contradicted", "inconclusive") and tested["statistic"] == "top5"
    assert tested["caveats"] == ["tested on architecture resnet, a stand-in for the paper's resnet19"]
    assert tested["comparison"]["n_seeds_variant"] == 3
    assert verdicts["bn-in-d-hurts"]["outcome"] == "not tested"  # BN was not trained: listed with the reason
    assert "needs treatment=bn" in verdicts["bn-in-d-hurts"]["reason"]
    assert (repo / "audits" / "study" / "study.md").exists() and (repo / "audits" / "study" / "claims.md").exists()
    again = run([str(BIN / "dvc"), "repro", "pipelines/study/dvc.yaml"], repo, dvc_env(tmp_path))
    assert "Data and pipelines are up to date" in again.stdout, again.stdout
