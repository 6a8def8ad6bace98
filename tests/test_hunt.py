"""repro hunt: exact binomial bounds (0 of N and k of N, against scipy), the per-thread-count
summary, one run directory kept per distinct hash, the record's round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from repro.cli import main
from repro.localize import hunt as hunt_module
from repro.localize.hunt import HuntResult, hunt, summarise
from repro.stats import binomial


@pytest.mark.parametrize("n", [1, 2, 10, 24, 146, 1000])
def test_zero_of_n_is_the_rule_of_three(n):
    assert binomial.upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-12)
    assert binomial.upper_bound(0, n) == pytest.approx(stats.beta.ppf(0.95, 1, n), abs=1e-10)
    if n >= 100:
        assert binomial.upper_bound(0, n) == pytest.approx(3 / n, rel=0.02)  # -ln(0.05) = 3.0 / n


@pytest.mark.parametrize("k,n", [(1, 24), (3, 24), (9, 146), (5, 10), (23, 24), (1, 2), (24, 24)])
def test_k_of_n_is_the_exact_binomial_bound(k, n):
    upper = binomial.upper_bound(k, n)
    lo, hi = binomial.interval(k, n)
    if k < n:
        assert upper == pytest.approx(stats.beta.ppf(0.95, k + 1, n - k), abs=1e-10)
        assert stats.binom.cdf(k, n, upper) == pytest.approx(0.05, abs=1e-9)  # the defining property
        assert hi == pytest.approx(stats.beta.ppf(0.975, k + 1, n - k), abs=1e-10)
    else:
        assert upper == 1.0 and hi == 1.0
    assert lo == pytest.approx(stats.beta.ppf(0.025, k, n - k + 1), abs=1e-10)
    assert lo < k / n < hi or k in (0, n)


def test_bounds_refuse_impossible_counts():
    for k, n in [(-1, 5), (6, 5), (0, 0)]:
        with pytest.raises(ValueError):
            binomial.upper_bound(k, n)


def test_summarise_counts_the_typical_hash_and_the_rest():
    r = summarise(2, ["b", "a", "a", "c", "a"], [1.0] * 5)
    assert r.counts == {"a": 3, "b": 1, "c": 1} and r.typical == "a" and r.diverging == 2 and r.distinct == 3
    assert r.upper_95 == pytest.approx(stats.beta.ppf(0.95, 3, 3))
    assert summarise(1, ["x"] * 24).upper_95 == pytest.approx(1 - 0.05 ** (1 / 24))


def test_hunt_interleaves_keeps_one_run_per_hash_and_round_trips(tmp_path, monkeypatch):
    """The training processes are faked (every third 2-thread process ends elsewhere); the hunt's
    own bookkeeping is real: order of rounds, kept run directories, the record."""
    order = []

    def fake(variant, steps, threads, out, *, sets=(), cache=None):
        order.append(threads)
        Path(out).mkdir(parents=True)
        (Path(out) / "marker.txt").write_text(f"{threads}")
        n = sum(1 for t in order if t == threads)
        return ("odd" if threads == 2 and n % 3 == 0 else f"h{threads}") * 8, 0.5

    monkeypatch.setattr(hunt_module, "train_in_fresh_process", fake)
    result = hunt("resnet_default", processes=6, threads=(1, 2), steps=3, keep=tmp_path / "keep")
    assert order == [1, 2] * 6
    one, two = result.results
    assert (one.distinct, one.diverging) == (1, 0) and (two.distinct, two.diverging) == (2, 2)
    assert two.upper_95 == pytest.approx(stats.beta.ppf(0.95, 3, 4))
    assert result.varied and sorted(p.name for p in (tmp_path / "keep").iterdir()) == [
        "threads1-h1h1h1h1h1h1", "threads2-h2h2h2h2h2h2", "threads2-oddoddoddodd"]
    assert Path(two.kept["odd" * 8], "marker.txt").read_text() == "2"
    assert HuntResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_hunt_cli_refuses_bad_counts(capsys):
    assert main(["hunt", "--variant", "resnet_default", "--processes", "0"]) == 2
    assert "--processes" in capsys.readouterr().err
    assert main(["hunt", "--variant", "no_such_variant"]) == 2
