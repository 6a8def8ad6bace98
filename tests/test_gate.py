"""The CI gate (repro.audit.gate, `repro gate`): synthetic audit reports, no training."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.audit import gate
from repro.cli import main

VARIANTS = {"resnet_default": 40.0, "resnet_all": 47.0}  # baseline FID means of the synthetic audit
SEEDS = (0, 1, 2)
REPLICATES = 2
EVAL_STD, NONDET_STD, SEED_STD = 0.4, 0.6, 0.8  # noise components of the synthetic FIDs
SEED_OFFSET = {0: -SEED_STD, 1: 0.0, 2: SEED_STD}


def fake_fingerprint() -> dict:
    """A fingerprint shaped like repro.fingerprint.collect()'s (only the parts the tests vary)."""
    return {
        "schema": 1,
        "python": {"implementation": "CPython", "version": "3.12.3"},
        "torch": {"version": "2.13.0+cpu", "git_version": "0" * 40, "debug": False, "cuda": None, "cudnn": None,
                  "build": {"blas_info": "mkl", "cpu_capability": "AVX2"}},
        "numpy": {"version": "2.3.0"},
        "scipy": {"version": "1.16.0"},
        "cpu": {"machine": "x86_64", "model": "Test CPU", "vendor": "GenuineIntel", "flags": ["avx2", "fma"]},
        "threads": {"torch_intra_op": 2, "torch_inter_op": 2, "cpu_count": 2, "affinity": 2},
        "env": {"CUBLAS_WORKSPACE_CONFIG": None},
        "numerics": {"deterministic_algorithms": False},
        "cuda": {"available": False, "device_count": 0, "devices": []},
        "nvml": {"available": False, "reason": "no driver"},
        "git": {"commit": "a" * 40, "dirty": False},
    }


