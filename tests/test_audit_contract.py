"""Issue 11: seeds as the unit of evidence inside the audit, one verdict, the typed contract, and
hand-computed expectations for the primitives the report rests on (hash, divergence, cost)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from repro import hashing
from repro.audit import cost as cost_mod
from repro.audit import divergence, schema, variance
from repro.audit.plan import AuditPlan

ROOT = Path(__file__).resolve().parents[1]


def _row(variant, mode, seed, rep, fid, digest, *, perturb=None, evals=None, fid_min=None):
    suffix = "-threads1" if perturb else f"-r{rep}"
    return schema.RunRow(id=f"{variant}/{mode}-s{seed}{suffix}", variant=variant, mode=mode, seed=seed, replicate=rep,
                         perturb=perturb, status="completed", steps_completed=None, diverged_step=None,
                         final_param_hash=digest, median_step_time_s=None, wall_time_s=None, threads=None, device=None,
                         fid=fid, fid_eval_values=evals or [fid], fid_eval_std=None, fid_ci_low=None, fid_ci_high=None,
                         fid_boot_std=None, fid_min=fid_min)


def _dict(record):
    return schema.to_dict(record)


def _committed(path) -> schema.Report:
    """A committed report as a current record: read as is, or through `repro report --upgrade`'s
    conversion when it predates the current schema (the committed audits are regenerated at the end
    of a change to the report, not with every commit)."""
    from repro.audit.upgrade import upgrade

    data = json.loads(Path(path).read_text())
    if data.get("schema") != schema.REPORT_SCHEMA:
        return upgrade(data, str(path))
    return schema.report_from_dict(data, str(path))


def _cpu_like_rows(variant, fids_by_seed):
    """A CPU audit: seed 0's four replicates (2 per mode) are one model; other seeds one run each."""
    rows = []
    for seed, fid in fids_by_seed.items():
        h = f"{variant}-{seed}"
        if seed == 0:
            rows += [_row(variant, m, 0, r, fid, h) for m in ("deterministic", "nondeterministic") for r in (0, 1)]
        else:
            rows.append(_row(variant, "deterministic", seed, 0, fid, h))
    return rows


def test_identical_replicates_count_once_in_the_audit():
    rows = _cpu_like_rows("a", {0: 10.0, 1: 12.0, 2: 14.0})
    d = _dict(variance.decompose(rows, "a", n_draws=200))
    assert d["n_runs"] == 6 and d["n_distinct_runs"] == 3 and d["n_seeds"] == 3
    assert d["fid_mean"] == pytest.approx(12.0)  # mean of one value per seed, not of six runs (which is 11.33)
    assert d["seed_std"] == pytest.approx(2.0)  # stdev(10, 12, 14), by hand
    labels = variance.identical_labels(rows)
    assert labels["a/nondeterministic-s0-r1"] == "4 runs, identical" and "a/deterministic-s1-r0" not in labels


def test_copies_of_a_run_do_not_manufacture_significance():
    """Pseudo-replication: four copies of seed 0 would give Welch many 'observations'; seeds give 3."""
    a = _cpu_like_rows("a", {0: 10.0, 1: 12.0, 2: 14.0})
    b = _cpu_like_rows("b", {0: 11.0, 1: 13.0, 2: 15.0})
    c = _dict(variance.compare(a + b, "a", "b"))
    assert c["n_seeds_variant"] == c["n_seeds_baseline"] == 3
    assert c["diff"] == pytest.approx(-1.0) and c["ci_low"] < 0 < c["ci_high"]
    # Welch by hand: se = sqrt(4/3 + 4/3), df = 4
    from scipy import stats

    half = stats.t.ppf(0.975, 4) * math.sqrt(8 / 3)
    assert c["ci_low"] == pytest.approx(-1.0 - half) and c["ci_high"] == pytest.approx(-1.0 + half)
    assert c["verdict"] == "inconclusive"  # interval includes 0; 3 seeds of spread 2 cannot see 5% of 13


def test_interval_with_zero_and_too_few_seeds_is_inconclusive():
    a = _cpu_like_rows("a", {0: 10.0, 1: 10.1})
    b = _cpu_like_rows("b", {0: 10.05, 1: 10.0})
    c = _dict(variance.compare(a + b, "a", "b", min_effect=5.0))
    assert c["ci_low"] < 0 < c["ci_high"] and c["verdict"] == "inconclusive" and "fewer than 3 seeds" in c["reason"]


def test_verdict_never_contradicts_its_interval():
    rng = np.random.default_rng(0)
    for _ in range(30):
        shift = rng.choice([0.0, 3.0])
        a = _cpu_like_rows("a", {s: float(v) for s, v in enumerate(rng.normal(50 + shift, 1.0, 5))})
        b = _cpu_like_rows("b", {s: float(v) for s, v in enumerate(rng.normal(50, 1.0, 5))})
        c = _dict(variance.compare(a + b, "a", "b"))
        excludes = c["ci_low"] > 0 or c["ci_high"] < 0
        assert (c["verdict"] == "real difference") == excludes
        assert (c["p_value"] < 0.05) == excludes


