"""Claims checked on a synthetic study with planted effects: holds, contradicted, inconclusive."""

from __future__ import annotations

import json

import numpy as np
import pytest

from repro import io
from repro.cli import main
from repro.study import claims, seedstats
from repro.study.results import RESULTS_SCHEMA


def trial(variant: str, d_norm: str, fids, *, arch: str = "resnet", loss: str = "ns", penalty: str = "none",
          flags: str = "-", setting: str = "s1") -> dict:
    return {"trial": f"{variant}__{setting}", "variant": variant, "setting": setting, "loss": loss, "d_norm": d_norm,
            "penalty": penalty, "architecture": arch, "flags": flags, "seeds": list(range(len(fids))),
            "scores": [float(f) for f in fids], "statuses": ["completed"] * len(fids)}


def planted_study(seed: int = 0) -> list[dict]:
    """sn is 20 FID better than none (noise sd 1, 6 seeds): a planted true effect.
    bn is 20 FID *better* than none: a claim that bn hurts is planted false.
    ln differs from none by 3 with noise sd 30 and 3 seeds: too noisy to tell."""
    rng = np.random.default_rng(seed)
    return [
        trial("a", "none", 100 + rng.normal(0, 1, 6)),
        trial("b", "sn", 80 + rng.normal(0, 1, 6)),
        trial("c", "bn", 80 + rng.normal(0, 1, 6)),
        trial("d", "none", 100 + rng.normal(0, 30, 3), arch="sndcgan"),
        trial("e", "ln", 103 + rng.normal(0, 30, 3), arch="sndcgan"),
    ]


def claim(**kw) -> claims.Claim:
    base = dict(id="c", text="t", source="Section 0", factor="d_norm", a=("sn",), b=("none",), expect="lower",
                where={"architecture": "resnet"})
    return claims.Claim(**{**base, **kw})


def test_planted_true_false_and_noisy_claims():
    trials = planted_study()
    true = claims.evaluate_claim(claim(), trials)
    assert true.outcome == "holds" and true.comparison["verdict"] == "real difference"
    assert true.comparison["ci_high"] < 0 and true.seeds_a == list(range(6))
    assert "seeds_needed" not in true.comparison  # no post-hoc power at the observed difference (issue 22)
    false = claims.evaluate_claim(claim(a=("bn",), expect="higher"), trials)
    assert false.outcome == "contradicted" and false.comparison["diff"] < 0
    noisy = claims.evaluate_claim(claim(a=("ln",), where={"architecture": "sndcgan"}), trials)
    assert noisy.outcome == "inconclusive"
    assert noisy.comparison["ci_low"] < 0 < noisy.comparison["ci_high"]
    assert noisy.comparison["seeds_needed_min_effect"] > 3  # the report says how many seeds would decide it


def test_similar_holds_only_with_power():
    rng = np.random.default_rng(1)
    same = [trial("a", "none", 100 + rng.normal(0, 0.5, 8)), trial("b", "sn", 100 + rng.normal(0, 0.5, 8))]
    assert claims.evaluate_claim(claim(expect="similar"), same).outcome == "holds"
    assert claims.evaluate_claim(claim(expect="not_higher"), same).outcome == "holds"
    assert claims.evaluate_claim(claim(expect="lower"), same).outcome == "contradicted"  # powered, no effect


@pytest.mark.parametrize("expect,verdict,diff,want", [
    ("lower", "real difference", -1, "holds"), ("lower", "real difference", 1, "contradicted"),
    ("lower", "within noise", 0.1, "contradicted"), ("lower", "inconclusive", -5, "inconclusive"),
    ("higher", "real difference", 1, "holds"), ("higher", "real difference", -1, "contradicted"),
    ("higher", "within noise", 0.1, "contradicted"), ("similar", "within noise", 0.1, "holds"),
    ("similar", "real difference", -1, "contradicted"), ("similar", "inconclusive", 0, "inconclusive"),
    ("not_higher", "real difference", -1, "holds"), ("not_higher", "within noise", 1, "holds"),
    ("not_higher", "real difference", 1, "contradicted"),
    ("not_lower", "real difference", 1, "holds"), ("not_lower", "within noise", -1, "holds"),
    ("not_lower", "real difference", -1, "contradicted"), ("not_lower", "inconclusive", 1, "inconclusive"),
])
def test_outcome_table(expect, verdict, diff, want):
    assert claims.outcome(expect, verdict, diff) == want


def test_statistics_are_per_seed_over_a_sides_trials():
    ts = [trial("a", "sn", [10, 20, 30], setting="s1"), trial("a", "sn", [14, 16, 50], setting="s2"),
          trial("a", "sn", [12, 18, 40], setting="s3")]
    assert claims.per_seed(ts, "median") == {0: 12.0, 1: 18.0, 2: 40.0}
    assert claims.per_seed(ts, "min") == {0: 10.0, 1: 16.0, 2: 30.0}
    assert claims.per_seed(ts, "top5") == {0: 10.0, 1: 16.0, 2: 30.0}  # 3 settings: the top 5% is the best one
    # the same configuration trained under two preset names is one model, counted once
    twin = trial("a_twin", "sn", [10, 20, 30], setting="s1")
    assert claims._side([*ts, twin], claims.Claim("c", "t", "s", "d_norm", ("sn",), ("none",), "lower"),
                        ("sn",)) == ts