def _hash(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def make_report(variants: dict[str, float] = VARIANTS) -> dict:
    """A self-consistent audit report built from the plan of a real audit (seed 0 replicated in
    both modes, extra seeds 1 and 2, a thread-perturbed run) with planted FIDs, analysed by the
    audit's own functions: deterministic replicates share a hash (identical pairs),
    nondeterministic ones differ by +/-NONDET_STD, seeds by SEED_OFFSET."""
    from repro.audit import schema
    from repro.audit import variance as variance_mod
    from repro.audit.plan import AuditPlan

    names = list(variants)
    plan = AuditPlan(names[-1], names[0], REPLICATES, 0, SEEDS[1:], ("threads",))
    runs = []
    for spec in plan.runs():
        base = variants[spec.variant] + SEED_OFFSET[spec.seed]
        if spec.perturb:
            fid, digest = base + 0.1, _hash(spec.variant, "threads")
        elif spec.mode == "nondeterministic":
            fid, digest = base + (NONDET_STD if spec.replicate else -NONDET_STD), _hash(spec.id)
        else:
            fid, digest = base, _hash(spec.variant, spec.seed)
        runs.append(_run(spec, fid, digest))
    pairs = []
    for pair in plan.pairs():
        same = pair.kind == "deterministic"
        pairs.append({"variant": pair.variant, "kind": pair.kind, "a": pair.a.id, "b": pair.b.id, "identical": same,
                      "evidence": "1 traced step(s) compared", "first_divergent_step": None if same else 1,
                      "checkpoint_step": None if same else 10, "n_divergent_tensors": 0 if same else 1,
                      "traced_steps_compared": 1, "fid_a": None, "fid_b": None,
                      "first_divergent_tensors": [] if same else ["D.conv1.weight"], "rel_l2": [[10, 0.0]]})
    rows = [schema.from_dict(schema.RunRow, r) for r in runs]
    variance = {v: schema.to_dict(variance_mod.decompose(rows, v, n_boot=50)) for v in plan.variants}
    cost = {v: {"det_median_step_s": 0.055, "nondet_median_step_s": 0.05, "ratio": 1.1, "det_wall_s": 11.0,
                "nondet_wall_s": 10.0, "interleaved": None} for v in plan.variants}
    settings = {"variant": plan.variant, "baseline_variant": plan.baseline_variant, "replicates": REPLICATES,
                "seed": 0, "seeds": list(SEEDS), "extra_seeds": list(SEEDS[1:]), "steps": 200, "dataset": "digits",
                "perturb": ["threads"], "resolution": 16, "width": 0.25, "batch_size": 32, "overrides": {},
                "eval_seeds": 2, "runs_dir": "runs", "trace_every": 10, "checkpoint_every": 100, "cost_pairs": 4,
                "min_effect": None, "per_seed": "deterministic"}
    return {
        "schema": gate.REPORT_SCHEMA, "created": "2026-11-27T12:00:00+00:00", "command": "test", "commit": "a" * 40,
        "fingerprint": fake_fingerprint(), "fingerprint_summary": {"cpu": "Test CPU"},
        "plan": {**plan.to_dict(), "id": plan.id},
        "settings": settings, "runs": runs, "pairs": pairs, "variance": variance, "cost": cost,
        "comparison": schema.to_dict(variance_mod.compare(rows, plan.variant, plan.baseline_variant)), "archdiff": {},
    }


def _run(spec, fid, digest) -> dict:
    values = [fid - EVAL_STD, fid + EVAL_STD]
    return {"id": spec.id, "variant": spec.variant, "mode": spec.mode, "seed": spec.seed, "replicate": spec.replicate,
            "perturb": spec.perturb, "status": "completed", "steps_completed": 200, "diverged_step": None,
            "final_param_hash": digest, "median_step_time_s": 0.05, "wall_time_s": 10.0, "threads": 2, "device": "cpu",
            "fid": fid, "fid_eval_values": values, "fid_eval_std": EVAL_STD * math.sqrt(2), "fid_ci_low": fid - 1,
            "fid_ci_high": fid + 1, "fid_boot_std": 0.5, "fid_min": fid - 0.2, "fid_min_step": 100, "is_mean": 5.0,
            "kid_mean": 0.01}


def shift_fid(report: dict, variant: str, delta: float) -> dict:
    """A copy of ``report`` with every FID of ``variant`` moved by ``delta``."""
    out = copy.deepcopy(report)
    for run in out["runs"]:
        if run["variant"] == variant and run["fid"] is not None:
            run["fid"] += delta
            run["fid_min"] += delta
            run["fid_eval_values"] = [v + delta for v in run["fid_eval_values"]]
    out["variance"][variant]["fid_mean"] += delta
    return out


def set_det_hash(report: dict, variant: str, seed: int, digest: str, replicates=(0, 1)) -> dict:
    out = copy.deepcopy(report)
    for run in out["runs"]:
        if (run["variant"], run["mode"], run["seed"], run["perturb"]) == (variant, "deterministic", seed, None) \
                and run["replicate"] in replicates:
            run["final_param_hash"] = digest
    return out


def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture
def files(tmp_path):
    """(report dict, report path, baseline path) with the baseline made from the report."""
    report = make_report()
    report_path = write(tmp_path / "report.json", report)
    baseline_path = tmp_path / "baseline.json"
    gate.write_baseline(baseline_path, gate.make_baseline(report, str(report_path)))
    return report, report_path, baseline_path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["gate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def rows_of(result, check):
    return [r for r in result.rows if r["check"] == check]


# --------------------------------------------------------------------------- FID band


def test_fid_moved_by_ten_noise_std_fails(files, tmp_path, capsys):
    report, _, baseline_path = files
    noise = report["variance"]["resnet_all"]["noise_std"]
    moved = write(tmp_path / "moved.json", shift_fid(report, "resnet_all", 10 * noise))
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", moved)
    assert code == gate.EXIT_DRIFT
    base = report["variance"]["resnet_all"]["fid_mean"]
    band = gate.fid_band(gate.load_baseline(baseline_path)["variants"]["resnet_all"], k=3.0, min_rel_tol=0.05)
    half = band.half_width
    failing = [line for line in out.splitlines() if line.startswith("FAIL: resnet_all")]
    assert len(failing) == 1, out
    # the message names variant, metric, value and band
    assert "fid_mean" in failing[0]
    assert f"{base + 10 * noise:.6g}" in failing[0]
    assert f"[{base - half:.6g}, {base + half:.6g}]" in failing[0]
    assert out.rstrip().splitlines()[-1].startswith("FAIL")


def test_fid_move_within_noise_passes(files, tmp_path, capsys):
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    half = {v: gate.fid_band(baseline["variants"][v], k=3.0, min_rel_tol=0.05).half_width for v in VARIANTS}
    moved = shift_fid(shift_fid(report, "resnet_default", -0.9 * half["resnet_default"]), "resnet_all",
                      0.5 * half["resnet_all"])
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "m.json", moved))
    assert code == gate.EXIT_PASS, out
    assert out.rstrip().splitlines()[-1].startswith("PASS")


