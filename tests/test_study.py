"""The study: Table 1 space, variant globs, the resumable runner, Table 2's BO loop and the report.

Runs are written by a fake executor (config.json, run.json, metrics.json with a FID that is a
known function of the hyperparameters), so the loop, resume and divergence rules are tested
without training; `repro study` end to end on real runs is in test_study_cli.py.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import optuna  # a test dependency (pyproject's test extra): Table 2 is tested, never skipped
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro import io
from repro.config import to_dict
from repro.study import bo, report, results, runner, space
from repro.study.spec import StudySpec


def fake_fid(cfg) -> float:
    """A smooth function of the hyperparameters with its minimum at lr = 10^-3.5, plus a seed term."""
    return 50.0 + 10.0 * (math.log10(cfg.lr) + 3.5) ** 2 + 5.0 * abs(cfg.beta1 - 0.5) + 0.1 * cfg.seed


class FakeExecutor:
    """Writes what a run and its evaluation would; a run with lr > ``diverge_above`` diverges."""

    def __init__(self, diverge_above: float = 1.0, interrupt_after: int | None = None):
        self.trained: list[str] = []
        self.evaluated: list[str] = []
        self.diverge_above = diverge_above
        self.interrupt_after = interrupt_after

    def train(self, tasks, on_done=None):
        for t in tasks:
            if self.interrupt_after is not None and len(self.trained) >= self.interrupt_after:
                raise KeyboardInterrupt
            d = Path(t.run_dir)
            d.mkdir(parents=True, exist_ok=True)
            io.write_json(d / "config.json", to_dict(t.config))
            status = "diverged" if t.config.lr > self.diverge_above else "completed"
            io.write_json(d / "run.json", {"status": status, "steps_completed": t.config.steps, "wall_time_s": 1.0})
            self.trained.append(t.run_id)

    def evaluate(self, tasks, on_done=None):
        from repro.rundir import read_config

        for t in tasks:
            io.write_json(t.out, {"fid": fake_fid(read_config(t.run_dir))})
            self.evaluated.append(t.run_id)


# --- spaces -----------------------------------------------------------------------------------

def test_table1_space_has_the_24_settings_of_the_grid():
    settings_ = space.table1()
    assert len(settings_) == 24 and len({s.name for s in settings_}) == 24
    got = {(s.fields["lr"], s.fields["penalty_weight"], s.fields["beta1"], s.fields["beta2"], s.fields["n_dis"])
           for s in settings_}
    want = {(lr, lam, b1, b2, nd) for lr, lam, (b1, b2, nd) in itertools.product(
        (2e-4, 1e-4, 1e-3), (1.0, 10.0), ((0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5)))}
    assert got == want
    assert all(s.fields["hparams"] == s.name for s in settings_)
    assert len(space.table1("lr1e-3_*")) == 8
    assert [s.name for s in space.table1("lr2e-4_lam1_b0.5-0.999_ndis1")] == ["lr2e-4_lam1_b0.5-0.999_ndis1"]


def test_unknown_globs_name_what_exists():
    with pytest.raises(ValueError, match="no Table 1 setting matches 'lr5e-4_\\*'.*settings that exist: lr2e-4"):
        space.table1("lr5e-4_*")
    with pytest.raises(ValueError, match="no variant matches 'resnet_foo_\\*'.*repro variants"):
        space.variants("resnet_foo_*")
    with pytest.raises(ValueError, match="empty variant list"):
        space.variants(" , ")
    with pytest.raises(ValueError, match="empty Table 1 setting list"):  # an empty space
        space.table1("")
    assert space.variants("resnet_ns_*_none") == ["resnet_ns_none_none", "resnet_ns_bn_none", "resnet_ns_ln_none",
                                                   "resnet_ns_sn_none"]


def test_table2_ranges_per_penalty():
    assert space.lambda_range("l2") == (1e-4, 10.0, True)
    assert space.lambda_range("gp") == (0.1, 100.0, True)
    assert space.lambda_range("none") is None
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for penalty in ("l2", "dragan", "none"):
        for _ in range(20):
            trial = study.ask()
            f = space.suggest_table2(trial, penalty)
            assert 1e-5 <= f["lr"] <= 1e-2 and 0 <= f["beta1"] < 1 and 0 <= f["beta2"] < 1
            assert ("penalty_weight" in f) == (penalty != "none")
            if penalty == "l2":
                assert 1e-4 <= f["penalty_weight"] <= 10
            study.tell(trial, 0.0)


# --- the runner ---------------------------------------------------------------------------------

def _table1_spec(**kw) -> StudySpec:
    base = dict(variants=("sndcgan_ns_sn_none",), settings=("lr1e-4_lam1_*", "lr1e-3_lam1_*"), seeds=(0, 1, 2),
                steps=3)
    return StudySpec(**{**base, **kw})


def test_table1_study_records_divergence_and_resumes_without_retraining(tmp_path):
    ex = FakeExecutor(diverge_above=5e-4)  # the four lr 1e-3 settings diverge
    doc = runner.run_study(_table1_spec(), tmp_path, ex)
    assert len(doc["trials"]) == 8 and len(ex.trained) == 24
    diverged = [t for t in doc["trials"] if t["lr"] == 1e-3]
    assert all(t["n_diverged"] == 3 and t["statuses"] == ["diverged"] * 3 for t in diverged)
    finite = [r["fid"] for r in doc["runs"] if r["fid"] is not None]
    assert doc["worst_fid"] == max(finite)
    assert all(t["fid"] == doc["worst_fid"] for t in diverged)  # worst FID, the study went on
    ex2 = FakeExecutor(diverge_above=5e-4)
    again = runner.run_study(_table1_spec(), tmp_path, ex2)
    assert ex2.trained == [] and ex2.evaluated == []  # nothing retrained or rescored
    assert again["trials"] == doc["trials"]


def test_interrupted_table1_study_trains_only_what_is_missing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(_table1_spec(), tmp_path, FakeExecutor(interrupt_after=10))
    ex = FakeExecutor()
    doc = runner.run_study(_table1_spec(), tmp_path, ex)
    assert len(ex.trained) == 14 and all(t["fid"] is not None for t in doc["trials"])


def test_resume_with_another_spec_is_refused(tmp_path):
    runner.run_study(_table1_spec(), tmp_path, FakeExecutor())
    with pytest.raises(ValueError, match="holds another study.*steps: study has 3, asked 4"):
        runner.run_study(_table1_spec(steps=4), tmp_path, FakeExecutor())


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="no variant matches"):
        runner.run_study(_table1_spec(variants=("nope_*",)), tmp_path / "a", FakeExecutor())
    with pytest.raises(ValueError, match="no Table 1 setting matches"):
        runner.run_study(_table1_spec(settings=("lr9_*",)), tmp_path / "b", FakeExecutor())
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(ValueError, match="table2 needs --trials"):
        StudySpec(variants=("sndcgan",), space="table2", trials=2, rounds=3)


# --- Table 2: Bayesian optimisation ------------------------------------------------------------

def _bo_spec(**kw) -> StudySpec:
    base = dict(variants=("sndcgan_ns_sn_none",), space="table2", trials=8, rounds=4, seeds=(0, 1), steps=3)
    return StudySpec(**{**base, **kw})


def _params(out: Path, name: str = "sndcgan_ns_sn_none") -> list[dict]:
    study = bo.open_study(out, name)
    return [dict(t.params) for t in sorted(study.get_trials(), key=lambda t: t.number)]


def test_bo_rounds_tell_the_objective_and_resume_retrains_nothing(tmp_path):
    # uninterrupted reference: rounds of 2 trials, each told its median FID over seeds
    ref = tmp_path / "ref"
    ex = FakeExecutor(diverge_above=5e-3)
    doc = runner.run_study(_bo_spec(), ref, ex)
    trials = sorted(bo.open_study(ref, "sndcgan_ns_sn_none").get_trials(), key=lambda t: t.number)
    assert len(trials) == 8 and [t.user_attrs["round"] for t in trials] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len(ex.trained) == 16  # 8 trials x 2 seeds, each once
    rows = {t["trial"]: t for t in doc["trials"]}
    for t in trials:
        row = rows[f"sndcgan_ns_sn_none__bo{t.number:03d}"]
        assert t.value == pytest.approx(row["fid"])  # the median over seeds (diverged = worst) was told
        assert row["lr"] == pytest.approx(t.params["lr"])
    assert "penalty_weight" not in trials[0].params  # no penalty: lambda is not searched

    # interrupted in round 2 (after 5 runs: round 1's 4 finished, round 2 started and not told)
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        runner.run_study(_bo_spec(), out, FakeExecutor(diverge_above=5e-3, interrupt_after=5))
    running = [t for t in bo.open_study(out, "sndcgan_ns_sn_none").get_trials()
               if t.state == optuna.trial.TrialState.RUNNING]
    assert len(running) == 2
    ex = FakeExecutor(diverge_above=5e-3)
    runner.run_study(_bo_spec(), out, ex)
    assert len(ex.trained) == 16 - 5  # the 5 finished runs were not retrained
    assert _params(out) == _params(ref)  # the journal kept the sampler's state: same proposals


def test_bo_divergence_never_stops_the_study(tmp_path):
    ex = FakeExecutor(diverge_above=1e-4)  # most of the lr range diverges
    doc = runner.run_study(_bo_spec(trials=4, rounds=2), tmp_path, ex)
    assert len(doc["trials"]) == 4
    assert any(t["n_diverged"] for t in doc["trials"])


# --- report ---------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=7), st.data())
def test_expected_min_equals_the_average_over_all_subsets(values, data):
    k = data.draw(st.integers(1, len(values)))
    subsets = list(itertools.combinations(values, k))
    brute = sum(min(s) for s in subsets) / len(subsets)
    assert report.expected_min(values, k) == pytest.approx(brute, rel=1e-9, abs=1e-9)  # float sums in another order


def test_report_writes_markdown_figures_and_plot_data(tmp_path):
    doc = runner.run_study(_table1_spec(variants=("sndcgan_ns_sn_none", "sndcgan_ns_none_none")), tmp_path,
                           FakeExecutor(diverge_above=5e-4))
    path = report.render(doc, tmp_path, caveat="not CIFAR-10")
    text = path.read_text()
    assert "> not CIFAR-10" in text and "![FID by d_norm](figures/factor_d_norm.png)" in text
    for f in space.FACTORS:
        assert (tmp_path / "figures" / f"factor_{f}.png").stat().st_size > 0
    assert (tmp_path / "figures" / "budget.png").exists()
    budget = (tmp_path / "plots" / "budget.csv").read_text().splitlines()
    assert budget[0] == "variant,budget,fid" and len(budget) == 1 + 2 * 8
    assert (tmp_path / "plots" / "trials.csv").read_text().count("\n") == 1 + 16
    assert "*" in text  # diverged seeds are marked
    assert results.read(tmp_path)["schema"] == results.RESULTS_SCHEMA


def test_plan_counts_runs_and_prices_them_by_n_dis():
    from repro.study.plan import plan

    spec = _table1_spec(settings=("lr2e-4_*",), seeds=(0, 1), steps=1000)  # 8 settings: 2 at n_dis 1, 6 at 5
    p = plan(spec, step_time_1=0.1)
    assert (p.runs, p.trials, p.runs_by_ndis) == (16, 8, {1: 4, 5: 12})
    # 4 runs x 1000 steps x 0.1 s + 12 runs x 1000 x 0.1 x (5 + 1) / 2, by hand: 400 + 3600 s
    assert p.device_hours == pytest.approx(4000 / 3600)
    assert plan(spec, step_time_1=0.1, step_time_5=0.2).device_hours == pytest.approx((400 + 2400) / 3600)
    # the executor's wall-time model: one worker runs all 16; 64 workers run one each: the longest (1000 x 0.3 s)
    assert p.wall_hours[1] == pytest.approx(4000 / 3600) and p.wall_hours[64] == pytest.approx(300 / 3600)
    # both counts: 1000 generator steps are 1000 D updates at n_dis 1 and 5000 at n_dis 5
    assert p.by_ndis[1]["generator_steps_per_run"] == 1000 and p.by_ndis[1]["d_updates_per_run"] == 1000
    assert p.by_ndis[5]["generator_steps_per_run"] == 1000 and p.by_ndis[5]["d_updates_per_run"] == 5000
    assert (p.generator_steps, p.d_updates) == (16 * 1000, 4 * 1000 + 12 * 5000)
    bo_spec = _bo_spec(variants=("sndcgan_ns_sn_none", "resnet_default"), seeds=(0,))
    assert plan(bo_spec).runs_by_ndis == {1: 8, 5: 8} and plan(bo_spec).device_hours is None


def test_the_papers_budget_counts_discriminator_updates():
    """compare_gan trains 200k discriminator updates on CIFAR-10 whatever n_dis: 200k generator steps at
    n_dis 1, 40k at n_dis 5 (Kurach et al. 2019, Section 2.6)."""
    from repro.study.plan import plan

    spec = _table1_spec(settings=("lr2e-4_lam1_b0.5-0.999_*",), seeds=(0,), steps=0, d_steps=200_000)
    p = plan(spec, step_time_1=0.05)
    assert p.by_ndis[1]["generator_steps_per_run"] == 200_000 and p.by_ndis[1]["d_updates_per_run"] == 200_000
    assert p.by_ndis[5]["generator_steps_per_run"] == 40_000 and p.by_ndis[5]["d_updates_per_run"] == 200_000
    # hours: 200k x 0.05 s at n_dis 1; 40k x 0.05 x 3 s at n_dis 5
    assert p.device_hours == pytest.approx((200_000 * 0.05 + 40_000 * 0.15) / 3600)
    t = runner.table1_trials(spec)
    assert [runner.config(spec, x, 0).steps for x in t] == [200_000, 40_000]
    assert StudySpec(variants=("sndcgan",), steps=0, d_steps=7).generator_steps(5) == 2  # ceil: >= the budget
    with pytest.raises(ValueError, match="one of them >= 1 and the other 0"):
        StudySpec(variants=("sndcgan",), steps=10, d_steps=10)


def test_table2_searches_each_ndis_in_its_own_optuna_study(tmp_path):
    """n_dis in {1, 5} is part of the paper's search: 120 settings each, 240 in all (Section 2.6)."""
    spec = _bo_spec(trials=4, rounds=2, ndis=(1, 5), seeds=(0,))
    ex = FakeExecutor()
    doc = runner.run_study(spec, tmp_path, ex)
    assert len(doc["trials"]) == 8 and len(ex.trained) == 8
    assert sorted({t["n_dis"] for t in doc["trials"]}) == [1, 5]
    assert [t["setting"] for t in doc["trials"] if t["n_dis"] == 5] == [f"ndis5_bo00{i}" for i in range(4)]
    for n in (1, 5):
        study = bo.open_study(tmp_path, "sndcgan_ns_sn_none", n)
        assert [t.user_attrs["round"] for t in study.get_trials()] == [0, 0, 1, 1]
    runs = {r["trial"]: r for r in doc["runs"]}
    assert runs["sndcgan_ns_sn_none__ndis5_bo003"]["n_dis"] == 5
    from repro.study.plan import plan

    assert plan(spec).runs_by_ndis == {1: 4, 5: 4}
    with pytest.raises(ValueError, match="belongs to --space table2"):
        _table1_spec(ndis=(1, 5))


