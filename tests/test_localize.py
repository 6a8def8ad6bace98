"""repro localize: a planted one-ulp divergence is named (op, module, phase, step), identical runs
are called identical, a 1- vs 2-thread pair is traced to the first op whose output differs, an op
whose inputs already differ is never blamed, and the recorder's cache changes no digest."""

from __future__ import annotations

import json

import pytest

from repro.cli import main
from repro.localize.compare import compare_records, output_difference
from repro.localize.locate import localize
from repro.localize.ops import OpRecord, iter_records
from repro.localize.replay import replay_window
from repro.localize.result import Localization
from repro.train import train
from repro.train.plant import ENV as PLANT

PLANTED = "D.layers.1.conv1"


def _op(index, op="aten.mm.default", inputs=("a",), outputs=("x",), module="D.fc", note="", step=1):
    return OpRecord(index=index, op=op, module=module, backward=False, node="", update="D1/1", stage="forward",
                    step=step, inputs=tuple(inputs), args="0", outputs=tuple(outputs), input_shapes=((2, 2),),
                    output_shapes=((2, 2),), dtypes=("float32",), device="cpu", note=note)


def test_an_op_whose_inputs_differ_is_never_blamed():
    a = [_op(0, inputs=("a",), outputs=("x",)),
         _op(1, op="aten.add.Tensor", inputs=("x",), outputs=("y",)),
         _op(2, op="aten.relu.default", inputs=("p",), outputs=("q",))]
    b = [_op(0, inputs=("a2",), outputs=("x2",)),  # inputs differ: outputs differ, but not its fault
         _op(1, op="aten.add.Tensor", inputs=("x2",), outputs=("y2",)),
         _op(2, op="aten.relu.default", inputs=("p",), outputs=("q2",))]  # equal inputs, other outputs
    result = compare_records(a, b)
    assert result.culprit is not None and result.culprit[0].index == 2 and result.culprit[0].op == "aten.relu.default"
    assert result.first_input_difference == 0 and result.compared == 1
    assert [(c.op, c.count) for c in result.table] == [("aten.relu.default", 1)]
    only_inputs = compare_records(a[:2], b[:2])
    assert only_inputs.culprit is None and only_inputs.table == () and only_inputs.differing_outputs == 0


def test_counts_sequence_splits_and_uninitialised_outputs():
    a = [_op(0, op="aten.empty.memory_format", outputs=("junk1",), note="uninitialised output"),
         _op(1, outputs=("x",)), _op(2, outputs=("y",)), _op(3, outputs=("z",)),
         _op(4, op="aten.sum.default", outputs=("s",))]
    b = [_op(0, op="aten.empty.memory_format", outputs=("junk2",), note="uninitialised output"),
         _op(1, outputs=("x2",)), _op(2, outputs=("y",)), _op(3, outputs=("z2",)),
         _op(4, op="aten.mean.default", outputs=("s",))]
    result = compare_records(a, b)
    assert result.culprit[0].index == 1  # the empty op is not compared
    assert [(c.op, c.module, c.count, c.first_index) for c in result.table] == [("aten.mm.default", "D.fc", 2, 1)]
    assert result.sequence[0].op == "aten.sum.default" and result.sequence[1].op == "aten.mean.default"
    shorter = compare_records(a[1:3], b[1:2])
    assert shorter.sequence == (a[2], None) and shorter.ops_a == 2 and shorter.ops_b == 1


def test_output_difference_measures_bits_and_sizes():
    import torch

    x = torch.tensor([1.0, 2.0, 0.0, float("nan")])
    y = x.clone()
    y[1] = torch.nextafter(y[1], torch.tensor(9.0))
    size = output_difference([x, torch.zeros(2)], [y, torch.zeros(2)])
    assert size["elements_differing"] == 1 and size["elements"] == 6
    assert size["max_abs_diff"] == pytest.approx(2.0 ** -22) and size["max_rel_diff"] == pytest.approx(2.0 ** -23, rel=0.01)


def _train(cfg, out, monkeypatch, plant=None):
    if plant is None:
        monkeypatch.delenv(PLANT, raising=False)
    else:
        monkeypatch.setenv(PLANT, plant)
    return train(cfg, out, progress=False)