def test_relative_floor_widens_a_tiny_noise_band(files):
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    baseline["variants"]["resnet_default"]["noise_std"] = 1e-3  # k * noise = 0.003 << 5% of ~40 = 2
    base = baseline["variants"]["resnet_default"]["fid_mean"]
    inside = gate.check(shift_fid(report, "resnet_default", 0.04 * base), baseline)
    outside = gate.check(shift_fid(report, "resnet_default", 0.06 * base), baseline)
    assert [r["verdict"] for r in rows_of(inside, "fid") if r["subject"] == "resnet_default"] == ["pass"]
    assert [r["verdict"] for r in rows_of(outside, "fid") if r["subject"] == "resnet_default"] == ["fail"]
    # --min-rel-tol 0 leaves only the noise band, which 4% exceeds
    tight = gate.check(shift_fid(report, "resnet_default", 0.04 * base), baseline, min_rel_tol=0.0)
    assert not tight.passed


@settings(max_examples=200, deadline=None)
@given(mean=st.floats(0.0, 500.0), noise=st.floats(0.0, 50.0), k=st.floats(0.1, 10.0),
       tol=st.floats(0.0, 0.5), t=st.floats(-3.0, 3.0), shrink=st.floats(0.0, 1.0), n=st.integers(1, 20))
def test_fid_band_laws(mean, noise, k, tol, t, shrink, n):
    """The band holds the baseline mean, is symmetric about it, is at least as wide as each of its
    two terms (k x the std of a difference of two n-seed means, the relative floor), and a value
    passes exactly when it lies in it (so anything closer also passes)."""
    base = {"fid_mean": mean, "noise_std": noise, "eval_std": noise, "nondet_std": 0.0, "seed_std": noise,
            "n_seeds": n, "eval_values_per_run": 1, "seeds": list(range(n))}
    band = gate.fid_band(base, k=k, min_rel_tol=tol)
    lo, hi = band.low, band.high
    assert lo <= mean <= hi
    # abs 1e-9: mean +/- half is rounded to the ulp of mean (<= 1e-13 for mean <= 500)
    assert math.isclose(mean - lo, hi - mean, rel_tol=1e-9, abs_tol=1e-9)
    half = hi - mean
    assert half >= k * noise * math.sqrt(2 / n) - 1e-9 and half >= tol * mean - 1e-9
    report = make_report({"resnet_default": 40.0})
    baseline = gate.make_baseline(report, "r.json")
    baseline["variants"]["resnet_default"] = base
    report["variance"]["resnet_default"]["seeds"] = list(range(n))
    report["variance"]["resnet_default"]["n_seeds"] = n
    value = mean + t * max(half, 1e-6)
    moved = copy.deepcopy(report)
    moved["variance"]["resnet_default"]["fid_mean"] = value
    closer = copy.deepcopy(moved)
    closer["variance"]["resnet_default"]["fid_mean"] = mean + shrink * (value - mean)

    def verdict(rep):
        return rows_of(gate.check(rep, baseline, k=k, min_rel_tol=tol), "fid")[0]["verdict"]

    assert verdict(moved) == ("pass" if lo <= value <= hi else "fail")
    if verdict(moved) == "pass":
        assert verdict(closer) == "pass"