def test_selection_effect_by_hand():
    rows = [_row("a", "deterministic", s, 0, fid, str(s), fid_min=fid - drop)
            for s, fid, drop in ((0, 20.0, 1.0), (1, 22.0, 3.0), (2, 21.0, 2.0))]
    sel = _dict(variance.selection_effect(rows, "a"))
    assert sel["n_seeds"] == 3 and sel["drops"] == [1.0, 3.0, 2.0] and sel["mean_drop"] == pytest.approx(2.0)
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # stdev(1, 3, 2) = 1
    assert sel["ci_low"] == pytest.approx(2.0 - half) and sel["ci_high"] == pytest.approx(2.0 + half)


def test_threads_delta_is_one_sample_set_against_the_seed_spread():
    rows = _cpu_like_rows("a", {0: 10.0, 1: 12.0, 2: 14.0}) + [
        _row("a", "deterministic", 0, 0, 11.0, "t", perturb="threads")]
    d = _dict(variance.decompose(rows, "a", n_draws=200))
    assert d["threads_fid_delta"] == pytest.approx(1.0)
    assert "one sample" in d["threads_note"] and "0.50 x the seed standard deviation" in d["threads_note"]
    assert d["n_runs"] == 6  # the perturbed run is not evidence about the variant


# --------------------------------------------------------------------------- plan and schema


def test_plan_owns_ids_pairs_and_primary():
    p = AuditPlan("resnet_all", "resnet_default", 2, 0, (1, 2), ("threads",))
    ids = [s.id for s in p.runs()]
    assert len(ids) == len(set(ids)) == 2 * (4 + 2 + 1)
    assert p.primary("resnet_all").id == "resnet_all/deterministic-s0-r0"
    assert [(q.kind, q.a.id, q.b.id) for q in p.pairs() if q.variant == "resnet_all"] == [
        ("deterministic", "resnet_all/deterministic-s0-r0", "resnet_all/deterministic-s0-r1"),
        ("nondeterministic", "resnet_all/nondeterministic-s0-r0", "resnet_all/nondeterministic-s0-r1"),
        ("threads", "resnet_all/deterministic-s0-r0", "resnet_all/deterministic-s0-threads1")]
    assert AuditPlan.from_dict(p.to_dict()) == p and len(p.id) == 16
    with pytest.raises(ValueError, match="repeat the main seed"):
        AuditPlan("a", "b", 2, 0, (0,))


def test_schema_names_the_path_of_a_wrong_type():
    row = _dict(_row("v", "deterministic", 0, 0, 1.0, "h"))
    assert schema.from_dict(schema.RunRow, row, "run") == _row("v", "deterministic", 0, 0, 1.0, "h")
    bad = {**row, "fid_eval_values": [1.0, "two"]}
    with pytest.raises(schema.SchemaError, match=r"run: fid_eval_values\[1\] is 'two', expected float"):
        schema.from_dict(schema.RunRow, bad, "run")
    with pytest.raises(schema.SchemaError, match="missing key"):
        schema.from_dict(schema.RunRow, {k: v for k, v in row.items() if k != "seed"}, "run")
    with pytest.raises(schema.SchemaError, match="unknown key"):
        schema.from_dict(schema.RunRow, {**row, "colour": 1}, "run")


def test_a_deeply_nested_file_is_unusable_input_not_a_crash(tmp_path):
    from repro.audit.report import load
    from repro.errors import InputError

    path = tmp_path / "report.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        load(path)


def test_a_report_round_trips_through_its_file_form():
    report = _committed(ROOT / "audits" / "resnet_all" / "report.json")
    assert schema.report_from_dict(json.loads(json.dumps(schema.to_dict(report)))) == report


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "audits").glob("**/report.json")))
def test_committed_reports_validate(path):
    c = _committed(ROOT / path).comparison
    if c.ci_low is not None and c.basis == "welch":  # the verdict follows from the interval of its basis
        assert (c.verdict == "real difference") == (c.ci_low > 0 or c.ci_high < 0)
    if c.basis == "rank" and c.rank.ci_low is not None:
        assert (c.verdict == "real difference") == (c.rank.ci_low > 0 or c.rank.ci_high < 0)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "audits" / "baselines").glob("*.json")))
def test_committed_baselines_validate(path):
    data = json.loads((ROOT / path).read_text())
    if data.get("schema") != schema.BASELINE_SCHEMA:
        pytest.skip(f"{path} has schema {data.get('schema')!r}, older than {schema.BASELINE_SCHEMA!r}: the gate "
                    "refuses it (exit 2) until it is refreshed with `make baseline-ci` (5 seeds per variant)")
    schema.validate_baseline(data, path)