def test_a_planted_one_ulp_divergence_is_named_and_identical_runs_are_identical(tiny_cfg, tmp_path, monkeypatch):
    """Replicate a's layer D.layers.1.conv1 moves one output element one ulp at step 3 (a custom op
    whose result depends on the process's REPRO_PLANT, as a nondeterministic kernel's would); b runs
    the same op without the change. The first state difference is step 3; the replay starts at the
    checkpoint of step 2 and names that op, module, update and step."""
    cfg = tiny_cfg.replace(n_dis=2, steps=4, checkpoint_every=2, threads=1)
    a = _train(cfg, tmp_path / "a", monkeypatch, f"{PLANTED}:3:1")
    b = _train(cfg, tmp_path / "b", monkeypatch, f"{PLANTED}:3:0")
    c = _train(cfg, tmp_path / "c", monkeypatch, f"{PLANTED}:3:0")
    monkeypatch.delenv(PLANT)  # the replays must take each run's plant from its fingerprint, not from here
    assert a["final_param_hash"] != b["final_param_hash"] == c["final_param_hash"]

    same = localize(tmp_path / "b", tmp_path / "c")
    assert same.status == "identical" and same.culprit is None and same.nondeterministic_ops == ()

    result = localize(tmp_path / "a", tmp_path / "b", out=tmp_path / "loc", measure=False)  # sized in the next test
    assert result.status == "localised", result.summary()
    assert (result.first_divergent_step, result.checkpoint_step) == (3, 2)
    culprit = result.culprit
    assert culprit.op == "repro_plant.nudge.default" and culprit.module == PLANTED
    assert (culprit.a.step, culprit.a.phase, culprit.a.backward) == (3, "D1/2 forward", False)
    assert culprit.a.same_inputs(culprit.b) and culprit.a.outputs != culprit.b.outputs
    assert {row.op for row in result.nondeterministic_ops} == {"repro_plant.nudge.default"}
    assert all(r["reproduced"] for r in result.replays.values())
    assert result.replays["a"]["env"][PLANT].endswith(":3:1") and result.replays["b"]["env"][PLANT].endswith(":3:0")
    assert result.replays["a"]["pid"] != result.replays["b"]["pid"]
    saved = json.loads((tmp_path / "loc" / "localization.json").read_text())
    assert Localization.from_dict(saved) == result
    assert sum(1 for _ in iter_records(tmp_path / "loc" / "a.ops.jsonl")) == result.ops_a


def test_one_thread_against_two_is_traced_to_the_first_op_whose_output_differs(tiny_cfg, tmp_path, monkeypatch, capsys):
    """The tiny config at 1 and 2 intra-op threads (on the 2-core AMD EPYC we develop on: parts at
    step 1, in the weight gradient of a D convolution, aten.convolution_backward; every forward op
    agrees)."""
    monkeypatch.delenv(PLANT, raising=False)
    cfg = tiny_cfg.replace(steps=2, checkpoint_every=2)
    one = train(cfg.replace(threads=1), tmp_path / "t1", progress=False)
    two = train(cfg.replace(threads=2), tmp_path / "t2", progress=False)
    if one["final_param_hash"] == two["final_param_hash"]:
        pytest.skip("1 and 2 threads give the same bits for the tiny config on this CPU")
    assert main(["localize", str(tmp_path / "t1"), str(tmp_path / "t2"), "--json"]) == 0
    result = Localization.from_dict(json.loads(capsys.readouterr().out))
    assert result.status == "localised" and result.culprit is not None, result.summary()
    a, b = result.culprit.a, result.culprit.b
    assert a.same_inputs(b) and a.outputs != b.outputs and a.module.startswith(("G", "D"))
    # sized by a second replay of each side that stops at this op (a backward op here: the stop
    # crosses the autograd engine) and saves its outputs
    c = result.culprit
    assert 0 < c.elements_differing <= c.elements and 0 < c.max_abs_diff < 1e-3 and 0 < c.max_rel_diff and not c.diff_note
    assert (result.replays["a"]["torch_threads"], result.replays["b"]["torch_threads"]) == (1, 2)
    assert result.replays["a"]["reproduced"] and result.replays["b"]["reproduced"]
    assert result.nondeterministic_ops and result.nondeterministic_ops[0].first_index == a.index