def test_band_widens_on_another_cpu_and_says_so(files):
    """#14.13: another CPU model gives other bits, so the band adds the baseline's seed spread."""
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    other = copy.deepcopy(report)
    other["fingerprint"]["cpu"]["model"] = "Other CPU"
    same_row = rows_of(gate.check(report, baseline, min_rel_tol=0.0), "fid")[0]
    other_row = rows_of(gate.check(other, baseline, min_rel_tol=0.0, strict=False), "fid")[0]

    def width(row):
        return float(row["allowed"].split(", ")[1].rstrip("]")) - float(row["allowed"][1:].split(",")[0])

    assert width(other_row) > width(same_row)
    assert "fingerprint differs in cpu.model" in other_row["message"] and "band widened to" in other_row["message"]
    seed_std = baseline["variants"][other_row["subject"]]["seed_std"]
    assert f"{seed_std:.6g}" in other_row["message"]


def test_missing_variant_and_diverged_run_fail(files):
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    missing = copy.deepcopy(report)
    del missing["variance"]["resnet_all"]
    result = gate.check(missing, baseline)
    fid_all = [r for r in rows_of(result, "fid") if r["subject"] == "resnet_all"]
    assert [r["verdict"] for r in fid_all] == ["fail"] and "missing from the report" in fid_all[0]["message"]

    diverged = copy.deepcopy(report)
    run = next(r for r in diverged["runs"] if r["variant"] == "resnet_default" and r["mode"] == "nondeterministic")
    run.update(status="diverged", diverged_step=17, fid=None)
    result = gate.check(diverged, baseline)
    status = {r["subject"]: r for r in rows_of(result, "runs")}
    assert status["resnet_default"]["verdict"] == "fail"
    assert run["id"] in status["resnet_default"]["message"] and "17" in status["resnet_default"]["message"]
    assert status["resnet_all"]["verdict"] == "pass"
    assert result.exit_code == gate.EXIT_DRIFT


def test_new_variant_in_report_is_skipped_not_failed(files):
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    del baseline["variants"]["resnet_all"]
    result = gate.check(report, baseline)
    row = next(r for r in rows_of(result, "fid") if r["subject"] == "resnet_all")
    assert row["verdict"] == "skip" and "--update" in row["message"]
    assert result.passed


# --------------------------------------------------------------------------- determinism and cost


def test_deterministic_pair_with_different_hashes_fails(files, tmp_path, capsys):
    report, _, baseline_path = files
    broken = set_det_hash(report, "resnet_all", 0, _hash("other"), replicates=(1,))
    pair = next(p for p in broken["pairs"] if p["kind"] == "deterministic" and p["b"] == "resnet_all/deterministic-s0-r1")
    pair.update(identical=False, first_divergent_step=37, first_divergent_tensors=["D.block0.conv.weight"])
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "b.json", broken),
                           "--no-strict")
    assert code == gate.EXIT_DRIFT
    result = gate.check(broken, gate.load_baseline(baseline_path), strict=False)
    failed = result.failures()
    assert [(r["check"], r["subject"]) for r in failed] == [
        ("determinism", "resnet_all/deterministic-s0-r0 vs resnet_all/deterministic-s0-r1")]
    assert "37" in failed[0]["message"] and "D.block0.conv.weight" in failed[0]["message"]
    assert "resnet_all" in failed[0]["message"]


def test_report_without_deterministic_pairs_fails(files):
    report, _, baseline_path = files
    no_pairs = copy.deepcopy(report)
    no_pairs["pairs"] = [p for p in no_pairs["pairs"] if p["kind"] != "deterministic"]
    result = gate.check(no_pairs, gate.load_baseline(baseline_path))
    assert [r["verdict"] for r in rows_of(result, "determinism")] == ["fail"]


def test_cost_of_determinism_bound(files, tmp_path, capsys):
    report, _, baseline_path = files
    costly = copy.deepcopy(report)
    costly["cost"]["resnet_all"]["ratio"] = 2.5
    path = write(tmp_path / "c.json", costly)
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", path)
    assert code == gate.EXIT_DRIFT
    assert any(line.startswith("FAIL: resnet_all") and "2.5" in line for line in out.splitlines()), out
    code, _, _ = run_cli(capsys, "--baseline", baseline_path, "--report", path, "--max-det-cost", "3")
    assert code == gate.EXIT_PASS


