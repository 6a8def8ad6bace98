"""Executors (issue 12): the local executor in processes, the audit's rows, the cost model, the CLI."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny import TINY

from repro.audit.execute import mark_thread_mismatch
from repro.cli import main
from repro.executor import TrainTask, default_threads, make_executor, plan_cost, with_threads, worker
from repro.gan.presets import config_for

# 4 steps, a checkpoint every 2: the smallest run that resumes from a checkpoint (train_helpers' TINY shape)
TINY = {**TINY, "threads": 1}


def _tasks(root, modes=("deterministic", "nondeterministic")):
    return [TrainTask(f"resnet_default/{m}-s0-r0", config_for("resnet_default", **TINY, mode=m),
                      root / "resnet_default" / f"{m}-s0-r0") for m in modes]


def test_make_executor_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown executor 'dask'; valid executors: local, ray"):
        make_executor("dask")
    with pytest.raises(ValueError, match="invalid jobs=0"):
        make_executor("local", jobs=0)
    with pytest.raises(ValueError, match="needs --executor ray"):
        make_executor("local", ray_address="auto")


def test_threads_are_explicit_where_runs_share_the_cpus():
    cfg = config_for("resnet_default", **{**TINY, "threads": 0})
    assert default_threads("local") is None and with_threads(cfg, None).threads == 0  # today's behaviour
    assert default_threads("ray") == 1 and default_threads("local", 2, 3) == 3
    assert with_threads(cfg, 2).threads == 2
    assert with_threads(cfg.replace(threads=1), 2).threads == 1  # an explicit count (threads perturbation) stays


def test_local_processes_match_in_process_bits_and_report_progress(tmp_path, capfd):
    """Two processes at one thread each give the bits of this process at one thread; one line per run."""
    here = make_executor("local").train(_tasks(tmp_path / "a"))
    ex = make_executor("local", jobs=2)
    try:
        lines = []
        there = ex.train(_tasks(tmp_path / "b"), on_done=lambda t, r: lines.append((t.run_id, r["status"])))
    finally:
        ex.close()
    assert sorted(lines) == sorted((rid, "completed") for rid in here)
    for rid, rec in here.items():
        assert rec["status"] == there[rid]["status"] == "completed"
        assert rec["final_param_hash"] == there[rid]["final_param_hash"], rid
        assert there[rid]["execution"]["threads"] == 1
    assert {r["worker"]["pid"] for r in there.values()}.isdisjoint({here[k]["worker"]["pid"] for k in here})


def test_killed_local_worker_is_retried_and_resumes_bit_identical(tmp_path, monkeypatch):
    ref = make_executor("local").train(_tasks(tmp_path / "ref", ("deterministic",)))
    task = _tasks(tmp_path / "run", ("deterministic",))[0]
    marker = tmp_path / "killed"
    monkeypatch.setenv(worker.KILL_ENV, f"{task.run_id}:3:{marker}")  # after step 3: the checkpoint of step 2 stays
    ex = make_executor("local", jobs=2)
    try:
        out = ex.train([task])
    finally:
        ex.close()
    assert marker.exists()  # the worker was killed once
    rec = out[task.run_id]
    assert rec["status"] == "completed" and rec["sessions"] == 2 and rec["resumed_from_step"] == 2
    assert rec["final_param_hash"] == ref[task.run_id]["final_param_hash"]


def test_task_errors_are_raised_not_retried(tmp_path):
    task = _tasks(tmp_path, ("deterministic",))[0]
    task.run_dir.mkdir(parents=True)
    (task.run_dir / "config.json").write_text("{}")  # a run of another config (all defaults)
    ex = make_executor("local", jobs=2)
    try:
        with pytest.raises(ValueError, match="cannot resume .* with a different config"):
            ex.train([task])
    finally:
        ex.close()


def test_probe_names_the_unreachable_runs_directory(tmp_path):
    with pytest.raises(worker.RunsDirUnreachable, match="cannot see the runs directory .*nowhere: .* is missing; .* shared filesystem"):
        worker.check_probe((str(tmp_path / "nowhere" / ".repro-executor-probe-x"), "token"))
    probe = tmp_path / ".probe"
    probe.write_text("token\n")
    worker.check_probe((str(probe), "token"))


def test_thread_mismatch_is_flagged_for_the_report():
    from report_fixtures import synthetic_report

    from repro.audit.plan import AuditPlan
    from repro.audit.report import summary_lines

    report = synthetic_report(AuditPlan("resnet_default", "resnet_default", perturb=("threads",)))
    rows = [dataclasses.replace(r, threads=1 if r.perturb else 2) for r in report.runs]
    assert not any(r.threads_differ for r in mark_thread_mismatch(rows))  # the perturbation differs by design
    rows[1] = dataclasses.replace(rows[1], threads=4)
    marked = mark_thread_mismatch(rows)
    assert [r.threads_differ for r in marked] == [i == 1 for i in range(len(rows))]
    line = next(x for x in summary_lines(dataclasses.replace(report, runs=marked)) if "Thread counts differ" in x)
    assert f"{rows[1].id} (4)" in line


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=30), st.integers(1, 16))
def test_makespan_lies_between_its_bounds(hours, workers):
    """Longest-first list scheduling: at least the longest job and the even share, at most the
    even share plus the longest job (Graham's bound)."""
    span = plan_cost.makespan_hours(hours, workers)
    even = sum(hours) / min(workers, len(hours))
    assert span >= max(hours) - 1e-9 and span >= even - 1e-9
    assert span <= sum(hours) / workers + max(hours) + 1e-9
    assert plan_cost.makespan_hours(hours, 1) == pytest.approx(sum(hours))


def test_cost_model_prices_any_list_of_configs(tmp_path):
    cfg = config_for("resnet_default", **TINY)
    runs = [(f"r{i}", cfg.replace(seed=i)) for i in range(3)]
    costs = plan_cost.run_costs(runs)  # timed here, once for the three (the seed changes no time)
    assert len({c.step_time_s for c in costs}) == 1 and all(c.source == "measured now" for c in costs)
    model = plan_cost.cost_model(plan_cost.run_costs(runs, step_time_s=0.5), workers=(1, 2))
    assert model["runs"] == 3 and model["steps"] == 12 and model["d_updates"] == 12  # n_dis 1
    assert model["cpu_core_hours"] == pytest.approx(12 * 0.5 / 3600)  # one thread each
    assert model["wall_hours"][2] == pytest.approx(2 * 4 * 0.5 / 3600)
    # an existing run with the same config gives its own measured step time
    rec = make_executor("local").train([TrainTask("r0", runs[0][1], tmp_path / "r0")])["r0"]
    got = plan_cost.run_costs(runs[:1], run_dirs={"r0": tmp_path / "r0"})[0]
    assert got.source == "measured: run" and got.step_time_s == rec["median_step_time_s"]


def test_cli_plan_only_and_bad_options(tmp_path, capsys):
    args = ["audit", "--variant", "resnet_all", "--out", str(tmp_path), "--plan-only", "--step-time", "0.25",
            "--jobs", "3", "--executor", "ray"] + [a for k, v in TINY.items() if k != "threads"
                                                   for a in ("--set", f"{k}={v}")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "runs: 8, steps: 32 generator steps (32 discriminator updates" in out and "3 workers" in out
    assert "resnet_default/nondeterministic-s0-r1" in out
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written
    for bad, msg in ((["--jobs", "0"], "invalid --jobs 0"), (["--ray-address", "auto"], "needs --executor ray"),
                     (["--executor", "spark"], "invalid choice")):
        with pytest.raises(SystemExit) if "choice" in msg else _noop():
            rc = main(["audit", "--variant", "resnet_all", "--out", str(tmp_path), *bad])
            assert rc == 2
        assert msg in capsys.readouterr().err


class _noop:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unpicklable_step_callback_is_refused_before_any_process_starts(tmp_path):
    task = dataclasses.replace(_tasks(tmp_path, ("deterministic",))[0], step_callback=lambda trainer: None)
    ex = make_executor("local", jobs=2)
    with pytest.raises(ValueError, match="step callback of resnet_default/deterministic-s0-r0 cannot go to another"):
        ex.train([task])
    assert ex._pool is None and not task.run_dir.exists()
