"""`repro params check`: a bad params.yaml fails in seconds with every problem named."""

from __future__ import annotations

import re

import pytest
import yaml
from dvc_helpers import ROOT

from repro.cli import main
from repro.cli import params as params_cli


def _params(**audit_changes):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["audit"].update(audit_changes)
    return data


def test_committed_params_pass():
    assert params_cli.problems(params_cli.load(ROOT / "params.yaml")) == []


@pytest.mark.parametrize("changes, phrase", [
    ({"steps": 40}, "audit.steps=40 is below audit.checkpoint_every=50"),
    ({"checkpoint_every": 0}, "audit.checkpoint_every=0 must be an integer >= 1"),
    ({"batch_size": "32"}, "audit.batch_size='32' must be an integer >= 1"),
    ({"eval_seeds": True}, "audit.eval_seeds=True must be an integer >= 1"),
    ({"seed": -1}, "audit.seed=-1 must be an integer >= 0"),
    ({"extra_seeds": [1, 0]}, "must not repeat audit.seed=0"),
    ({"extra_seeds": [1, 1]}, "must be distinct"),
    ({"extra_seeds": 1}, "audit.extra_seeds=1 must be a list"),
    ({"extra_seed": 1}, "unknown key(s) audit.extra_seed (valid: variant,"),
    ({"baseline_variant": "resnet_all"}, "audit.baseline_variant='resnet_all' must differ"),
    ({"baseline_variant": "resnet_defualt"}, "variants=['resnet_all', 'resnet_default'] must be "
                                             "['resnet_all', 'resnet_defualt']"),
])
def test_each_rule_is_checked(changes, phrase):
    found = params_cli.problems(_params(**changes))
    assert any(phrase in p for p in found), found


def test_training_config_rules_are_checked_too():
    """What TrainConfig refuses (here an unknown preset) fails in the check, before any training."""
    data = _params(variant="resnet_nope", baseline_variant="resnet_default")
    data["variants"] = ["resnet_nope", "resnet_default"]
    found = params_cli.problems(data)
    assert len(found) == 1 and "resnet_nope" in found[0], found


def test_matrix_must_be_the_plan():
    data = _params()
    data["replicates"] = [0, 1, 2]
    data["modes"] = ["deterministic"]
    del data["variants"]
    found = " | ".join(params_cli.problems(data))
    assert "replicates=[0, 1, 2] must be [0, 1]" in found
    assert "modes=['deterministic'] must be ['deterministic', 'nondeterministic']" in found
    assert "missing variants" in found


def test_cli_fails_in_seconds_with_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    text, n = re.subn(r"^(  steps: )\d+", r"\g<1>40", (ROOT / "params.yaml").read_text(), count=1, flags=re.M)
    assert n == 1  # the audit section's steps, below its checkpoint_every of 50
    bad.write_text(text)
    out = tmp_path / "check.json"
    assert main(["params", "check", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("repro: error: ") and "audit.steps=40" in err[0], err
    assert not out.exists()


def test_cli_ok_writes_the_planned_runs(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["params", "check", str(ROOT / "params.yaml"), "--out", str(out)]) == 0
    assert "ok, 18 runs" in capsys.readouterr().out
    written = yaml.safe_load(out.read_text())  # JSON is YAML
    assert len(written["runs"]) == 18 and "resnet_default/deterministic-s0-threads1" in written["runs"]


def test_bad_yaml_is_one_line(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text("audit: [1, 2\n")
    assert main(["params", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not valid YAML" in err[0], err


def test_the_audit_reads_the_same_file(tmp_path):
    """`repro audit --params` builds its plan from params.yaml with the rules `repro params check` applies."""
    from repro.audit.spec import AuditSpec
    from repro.cli import build_parser
    from repro.cli.audit import spec_from_args

    audit = params_cli.checked(ROOT / "params.yaml")["audit"]
    args = build_parser().parse_args(["audit", "--params", str(ROOT / "params.yaml"), "--out", str(tmp_path)])
    spec = spec_from_args(args)
    assert spec.plan == AuditSpec.from_params(audit).plan
    assert spec.plan.seeds == [audit["seed"], *audit["extra_seeds"]] and spec.plan.perturb == ("threads",)
    assert spec.evaluation.eval_seeds == audit["eval_seeds"]
    cfg = next(iter(spec.configs().values()))
    assert (cfg.steps, cfg.batch_size, cfg.checkpoint_every) == (audit["steps"], audit["batch_size"],
                                                                 audit["checkpoint_every"])
