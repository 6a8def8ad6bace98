"""The paper's claims file (claims/kurach2019.yaml), each claim checked on a synthetic study built to
the paper's shape: Table 1's 24 settings x 6 seeds per configuration, FIDs a known function of
(configuration, setting, seed), so every per-seed statistic can be written down by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from repro import hparams
from repro.study import claims, seedstats

SEEDS = range(6)
SETTINGS = hparams.names()  # Table 1's 24, in the table's order
# (architecture, loss, d_norm, penalty, flags) -> (base, gap): setting j of Table 1 scores
# base_s + gap_s * j for seed s, with base_s = base + JITTER[s] and gap_s = gap * (1 + 0.05 s).
# Gradient-penalty models score +30 at n_dis 1 (they "benefit from 5:1").
PLANTED = {
    ("resnet19", "ns", "none", "none", "-"): (100.0, 4.0),
    ("resnet19", "ns", "bn", "none", "-"): (150.0, 4.0),
    ("resnet19", "ns", "sn", "none", "-"): (60.0, 4.0),
    ("resnet19", "ns", "none", "gp", "-"): (80.0, 10.0),
    ("resnet19", "ns", "sn", "gp", "-"): (55.0, 4.0),
    ("resnet19", "ns", "ln", "gp", "-"): (70.0, 4.0),
    ("resnet19", "ls", "none", "none", "-"): (110.0, 6.0),
    ("resnet19", "ls", "sn", "none", "-"): (70.0, 6.0),
    ("resnet19", "wgan", "none", "none", "-"): (120.0, 8.0),
    ("resnet19", "wgan", "sn", "none", "-"): (75.0, 8.0),
    ("sndcgan", "ns", "none", "none", "-"): (110.0, 4.0),
    ("sndcgan", "ns", "sn", "none", "-"): (60.0, 4.0),
    ("sndcgan", "ns", "none", "gp", "-"): (80.0, 10.0),
    **{("resnet", "ns", "sn", "none", f): (60.0, 4.0) for f in ("-", "skip", "cin", "opt", "sum", "tan", "eps",
                                                               "skip,cin,opt,sum,tan,eps")},
}
JITTER = (0.3, -0.2, 0.5, -0.4, 0.1, -0.3)


def offset(key: tuple) -> float:
    """A small per-configuration shift (< 0.5 FID) so that equal plants are not bit-equal."""
    return (sum(map(ord, "".join(key))) % 7) / 20.0


def fid(key: tuple, j: int, seed: int, planted: dict = PLANTED) -> float:
    base, gap = planted[key]
    n_dis = hparams.fields(SETTINGS[j])["n_dis"]
    return base + JITTER[seed] + offset(key) * (seed % 2) + gap * (1 + 0.05 * seed) * j + (
        30.0 if key[3] == "gp" and n_dis == 1 else 0.0)


def study(planted: dict = PLANTED, arch_as: dict | None = None) -> list[dict]:
    rows = []
    for key in planted:
        arch, loss, norm, pen, flags = key
        shown = (arch_as or {}).get(arch, arch)
        for j, name in enumerate(SETTINGS):
            f = hparams.fields(name)
            rows.append({"trial": f"{shown}_{loss}_{norm}_{pen}_{flags}__{name}", "variant": f"{arch}_{flags}",
                         "setting": name, "architecture": shown, "loss": loss, "d_norm": norm, "penalty": pen,
                         "flags": flags, **{k: f[k] for k in ("lr", "penalty_weight", "beta1", "beta2", "n_dis")},
                         "seeds": list(SEEDS), "scores": [fid(key, j, s, planted) for s in SEEDS],
                         "statuses": ["completed"] * len(SEEDS)})
    return rows


PAPER = claims.load("claims/kurach2019.yaml")
BY_ID = {c.id: c for c in PAPER}


def test_the_papers_claims_cover_each_section_and_quote_the_paper():
    ids = set(BY_ID)
    assert {"bn-in-d-hurts", "sn-beats-none-resnet19", "gp-beats-none-resnet19", "gp-does-not-stabilise",
            "sn-more-efficient-than-gp", "gp-benefits-from-ndis5", "sn-helps-ns", "sn-helps-ls", "sn-helps-wgan",
            "ns-stable-vs-ls", "ns-stable-vs-wgan", "sn-beats-none-sndcgan", "architectures-comparable",
            "sn-more-efficient-than-gp-sndcgan", "sn-gp-beats-none", "ln-gp-beats-none", "gp-on-sn-marginal",
            *(f"resnet-{f}-vs-default" for f in ("skip", "cin", "opt", "sum", "tan", "eps")),
            "resnet-all-six-vs-default"} == ids
    for c in PAPER:
        assert c.quote, c.id  # every claim quotes the sentence it tests
        assert any(s in c.source for s in ("Section 3.1", "Section 3.2", "Section 3.3", "Appendix")), c.id
        assert "Figure" in c.source or "Appendix" in c.source, c.id
        assert c.paper_architectures, c.id
    # the sections are v3's (the ICML version), not an earlier draft's
    assert not any(s in c.source for c in PAPER for s in ("Section 4.1", "Section 4.2", "Section 5 ("))
    figure = {"3.1": "Figure 1", "3.2": "Figure 2"}
    for c in PAPER:
        sec = c.source.split("Section ")[1][:3]
        if sec in figure:
            assert figure[sec] in c.source, c.id
    # stability claims compare spread; budget claims count settings
    assert BY_ID["gp-does-not-stabilise"].statistic == "top5_spread"
    assert {BY_ID[i].statistic for i in ("ns-stable-vs-ls", "ns-stable-vs-wgan")} == {"top5_spread"}
    assert BY_ID["sn-more-efficient-than-gp"].statistic == "settings_to_threshold"


def test_every_claim_holds_on_the_study_planted_to_agree_with_the_paper():
    got = {v.id: v for v in claims.evaluate(PAPER, study())}
    assert {i: v.outcome for i, v in got.items() if v.outcome != "holds"} == {}
    assert all(v.caveats == [] for v in got.values())  # every claim ran on the paper's own architecture


def _top5(key, seed, js=range(24)):
    """The top-5% median of one seed by hand: the mean of its two best settings (24 -> 2)."""
    best = sorted(fid(key, j, seed) for j in js)[: math.ceil(0.05 * len(js))]
    return statistics.median(best)


def test_per_seed_values_are_the_hand_computed_ones():
    trials = study()
    bn = claims.evaluate_claim(BY_ID["bn-in-d-hurts"], trials)
    # bn's settings rise with j, so its best two are settings 0 and 1: base_s + gap_s / 2
    assert bn.value_a == pytest.approx([150 + JITTER[s] + offset(("resnet19", "ns", "bn", "none", "-")) * (s % 2)
                                        + 4 * (1 + 0.05 * s) / 2 for s in SEEDS])
    assert bn.value_b == pytest.approx([_top5(("resnet19", "ns", "none", "none", "-"), s) for s in SEEDS])
    assert bn.statistic == "top5" and bn.trials_a == 24
    # stability: the spread of the two best, gap_s / sqrt(2); GP's gap is 10, W/O's 4
    spread = claims.evaluate_claim(BY_ID["gp-does-not-stabilise"], trials)
    gp = ("resnet19", "ns", "none", "gp", "-")
    want = [statistics.stdev(sorted(fid(gp, j, s) for j in range(24))[:2]) for s in SEEDS]
    assert spread.value_a == pytest.approx(want)
    assert spread.comparison["diff"] > 0 and spread.outcome == "holds"
    # n_dis: the six matched (lr, lambda) pairs with (beta1, beta2) = (0.5, 0.999); 6 settings -> the best one
    nd = claims.evaluate_claim(BY_ID["gp-benefits-from-ndis5"], trials)
    assert nd.trials_a == nd.trials_b == 6
    matched = [j for j, n in enumerate(SETTINGS) if "_b0.5-0.999_" in n]
    for side, n_dis in ((nd.value_a, 5), (nd.value_b, 1)):
        js = [j for j in matched if hparams.fields(SETTINGS[j])["n_dis"] == n_dis]
        assert side == pytest.approx([min(fid(gp, j, s) for j in js) for s in SEEDS])
    # budget: settings drawn at random until the expected best reaches the automatic threshold
    budget = claims.evaluate_claim(BY_ID["sn-more-efficient-than-gp"], trials)
    sn = ("resnet19", "ns", "sn", "none", "-")
    mins = {k: [min(fid(k, j, s) for j in range(24)) for s in SEEDS] for k in (sn, gp)}
    threshold = max(statistics.median(mins[sn]), statistics.median(mins[gp]))
    assert budget.threshold == pytest.approx(threshold)
    for side, key in ((budget.value_a, sn), (budget.value_b, gp)):
        want = []
        for s in SEEDS:
            values = [fid(key, j, s) for j in range(24)]
            want.append(next((k for k in range(1, 25) if seedstats.expected_min(values, k) <= threshold), 25))
        assert side == want
    assert max(budget.value_a) < min(budget.value_b)  # SN needs fewer settings on every seed


def test_reversed_plants_contradict_the_directional_claims():
    reversed_ = dict(PLANTED)
    reversed_[("resnet19", "ns", "bn", "none", "-")] = (50.0, 4.0)  # BN helps
    reversed_[("resnet19", "ns", "sn", "none", "-")] = (130.0, 4.0)  # SN hurts
    reversed_[("resnet19", "ns", "none", "gp", "-")] = (80.0, 1.0)  # GP's top 5% tighter than W/O's
    reversed_[("resnet", "ns", "sn", "none", "cin")] = (90.0, 4.0)  # CIN hurts
    got = {v.id: v.outcome for v in claims.evaluate(PAPER, study(reversed_))}
    for i in ("bn-in-d-hurts", "sn-beats-none-resnet19", "sn-helps-ns", "gp-does-not-stabilise",
              "sn-more-efficient-than-gp", "resnet-cin-vs-default"):
        assert got[i] == "contradicted", i


def test_a_stand_in_architecture_is_named_in_every_verdict_it_touches():
    """The digits study trains ResNet CIFAR where the paper ran ResNet19: each verdict says so."""
    trials = study(arch_as={"resnet19": "resnet"})  # ResNet19's plants under the name resnet (and no resnet19)
    trials = [t for t in trials if not (t["architecture"] == "resnet" and t["flags"] != "-")
              or t["d_norm"] == "sn"]
    with pytest.raises(ValueError, match="needs treatment=bn and none, which the study did not train where "
                                         "architecture=resnet19, flags=-, loss=ns"):
        claims.evaluate_claim(BY_ID["bn-in-d-hurts"], trials)
    got = {v.id: v for v in claims.evaluate(PAPER, trials, stand_ins={"resnet19": "resnet"})}
    assert got["bn-in-d-hurts"].outcome == "holds"
    assert got["bn-in-d-hurts"].caveats == ["tested on architecture resnet, a stand-in for the paper's resnet19"]
    assert got["architectures-comparable"].caveats == ["tested on architecture resnet, a stand-in for the "
                                                       "paper's resnet19"]
    assert got["resnet-cin-vs-default"].caveats == [] and got["sn-beats-none-sndcgan"].caveats == []
    # without a stand-in, a claim tested on an architecture the paper did not use for it says so too
    moved = claims.Claim("x", "t", "Section 3.1", "treatment", ("sn",), ("none",), "lower",
                         {"architecture": "resnet", "loss": "ns"}, paper_architectures=("resnet19",))
    assert claims.evaluate_claim(moved, trials).caveats == [
        "tested on architecture resnet, which the paper did not use for this claim (it used resnet19)"]


def test_too_few_settings_for_a_spread_is_untestable_not_a_number():
    few = [t for t in study() if t["setting"].startswith("lr2e-4")]  # 8 settings: a top 5% of one
    with pytest.raises(ValueError, match="statistic top5_spread needs at least 21 settings per seed on each side; "
                                         "side A .* has 8"):
        claims.evaluate_claim(BY_ID["gp-does-not-stabilise"], few)
    v = claims.evaluate([BY_ID["gp-does-not-stabilise"]], few, skip_untestable=True)[0]
    assert v.outcome == "not tested" and "21 settings" in v.reason


def test_the_variants_a_study_needs_make_every_claim_testable(capsys):
    from repro.cli import main
    from repro.study import needs

    names = needs.variants_needed(PAPER)
    assert "resnet19_ns_sn_gp" in names and "resnet_cin" in names and "sndcgan_ns_none_gp" in names
    assert not any(n.startswith("resnet_ns_") for n in names)  # the paper's architectures, no stand-in
    from repro.study import space

    trained = {(lv["architecture"], lv["loss"], lv["d_norm"], lv["penalty"], lv["flags"])
               for lv in map(space.factor_levels, names)}
    assert trained == set(PLANTED)  # exactly the configurations the planted study needed for all 24 claims
    assert main(["claims", "--list-variants", "--stand-in", "resnet19=resnet"]) == 0
    out = capsys.readouterr().out.strip().split(",")
    assert "resnet_ns_sn_gp" in out and not any(n.startswith("resnet19") for n in out)