def test_variant_without_its_deterministic_pair_fails_naming_it(files, tmp_path, capsys):
    """Issue 14 item 11: dropping one variant's deterministic pairs is missing evidence, not a pass."""
    report, _, baseline_path = files
    dropped = copy.deepcopy(report)
    dropped["pairs"] = [p for p in dropped["pairs"] if not (p["variant"] == "resnet_all" and p["kind"] == "deterministic")]
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "d.json", dropped))
    assert code == gate.EXIT_DRIFT, out
    result = gate.check(dropped, gate.load_baseline(baseline_path))
    failed = [(r["check"], r["subject"]) for r in result.failures()]
    assert failed == [("determinism", "resnet_all")]
    assert "no deterministic pair" in result.failures()[0]["message"]
    # the remaining variant's pairs still pass on their own rows
    assert all(r["verdict"] == "pass" for r in rows_of(result, "determinism") if r["subject"] != "resnet_all")


def test_update_refuses_a_variant_without_its_deterministic_pair(tmp_path, capsys):
    report = make_report()
    report["pairs"] = [p for p in report["pairs"] if not (p["variant"] == "resnet_default" and p["kind"] == "deterministic")]
    report_path = write(tmp_path / "report.json", report)
    baseline_path = tmp_path / "b.json"
    code, _, err = run_cli(capsys, "--update", "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_INPUT and "resnet_default" in err and "no deterministic pair" in err
    assert len(err.strip().splitlines()) == 1 and not baseline_path.exists()


def _interleaved(ratio, low, high, pairs=24):
    return {"ratio": ratio, "ci_low": low, "ci_high": high, "pairs": pairs, "confidence": 0.95}


def test_cost_gate_reads_the_interleaved_interval(files, tmp_path, capsys):
    """Issue 14 item 12: the per-run ratio (runs timed one after another) may flap above the bound on
    a busy machine; the gate checks the interleaved measurement and fails only when its whole
    interval lies above the bound."""
    report, _, baseline_path = files
    baseline = gate.load_baseline(baseline_path)
    busy = copy.deepcopy(report)
    busy["cost"]["resnet_all"]["ratio"] = 2.5  # sequential runs under changing load
    busy["cost"]["resnet_all"]["interleaved"] = _interleaved(1.3, 1.1, 1.6)
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "busy.json", busy))
    assert code == gate.EXIT_PASS, out
    row = next(r for r in rows_of(gate.check(busy, baseline), "det_cost") if r["subject"] == "resnet_all")
    assert row["observed"] == 1.3 and "[1.1, 1.6]" in row["message"] and "24 interleaved" in row["message"]

    straddles = copy.deepcopy(busy)
    straddles["cost"]["resnet_all"]["interleaved"] = _interleaved(2.3, 1.8, 2.9)  # not clearly above 2
    assert gate.check(straddles, baseline).passed

    above = copy.deepcopy(busy)
    above["cost"]["resnet_all"]["interleaved"] = _interleaved(2.6, 2.2, 3.0)
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "above.json", above))
    assert code == gate.EXIT_DRIFT
    failing = [line for line in out.splitlines() if line.startswith("FAIL: resnet_all")]
    assert len(failing) == 1 and "[2.2, 3]" in failing[0] and "above bound 2" in failing[0], out
    code, _, _ = run_cli(capsys, "--baseline", baseline_path, "--report", tmp_path / "above.json", "--max-det-cost", "2.5")
    assert code == gate.EXIT_PASS


def test_cost_without_an_interleaved_ratio_falls_back_to_the_runs(files):
    report, _, baseline_path = files
    failed = copy.deepcopy(report)
    failed["cost"]["resnet_all"]["interleaved"] = {"ratio": None, "ci_low": None, "ci_high": None, "pairs": 0,
                                                   "diverged": "generator loss is nan at step 3"}
    row = next(r for r in rows_of(gate.check(failed, gate.load_baseline(baseline_path)), "det_cost")
               if r["subject"] == "resnet_all")
    assert row["verdict"] == "pass" and row["observed"] == 1.1 and "nan at step 3" in row["message"]


def test_baseline_records_the_ratio_the_gate_checks(tmp_path):
    report = make_report()
    report["cost"]["resnet_all"]["interleaved"] = _interleaved(1.25, 1.2, 1.3)
    baseline = gate.make_baseline(report, "r.json")
    assert baseline["cost"] == {"resnet_default": 1.1, "resnet_all": 1.25}
    bad = copy.deepcopy(report)
    bad["cost"]["resnet_all"]["interleaved"] = {"ratio": 1.25}
    with pytest.raises(gate.GateInputError, match=r"interleaved is missing key\(s\) ci_low"):
        gate.validate_report(bad)