# --------------------------------------------------------------------------- primitives by hand


def test_tensor_digest_by_hand():
    t = torch.tensor([1.0, -2.0], dtype=torch.float32)
    expected = hashlib.sha256(b"torch.float32|(2,)|" + np.array([1.0, -2.0], dtype="<f4").tobytes()).hexdigest()
    assert hashing.tensor_digest(t) == expected
    combined = hashlib.sha256(f"w={expected}\n".encode()).hexdigest()
    assert hashing.state_hash({"w": t}) == combined
    flipped = t.clone()
    flipped.view(torch.int32)[0] ^= 1
    assert hashing.tensor_digest(flipped) != expected


def test_relative_l2_by_hand():
    a = {"x": torch.tensor([3.0, 4.0], dtype=torch.float64)}
    b = {"x": torch.tensor([3.0, 4.0 + 0.5], dtype=torch.float64)}
    assert divergence.relative_l2(a, b) == pytest.approx(0.5 / 5.0)
    assert divergence.relative_l2(a, copy.deepcopy(a)) == 0.0


def test_ratio_interval_of_a_constant_cost_by_hand():
    det, nondet = [0.3] * 8, [0.2] * 8
    out = cost_mod.ratio_interval(det, nondet, n_boot=50)
    assert out["ratio"] == pytest.approx(1.5) and out["ci_low"] == pytest.approx(1.5) == out["ci_high"]


def test_a_v1_report_is_reanalysed_and_its_contradiction_is_gone():
    """The committed GPU report of schema 1 said 'within noise' beside p = 0.001 on copies of one seed."""
    from repro.audit.upgrade import upgrade

    plan = AuditPlan("resnet_all", "resnet_default")
    fids = {"resnet_all": (58.2, 58.2, 78.5, 50.2), "resnet_default": (143.9, 143.9, 168.2, 118.3)}
    runs = []
    for spec in plan.runs():
        i = (spec.mode == "nondeterministic") * 2 + spec.replicate
        digest = f"{spec.variant}-det" if spec.mode == "deterministic" else spec.id
        runs.append({"id": spec.id, "variant": spec.variant, "mode": spec.mode, "seed": 0, "replicate": spec.replicate,
                     "perturb": None, "status": "completed", "final_param_hash": digest, "fid": fids[spec.variant][i]})
    old = {"schema": "repro.audit/1", "created": "2026-11-27T10:56:33+00:00", "command": "repro audit", "commit": None,
           "fingerprint": {}, "fingerprint_summary": {}, "runs": runs, "pairs": [],
           "settings": {"variant": "resnet_all", "baseline_variant": "resnet_default", "replicates": 2, "seed": 0,
                        "extra_seeds": [], "perturb": [], "overrides": {"resolution": 32}},
           "variance": {}, "cost": {v: {"ratio": 1.5} for v in plan.variants},
           "comparison": {"verdict": "within noise: FID differs by -82.265, inside the noise band +/-82.472",
                          "p_value": 0.001}}
    new = _dict(upgrade(copy.deepcopy(old)))
    c = new["comparison"]
    assert c["n_seeds_variant"] == c["n_seeds_baseline"] == 1 and c["verdict"] == "inconclusive"
    assert c["p_value"] is None and new["upgraded_from"]["comparison"] == old["comparison"]
    assert new["variance"]["resnet_all"]["n_distinct_runs"] == 3  # the two deterministic copies count once
    assert new["settings"]["resolution"] == 32
    with pytest.raises(ValueError, match="--upgrade reads repro.audit/1, repro.audit/2"):
        upgrade(new)


def test_a_multi_thread_cpu_pair_says_it_cannot_see_process_level_races():
    """A pair trained in one process on a multi-thread CPU says what it cannot show (CI's CPU once
    gave another hash for the first run of a process); one thread, or a GPU, needs no caveat."""
    from repro.audit.report import summary_lines

    committed = _committed(ROOT / "audits" / "resnet_all" / "report.json")
    assert committed.settings.isolation == "process"  # the default: no caveat needed
    assert any("own fresh process" in x for x in summary_lines(committed))
    cpu = dataclasses.replace(committed, settings=dataclasses.replace(committed.settings, isolation="in-process"))
    line = next(x for x in summary_lines(cpu) if "reproducible here" in x)
    assert "yes" in line and "repro hunt" in line and "2 intra-op threads" in line
    one_thread = dataclasses.replace(cpu, runs=[dataclasses.replace(r, threads=1) for r in cpu.runs])
    assert not any("repro hunt" in x for x in summary_lines(one_thread))
    gpu = _committed(ROOT / "audits" / "gpu_h200" / "report.json")
    assert not any("repro hunt" in x for x in summary_lines(gpu))