def test_the_recorder_cache_changes_no_digest_and_backward_ops_get_their_module(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv(PLANT, raising=False)
    cfg = tiny_cfg.replace(steps=1, checkpoint_every=1, threads=1, n_dis=2)
    train(cfg, tmp_path / "run", progress=False)
    import repro.localize.replay as replay_module
    from repro.localize import record

    cached = replay_window(tmp_path / "run", 0, 1, tmp_path / "cached.jsonl")
    real = record.Recorder
    monkeypatch.setattr(replay_module, "Recorder", lambda *a, **k: real(*a, **{**k, "cache": False}))
    fresh = replay_window(tmp_path / "run", 0, 1, tmp_path / "fresh.jsonl")
    assert cached["trace"] == fresh["trace"] and cached["ops"] == fresh["ops"] > 500
    assert (tmp_path / "cached.jsonl").read_text() == (tmp_path / "fresh.jsonl").read_text()
    records = list(iter_records(tmp_path / "cached.jsonl"))
    conv_bwd = [r for r in records if r.op == "aten.convolution_backward.default"]
    assert conv_bwd and all(r.backward and r.module.startswith(("G.", "D.")) for r in conv_bwd)
    assert {r.update for r in records} == {"D1/2", "D2/2", "G"}
    assert {r.stage for r in records} == {"data", "forward", "backward", "optimiser", "losses"}
    assert any(r.module.startswith("D.") and r.node == "torch::autograd::AccumulateGrad" for r in records)


def test_localize_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["localize", str(tmp_path), str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_divergence_that_does_not_recur_in_replay_is_not_localised_and_says_why(tiny_cfg, tmp_path, monkeypatch):
    """Run b is run a with its trace saying otherwise from step 2 on (what a race that struck b's
    training process once leaves behind): both replays give a's states, so nothing is named."""
    import shutil

    monkeypatch.delenv(PLANT, raising=False)
    cfg = tiny_cfg.replace(steps=2, checkpoint_every=1, threads=1)
    train(cfg, tmp_path / "a", progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    trace = tmp_path / "b" / "trace.jsonl"
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    rows[-1]["param_hash"] = "f" * 64
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = localize(tmp_path / "a", tmp_path / "b", measure=False)
    assert result.status == "not localised" and result.culprit is None
    assert (result.first_divergent_step, result.checkpoint_step) == (2, 1)
    assert "did not diverge" in result.reason and "side b" in result.reason
    assert result.replays["a"]["reproduced"] is True and result.replays["b"]["reproduced"] is False


def test_runs_of_different_seeds_are_not_blamed_on_an_op(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv(PLANT, raising=False)
    cfg = tiny_cfg.replace(steps=1, checkpoint_every=1, threads=1)
    train(cfg, tmp_path / "a", progress=False)
    train(cfg.replace(seed=1), tmp_path / "b", progress=False)
    result = localize(tmp_path / "a", tmp_path / "b", measure=False)
    assert result.status == "not localised" and result.culprit is None and result.nondeterministic_ops == ()
    assert "different states at step 0" in result.reason and "seed" in result.config_differences


def test_the_localization_record_round_trips_and_checks_its_status():
    from repro.localize.compare import OpCount
    from repro.localize.result import Culprit, SequenceSplit

    a, b = _op(4, outputs=("x",)), _op(4, outputs=("y",))
    full = Localization("localised", "", "runs/a", "runs/b", 10, 5, Culprit(a, b, 1e-7, 2e-7, 3, 64),
                        SequenceSplit(9, _op(9, op="aten.sum.default"), None),
                        (OpCount("aten.mm.default", "D.fc", False, 2, 4, 6, "D1/1 forward"),), 12, 11, 8,
                        ("seed",), {"a": {"pid": 1}, "b": {"pid": 2}})
    assert Localization.from_dict(json.loads(json.dumps(full.to_dict()))) == full
    assert "aten.mm.default in D.fc" in full.summary() and "max abs diff 1e-07" in full.summary()
    with pytest.raises(ValueError, match="not one of"):
        Localization("maybe", "", "a", "b")
