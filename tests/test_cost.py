"""The cost of determinism measured by interleaving the two modes in one process (issue 14 item 12)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from repro.audit import cost


class _Clock:
    """A simulated machine: a step of ``mode`` costs ``base[mode] * load(t)`` seconds, where the
    load changes while the measurement runs (other jobs starting and stopping)."""

    def __init__(self, base: dict[str, float], load):
        self.base, self.load, self.t, self.calls = base, load, 0, []

    def step(self, mode: str) -> float:
        seconds = self.base[mode] * self.load(self.t)
        self.t += 1
        self.calls.append(mode)
        return seconds


def _sequential_ratio(clock: _Clock, n: int) -> float:
    """What timing the runs one after another measures: every det step, then every nondet step."""
    det = [clock.step("deterministic") for _ in range(n)]
    nondet = [clock.step("nondeterministic") for _ in range(n)]
    return float(np.median(det) / np.median(nondet))


@pytest.mark.parametrize("load", [
    lambda t: 1.0 + t / 20,  # the machine gets busier and busier
    lambda t: 1.0 if t < 30 else 2.0,  # another job starts halfway
])
def test_interleaving_cancels_a_changing_load(load):
    same_cost = {"deterministic": 0.05, "nondeterministic": 0.05}
    assert abs(_sequential_ratio(_Clock(same_cost, load), 24) - 1.0) > 0.3  # the flapping the issue saw
    clock = _Clock(same_cost, load)
    det, nondet = cost.measure_pairs(clock.step, pairs=24, warmup=2)
    result = cost.ratio_interval(det, nondet)
    assert result["ci_low"] <= 1.0 <= result["ci_high"], result
    assert abs(result["ratio"] - 1.0) < 0.1, result
    # warm-up pairs first, then modes alternate, the order inside a pair flipping each time
    assert clock.calls[:4] == ["deterministic", "nondeterministic"] * 2
    assert clock.calls[4:8] == ["deterministic", "nondeterministic", "nondeterministic", "deterministic"]
    assert len(det) == len(nondet) == 24


def test_a_real_cost_is_measured_under_load():
    clock = _Clock({"deterministic": 0.1, "nondeterministic": 0.05}, lambda t: 1.0 + (t % 5) / 2)
    result = cost.ratio_interval(*cost.measure_pairs(clock.step, pairs=30, warmup=1))
    assert result["ci_low"] > 1.5 and result["ci_low"] <= result["ratio"] <= result["ci_high"]


def test_ratio_interval_exact_cases():
    det, nondet = [0.2, 0.4, 0.6], [0.1, 0.2, 0.3]
    result = cost.ratio_interval(det, nondet)
    # every bootstrap resample keeps the pairs together, so each resample's ratio is exactly 2
    assert result["ratio"] == result["ci_low"] == result["ci_high"] == 2.0
    assert result["pairs"] == 3 and result["det_median_step_s"] == 0.4
    with pytest.raises(ValueError, match="paired"):
        cost.ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2"):
        cost.ratio_interval([1.0], [1.0])
    with pytest.raises(ValueError, match="pairs >= 2"):
        cost.measure_pairs(lambda mode: 1.0, pairs=1)


def test_interleaved_measures_a_real_model(tiny_cfg):
    result = cost.interleaved(tiny_cfg, pairs=4, warmup=1)
    assert result["pairs"] == 4 and result["warmup"] == 1 and result["device"] == "cpu"
    assert result["ci_low"] <= result["ratio"] <= result["ci_high"]
    assert math.isfinite(result["ratio"]) and result["det_median_step_s"] > 0 and result["nondet_median_step_s"] > 0


def test_interleaved_reports_a_diverging_model(tiny_cfg):
    result = cost.interleaved(tiny_cfg.replace(lr=1e30), pairs=4, warmup=1)
    assert result["ratio"] is None and result["pairs"] == 0 and "step" in result["diverged"]