# --------------------------------------------------------------------------- strict mode


def test_other_environment_skips_strict_mode_naming_the_field(files, tmp_path, capsys):
    report, _, baseline_path = files
    other = set_det_hash(report, "resnet_all", 0, _hash("new torch"))  # new library, new bits: expected
    other["fingerprint"]["torch"]["version"] = "2.14.0+cpu"
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", write(tmp_path / "o.json", other))
    assert code == gate.EXIT_PASS, out
    skip = [line for line in out.splitlines() if line.startswith("SKIP:")]
    assert len(skip) == 1 and "torch.version" in skip[0] and "strict mode skipped" in skip[0]


def test_same_environment_different_final_hash_fails_strict(files, tmp_path, capsys):
    report, _, baseline_path = files
    changed = set_det_hash(report, "resnet_default", 0, _hash("changed"))  # both replicates: pair still identical
    changed["fingerprint"]["git"]["commit"] = "b" * 40  # not a strict field: strict mode still applies
    changed["fingerprint"]["cpu"]["flags"].append("md_clear")  # not strict either
    path = write(tmp_path / "h.json", changed)
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", path)
    assert code == gate.EXIT_DRIFT
    result = gate.check(changed, gate.load_baseline(baseline_path))
    assert sorted(r["subject"] for r in result.failures()) == [
        "resnet_default/deterministic-s0-r0", "resnet_default/deterministic-s0-r1"]
    assert all(r["check"] == "strict_hash" for r in result.failures())
    assert len([r for r in rows_of(result, "strict_hash") if r["verdict"] == "pass"]) == 6  # 8 pinned, 2 changed
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", path, "--no-strict")
    assert code == gate.EXIT_PASS and "strict mode disabled" in out


def test_a_report_missing_a_planned_run_is_unusable(files):
    """The plan owns the run list: a report without one of its runs is not evidence (exit 2)."""
    report, _, baseline_path = files
    fewer = copy.deepcopy(report)
    fewer["runs"] = [r for r in fewer["runs"] if r["id"] != "resnet_all/deterministic-s0-r1"]
    with pytest.raises(gate.GateInputError, match=r"missing \['resnet_all/deterministic-s0-r1'\]"):
        gate.check(fewer, gate.load_baseline(baseline_path))


# --------------------------------------------------------------------------- unusable input


def test_corrupt_or_missing_baseline_exits_2(files, tmp_path, capsys):
    _, report_path, baseline_path = files
    baseline_path.write_text(baseline_path.read_text()[: 200])  # truncated mid-write
    code, out, err = run_cli(capsys, "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_INPUT and out == ""
    assert str(baseline_path) in err and "corrupt" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "--baseline", tmp_path / "nope.json", "--report", report_path)
    assert code == gate.EXIT_INPUT and "not found" in err and "nope.json" in err


