"""Speed settings keep the guarantees: the same bits where they promise the same bits, bitwise
repeatable where they change the kernels, the exact divergence step with deferred host reads,
and a record of whatever changes the bits. (Their speed is measured in benchmarks/.)"""

from __future__ import annotations

import io
import json

import pytest
import torch

from repro import rundir
from repro.config import TrainConfig
from repro.train import train
from repro.train.adam import EagerAdam
from repro.train.progress import Progress, format_eta


def _rows(run_dir, drop=("step_time_s",)):
    return [{k: v for k, v in r.items() if k not in drop} for r in rundir.read_trace(run_dir)]


@pytest.mark.parametrize("kind", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_eager_adam_is_torch_adam_bit_for_bit(kind):
    def run(cls):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))
        opt = cls(net.parameters(), lr=1e-2, betas=(0.5, 0.999), **kind)
        x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            net(x).square().mean().backward()
            opt.step()
        fresh = cls(net.parameters(), lr=1e-2, **kind)
        fresh.load_state_dict(opt.state_dict())
        return [p.detach().clone() for p in net.parameters()], fresh.state_dict()

    (p_ref, s_ref), (p_ours, s_ours) = run(torch.optim.Adam), run(EagerAdam)
    for a, b in zip(p_ref, p_ours):
        assert torch.equal(a, b)  # exact: the same kernels in the same order
    assert s_ref["param_groups"] == s_ours["param_groups"]
    for i, slots in s_ref["state"].items():
        for name, value in slots.items():
            assert torch.equal(value, s_ours["state"][i][name]), name


def test_deferred_reads_and_async_hashes_leave_the_trace_unchanged(tiny_cfg, tmp_path):
    reference = train(tiny_cfg, tmp_path / "ref", progress=False)
    fast = train(tiny_cfg.replace(sync_every=4, trace_async=True), tmp_path / "fast", progress=False)
    assert fast["final_param_hash"] == reference["final_param_hash"]
    assert _rows(tmp_path / "fast") == _rows(tmp_path / "ref")  # losses and every traced hash
    assert all(r["step_time_s"] > 0 for r in rundir.read_trace(tmp_path / "fast"))
    assert rundir.checkpoint_steps(tmp_path / "fast") == rundir.checkpoint_steps(tmp_path / "ref")


def test_deferred_reads_report_the_exact_divergence_step(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(lr=1e30, steps=12, checkpoint_every=3, trace_every=2)
    eager = train(cfg, tmp_path / "eager", progress=False)
    late = train(cfg.replace(sync_every=5, trace_async=True), tmp_path / "late", progress=False)
    assert eager["status"] == late["status"] == "diverged"
    assert late["diverged_step"] == eager["diverged_step"]  # every loss is kept, so the step is exact
    assert late["diverged_reason"] == eager["diverged_reason"]
    assert late["steps_completed"] == eager["steps_completed"] == late["diverged_step"] - 1
    step = late["diverged_step"]
    # nothing the non-finite updates reached is hashed in the trace or checkpointed
    assert all(s < step for s in rundir.checkpoint_steps(tmp_path / "late"))
    rows = rundir.read_trace(tmp_path / "late")
    assert [r["step"] for r in rows if "param_hash" in r] == [r["step"] for r in rundir.read_trace(tmp_path / "eager")
                                                             if "param_hash" in r]
    assert rows[-1] == {"step": step, "diverged": late["diverged_reason"].split(" is ")[0]}


@pytest.mark.parametrize("changes", [{"adam_impl": "fused"}, {"adam_impl": "foreach"},
                                     {"memory_format": "channels_last"}])
def test_kernel_settings_are_repeatable_and_recorded(tiny_cfg, tmp_path, changes):
    cfg = tiny_cfg.replace(steps=3, **changes)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    assert a["final_param_hash"] == b["final_param_hash"]
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")
    fp = json.loads((tmp_path / "a" / "fingerprint.json").read_text())
    assert fp["speed"] == changes  # a gate never matches it strictly against a default run
    assert rundir.read_config(tmp_path / "a") == cfg


def test_skipping_the_nan_fill_keeps_the_bits(tiny_cfg, tmp_path):
    # torch's deterministic mode fills every new tensor with NaN; no op of a training step reads
    # uninitialised memory, so skipping the fills changes nothing but the time
    cfg = tiny_cfg.replace(steps=3)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg.replace(fill_uninitialized_memory=False), tmp_path / "b", progress=False)
    assert a["final_param_hash"] == b["final_param_hash"] and _rows(tmp_path / "a") == _rows(tmp_path / "b")
    assert a["execution"]["fill_uninitialized_memory"] is True and b["execution"]["fill_uninitialized_memory"] is False
    speed = json.loads((tmp_path / "b" / "fingerprint.json").read_text())["speed"]
    assert speed == {"fill_uninitialized_memory": False}
    assert torch.utils.deterministic.fill_uninitialized_memory is True  # restored after the run