def test_top5_min_spread_and_budget_by_hand():
    values = [float(v) for v in (24, 3, 7, 1, 2, 9, 12, 4, 5, 6, 8, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                 22, 23)]  # 1..24, shuffled: 24 settings
    assert seedstats.top_count(24) == 2 and seedstats.top(values) == [1.0, 2.0]  # ceil(0.05 x 24) = 2
    assert seedstats.statistic(values, "top5") == 1.5  # the median of {1, 2}
    assert seedstats.statistic(values, "top5_spread") == pytest.approx(0.5 ** 0.5)  # stdev{1, 2} = 1/sqrt(2)
    assert seedstats.statistic(values, "min") == 1.0 and seedstats.statistic(values, "median") == 12.5
    assert seedstats.top_count(20) == 1 and seedstats.top_count(21) == 2 and seedstats.min_settings("top5_spread") == 21
    with pytest.raises(ValueError, match="top5_spread needs at least 2 values in the top 5%, i.e. at least 21"):
        seedstats.statistic(values[:20], "top5_spread")
    # expected best of k settings of {10, 20, 30}: k=1 mean 20; k=2 (10 + 10 + 20) / 3 = 13.33; k=3 10
    assert seedstats.expected_min([10, 20, 30], 2) == pytest.approx(40 / 3)
    assert seedstats.statistic([10, 20, 30], "settings_to_threshold", threshold=25) == 1
    assert seedstats.statistic([30, 10, 20], "settings_to_threshold", threshold=15) == 2
    assert seedstats.statistic([10, 20, 30], "settings_to_threshold", threshold=10) == 3
    assert seedstats.statistic([10, 20, 30], "settings_to_threshold", threshold=5) == 4  # never: n + 1
    assert seedstats.auto_threshold([10, 12, 30], [20, 22, 40]) == 22  # the larger median best FID


def test_a_factor_the_study_did_not_vary_is_an_error_naming_what_exists():
    trials = planted_study()
    with pytest.raises(ValueError, match=r"needs penalty=gp, which the study did not train where "
                                         r"architecture=resnet; levels of penalty in the study where "
                                         r"architecture=resnet: none"):
        claims.evaluate_claim(claim(factor="penalty", a=("gp",), b=("none",)), trials)
    got = claims.evaluate([claim(factor="penalty", a=("gp",), b=("none",)), claim(id="ok")], trials,
                          skip_untestable=True)
    assert [v.outcome for v in got] == ["not tested", "holds"]


def test_malformed_claims_are_refused_with_the_valid_choices():
    with pytest.raises(ValueError, match="unknown factor 'norm'; valid factors: loss, d_norm"):
        claims.parse({"claims": [{"id": "x", "text": "t", "source": "s", "factor": "norm", "a": "sn", "b": "none",
                                  "expect": "lower"}]})
    with pytest.raises(ValueError, match="missing key\\(s\\) source"):
        claims.parse({"claims": [{"id": "x", "text": "t", "factor": "d_norm", "a": "sn", "b": "none",
                                  "expect": "lower"}]})
    with pytest.raises(ValueError, match="unknown expect 'better'"):
        claims.parse({"claims": [{"id": "x", "text": "t", "source": "s", "factor": "d_norm", "a": "sn",
                                  "b": "none", "expect": "better"}]})
    with pytest.raises(ValueError, match="non-empty list 'claims:'"):
        claims.parse({"claims": []})


def _write_study(tmp_path) -> None:
    io.write_json(tmp_path / "results.json", {"schema": RESULTS_SCHEMA, "spec": {"dataset": "digits", "steps": 5},
                                              "worst_fid": None, "runs": [], "trials": planted_study()})


def test_cli_writes_verdicts_and_reports_bad_claims_in_one_line(tmp_path, capsys):
    _write_study(tmp_path)
    good = tmp_path / "mine.yaml"
    good.write_text("claims:\n  - {id: sn, text: sn wins, source: 'Section 4.2', factor: d_norm, a: sn, b: none,"
                    " expect: lower, where: {architecture: resnet}}\n")
    assert main(["claims", "--study", str(tmp_path), "--claims", str(good)]) == 0
    doc = json.loads((tmp_path / "claims.json").read_text())
    assert doc["verdicts"][0]["outcome"] == "holds"
    assert "| sn: sn wins | top5 | lower | **holds** |" in (tmp_path / "claims.md").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: g, text: gp, source: s, factor: penalty, a: gp, b: none, expect: lower}\n")
    capsys.readouterr()
    assert main(["claims", "--study", str(tmp_path), "--claims", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("repro: error: claim 'g' needs penalty=gp")
    assert main(["claims", "--study", str(tmp_path / "nowhere"), "--claims", str(good)]) == 2


def test_committed_verdicts_follow_from_the_committed_study():
    """audits/study/claims.json is what `repro claims` gives on audits/study/results.json today, with
    the options it records (those of pipelines/study/dvc.yaml's claims stage)."""
    from repro.study import results

    doc = results.read("audits/study")
    committed = json.loads(open("audits/study/claims.json").read())
    if any("basis" not in (v["comparison"] or {"basis": None}) for v in committed["verdicts"]):
        pytest.skip("audits/study/claims.json predates the comparison of issue 22 (basis, rank, equivalence): "
                    "regenerate it: repro claims --study audits/study --claims claims/kurach2019.yaml --stand-in "
                    "resnet19=resnet --skip-untestable")
    again = [v.to_dict() for v in claims.evaluate(claims.load("claims/kurach2019.yaml"), doc["trials"],
                                                  stand_ins=committed["stand_ins"],
                                                  skip_untestable=committed["skip_untestable"])]
    assert again == committed["verdicts"]
    for v in committed["verdicts"]:  # each tested one comes with its interval and the seeds needed
        if v["outcome"] != "not tested" and v["comparison"]["n_seeds_variant"] >= 2:
            assert v["comparison"]["ci_low"] is not None and v["comparison"]["seeds_needed_min_effect"] is not None