@pytest.mark.parametrize("mutate, expected", [
    (lambda b: b.update(schema="repro.baseline/9"), "'repro.baseline/9' is not supported"),
    (lambda b: b.update(schema="repro.baseline/1"), "refresh it with `repro gate --update`"),
    (lambda b: b.update(schema="repro.audit/2"), "it is an audit report"),
    (lambda b: b.pop("schema"), "no 'schema' key"),
    (lambda b: b.pop("variants"), "missing key(s) variants"),
    (lambda b: b["variants"]["resnet_all"].pop("noise_std"), "noise_std"),
])
def test_baseline_schema_mismatch_exits_2(files, capsys, mutate, expected):
    _, report_path, baseline_path = files
    data = json.loads(baseline_path.read_text())
    mutate(data)
    write(baseline_path, data)
    code, _, err = run_cli(capsys, "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_INPUT
    assert expected in err and str(baseline_path) in err


def test_report_schema_mismatch_exits_2(files, tmp_path, capsys):
    report, _, baseline_path = files
    for mutate, expected in ((lambda r: r.update(schema="repro.audit/0"), "'repro.audit/0' is not supported"),
                             (lambda r: r.pop("pairs"), "missing key(s) pairs"),
                             (lambda r: r["runs"].pop(), "runs do not match the plan"),
                             (lambda r: r["comparison"].update(verdict="maybe"), "is not one of"),
                             (lambda r: r["runs"][0].pop("final_param_hash"), "runs[0] is missing key(s) final_param_hash")):
        bad = copy.deepcopy(report)
        mutate(bad)
        path = write(tmp_path / "bad.json", bad)
        code, _, err = run_cli(capsys, "--baseline", baseline_path, "--report", path)
        assert code == gate.EXIT_INPUT, expected
        assert expected in err and str(path) in err


def test_bad_option_exits_2(files, capsys):
    _, report_path, baseline_path = files
    code, _, err = run_cli(capsys, "--baseline", baseline_path, "--report", report_path, "--k", "-1")
    assert code == gate.EXIT_INPUT and "k=-1" in err


# --------------------------------------------------------------------------- --update and atomicity


def test_update_refuses_non_identical_report(tmp_path, capsys):
    report = make_report()
    report["pairs"][0]["identical"] = False
    report_path = write(tmp_path / "report.json", report)
    baseline_path = tmp_path / "baselines" / "b.json"
    code, _, err = run_cli(capsys, "--update", "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_INPUT
    assert "not bitwise identical" in err and report["pairs"][0]["a"] in err
    assert not baseline_path.exists()


def test_update_refuses_a_diverged_run(tmp_path):
    report = make_report()
    report["runs"][3].update(status="diverged", diverged_step=5)
    with pytest.raises(gate.GateInputError, match="did not complete"):
        gate.make_baseline(report, "report.json")


def test_update_writes_a_baseline_that_passes_against_its_report(tmp_path, capsys):
    report = make_report()
    report_path = write(tmp_path / "report.json", report)
    baseline_path = tmp_path / "baselines" / "b.json"
    code, out, _ = run_cli(capsys, "--update", "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_PASS and str(baseline_path) in out and "resnet_all" in out
    baseline = gate.load_baseline(baseline_path)
    assert baseline["schema"] == gate.BASELINE_SCHEMA and baseline["commit"] == report["commit"]
    assert baseline["fingerprint"] == report["fingerprint"] and baseline["settings"] == report["settings"]
    assert baseline["source_report"] == str(report_path)
    expected_ids = {r["id"] for r in report["runs"] if r["mode"] == "deterministic" and r["perturb"] is None}
    assert set(baseline["final_param_hashes"]) == expected_ids and len(expected_ids) == 8  # 4 per variant
    assert baseline["cost"] == {v: report["cost"][v]["ratio"] for v in VARIANTS}
    for name, v in baseline["variants"].items():
        assert v == {k: report["variance"][name][k] for k in ("fid_mean", "noise_std", "eval_std", "nondet_std", "seed_std",
                                                              "n_seeds", "eval_values_per_run", "seeds")}
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", report_path)
    assert code == gate.EXIT_PASS, out
    assert "SKIP" not in out  # same environment: strict mode ran and every row passed
    code, out, _ = run_cli(capsys, "--baseline", baseline_path, "--report", report_path, "--json")
    data = json.loads(out)
    assert code == 0 and data["passed"] and data["counts"]["fail"] == 0 and data["counts"]["pass"] == len(data["rows"])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_baseline_write_is_atomic(files, monkeypatch, capsys):
    report, report_path, baseline_path = files
    before = baseline_path.read_bytes()
    # a failure while serialising must not truncate the old file
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        gate.write_baseline(baseline_path, gate.make_baseline(report, str(report_path)))
    monkeypatch.undo()
    assert baseline_path.read_bytes() == before
    # a failure after the bytes hit the temp file, before the rename: old file intact, temp removed
    monkeypatch.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError("crash before rename")))
    assert main(["gate", "--update", "--baseline", str(baseline_path), "--report", str(report_path)]) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert err == "repro: error: crash before rename\n"  # one line, no traceback
    assert baseline_path.read_bytes() == before
    assert _leftovers(baseline_path.parent) == []
    gate.load_baseline(baseline_path)  # still a valid baseline