def test_default_run_records_no_speed_section(tiny_cfg, tmp_path):
    train(tiny_cfg.replace(steps=1), tmp_path / "r", progress=False)
    assert "speed" not in json.loads((tmp_path / "r" / "fingerprint.json").read_text())


def test_speed_fields_validated():
    with pytest.raises(ValueError, match=r"invalid adam_impl 'fast'; valid choices: auto, loop, foreach, fused"):
        TrainConfig(adam_impl="fast")
    with pytest.raises(ValueError, match="did you mean channels_last"):
        TrainConfig(memory_format="channel_last")
    with pytest.raises(ValueError, match="no double backward"):
        TrainConfig(compile="default", penalty="gp")
    with pytest.raises(ValueError, match="sync_every"):
        TrainConfig(sync_every=0)


@pytest.mark.slow
def test_compiled_deterministic_run_is_bit_identical_to_itself(tiny_cfg, tmp_path):
    # minutes on a CPU (Inductor compiles G and D, forward and backward, through a C++ compiler)
    cfg = tiny_cfg.replace(steps=3, compile="default")
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    eager = train(tiny_cfg.replace(steps=3), tmp_path / "eager", progress=False)
    assert a["status"] == "completed" and a["final_param_hash"] == b["final_param_hash"]
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")
    fp = json.loads((tmp_path / "a" / "fingerprint.json").read_text())
    assert fp["speed"]["compile"] == "default" and fp["speed"]["inductor_deterministic"] is True
    # Whether compiled equals eager is a fact to report, not a promise (Inductor fuses and reorders):
    print(f"compiled == eager: {a['final_param_hash'] == eager['final_param_hash']}")


# ---------------------------------------------------------------- progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_plain_lines_with_eta_in_logs():
    out = io.StringIO()
    bar = Progress(10, "train deterministic seed=0", stream=out, every_s=3600.0)
    bar.update(1, d_loss=1.5)
    bar.update(5, d_loss=1.25)  # within every_s: no line
    bar.update(10, d_loss=1.0)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("train deterministic seed=0: step 1/10 (") and "ETA " in lines[0]
    assert lines[1].endswith("ETA 0:00:00) d_loss=1")


def test_progress_bar_on_a_terminal_and_nothing_when_disabled():
    out = _Tty()
    bar = Progress(4, "train", stream=out, initial=1)
    for step in (2, 3, 4):
        bar.update(step, g_loss=0.5)
    bar.close()
    text = out.getvalue()
    assert "\r" in text and "4/4" in text and "g_loss=0.5" in text  # tqdm: redrawn in place
    quiet = _Tty()
    Progress(4, "train", stream=quiet, enabled=False).update(4)
    assert quiet.getvalue() == ""


def test_format_eta():
    assert format_eta(3725.4) == "1:02:05" and format_eta(float("inf")) == "?" and format_eta(float("nan")) == "?"