def test_a_round_is_asked_whole_before_any_tell_and_an_interrupted_ask_resumes_alike(tmp_path):
    """GPSampler's own pending-trial rule: the round's earlier trials are RUNNING when a later one is
    asked; asking half a round, reopening the journal and asking the rest gives the same settings."""
    def round0(out):
        out.mkdir()
        st = bo.open_study(out, "v")
        bo.ask_round(st, "none", 0, 3, seed=0, round_size=3)
        for n, params, _ in bo.unfinished(st):
            bo.tell(st, n, 50 + 10 * (math.log10(params["lr"]) + 3.5) ** 2)
        return st

    whole = round0(tmp_path / "a")
    bo.ask_round(whole, "none", 1, 6, seed=0, round_size=3)
    states = [t.state for t in whole.get_trials()]
    assert states[3:] == [optuna.trial.TrialState.RUNNING] * 3  # asked, none told
    cut = round0(tmp_path / "b")
    bo.ask_round(cut, "none", 1, 4, seed=0, round_size=3)  # interrupted after one ask
    bo.ask_round(bo.open_study(tmp_path / "b", "v"), "none", 1, 6, seed=0, round_size=3)
    assert _params(tmp_path / "a", "v") == _params(tmp_path / "b", "v")
    assert len({round(p["lr"], 12) for p in _params(tmp_path / "a", "v")[3:]}) == 3  # a batch of distinct settings
