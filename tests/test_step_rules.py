"""The four rules of a training step where torch's defaults and compare_gan's differ, one by one:
batch-norm running variance, Adam's epsilon, the fakes the G update scores, the weight init. Each is a
config field with compare_gan HEAD's choice as the default (tests/test_compare_gan_step.py holds a
whole step against a transcription of compare_gan's)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repro import rundir
from repro.arch import archdiff
from repro.config import TrainConfig, parse_overrides, to_dict
from repro.data.split import ArraySplit
from repro.determinism import execution_mode
from repro.gan import architectures, normalization, presets
from repro.train import train
from repro.train.adam import EagerAdam, TFAdam, make_adam, tf_epsilon
from repro.train.loop import Trainer

HEAD = {"bn_variance": "biased", "adam_epsilon": "tf", "g_step_fakes": "reuse", "init": "normal"}
OTHER = {"bn_variance": "unbiased", "adam_epsilon": "torch", "g_step_fakes": "rerun", "init": "truncated_normal"}


# ------------------------------------------------------------------ config
def test_defaults_are_compare_gan_heads_for_every_preset():
    assert {k: getattr(TrainConfig(), k) for k in HEAD} == HEAD
    for name in presets.names():
        cfg = presets.config_for(name)
        assert {k: getattr(cfg, k) for k in HEAD} == HEAD, name


@pytest.mark.parametrize("field,valid", [("bn_variance", "biased, unbiased"), ("adam_epsilon", "tf, torch"),
                                         ("g_step_fakes", "reuse, rerun, fresh"), ("init", "normal, truncated_normal")])
def test_each_rule_is_validated_with_its_choices(field, valid):
    with pytest.raises(ValueError, match=f"invalid {field} 'x'; valid choices: {valid}"):
        TrainConfig(**{field: "x"})


def test_the_other_choices_are_selectable_with_set_and_recorded_in_config_json(tiny_cfg, tmp_path):
    changes = parse_overrides([f"{k}={v}" for k, v in OTHER.items()])
    assert changes == OTHER
    cfg = tiny_cfg.replace(steps=1, checkpoint_every=1, **changes)
    train(cfg, tmp_path / "run", progress=False)
    recorded = json.loads((tmp_path / "run" / rundir.CONFIG).read_text())
    assert {k: recorded[k] for k in OTHER} == OTHER
    assert rundir.read_config(tmp_path / "run") == cfg
    assert {k: to_dict(TrainConfig())[k] for k in HEAD} == HEAD  # a default run records them too


# ------------------------------------------------------------------ batch-norm running variance
@pytest.mark.parametrize("cls,shape", [(normalization.BatchNorm2d, (6, 3, 4, 4)), (normalization.BatchNorm1d, (6, 5))])
def test_biased_running_variance_is_compare_gans_moving_average(cls, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 + 1
    torch_bn, ours = nn.BatchNorm2d if cls is normalization.BatchNorm2d else nn.BatchNorm1d, cls
    ref, biased, unbiased = torch_bn(shape[1]).double(), ours(shape[1]).double(), ours(shape[1]).double()
    biased.variance = "biased"
    dims = [0, *range(2, x.dim())]
    for _ in range(3):
        out_ref, out_b, out_u = ref(x), biased(x), unbiased(x)
    assert torch.equal(out_u, out_ref) and torch.equal(unbiased.running_var, ref.running_var)  # torch's, bit for bit
    torch.testing.assert_close(out_b, out_ref, rtol=0, atol=1e-12)  # the normalization itself is the same
    var = x.var(dim=dims, unbiased=False)
    decay = 0.9  # v -= (v - var) * (1 - decay), three times from 1 (arch_ops.py:110-114, moving_variance starts at 1)
    expected = torch.ones_like(var)
    for _ in range(3):
        expected = expected - (expected - var) * (1 - decay)
    torch.testing.assert_close(biased.running_var, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(biased.running_mean, ref.running_mean, rtol=0, atol=1e-12)
    n = x.numel() // shape[1]
    assert not torch.allclose(biased.running_var, ref.running_var, rtol=1e-3 / n, atol=0)
    assert int(biased.num_batches_tracked) == 3
    biased.eval()
    torch.testing.assert_close(biased(x), F.batch_norm(x, biased.running_mean, expected, biased.weight, biased.bias,
                                                       False, 0.0, biased.eps), rtol=0, atol=1e-12)


@pytest.mark.parametrize("arch,norm", [("resnet", "bn"), ("resnet19", "bn"), ("sndcgan", "sn"), ("dcgan", "bn")])
def test_every_batch_norm_of_every_architecture_follows_the_config(arch, norm):
    for variance in ("biased", "unbiased"):
        g, d = architectures.build(TrainConfig(architecture=arch, d_norm=norm, width=0.0625, bn_variance=variance))
        bns = [m for net in (g, d) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert bns and all(m.variance == variance for m in bns)
    with pytest.raises(TypeError, match="plain BatchNorm2d"):
        normalization.set_bn_variance(nn.Sequential(nn.BatchNorm2d(3)), "biased")


# ------------------------------------------------------------------ Adam's epsilon
def _tf_adam_reference(params, grads_per_step, lr, beta1, beta2, eps):
    """tf.train.AdamOptimizer's documented update (tensorflow/python/training/adam.py), float64."""
    params = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t, grads in enumerate(grads_per_step, start=1):
        lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            params[i] = params[i] - lr_t * m[i] / (v[i].sqrt() + eps)
    return params, m, v


@pytest.mark.parametrize("impl", ["loop", "foreach", "fused"])
def test_tf_epsilon_is_tensorflows_update_with_every_torch_kernel(impl):
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(4, 3, generator=gen, dtype=torch.float64), torch.randn(5, generator=gen, dtype=torch.float64)]
    # gradients from 1e-9 (where the epsilons differ most) to 1
    grads = [[torch.randn(p.shape, generator=gen, dtype=torch.float64) * 10.0 ** -torch.randint(0, 10, p.shape,
                                                                                                 generator=gen)
              for p in params] for _ in range(5)]
    cfg = TrainConfig(lr=1e-3, beta1=0.5, beta2=0.999, adam_impl=impl)
    leaves = [nn.Parameter(p.clone()) for p in params]
    opt = make_adam(leaves, cfg)
    assert isinstance(opt, TFAdam)
    for step_grads in grads:
        for leaf, g in zip(leaves, step_grads):
            leaf.grad = g.clone()
        opt.step()
    expected, m, v = _tf_adam_reference(params, grads, cfg.lr, cfg.beta1, cfg.beta2, 1e-8)
    for leaf, e, mi, vi in zip(leaves, expected, m, v):
        torch.testing.assert_close(leaf.detach(), e, rtol=0, atol=1e-15)  # float64: rounding only
        torch.testing.assert_close(opt.state[leaf]["exp_avg"], mi, rtol=1e-14, atol=0)
        torch.testing.assert_close(opt.state[leaf]["exp_avg_sq"], vi, rtol=1e-14, atol=0)
    # and it is not torch's: the small gradients move differently
    torch_leaves = [nn.Parameter(p.clone()) for p in params]
    torch_opt = make_adam(torch_leaves, cfg.replace(adam_epsilon="torch"))
    assert type(torch_opt) is EagerAdam
    for step_grads in grads:
        for leaf, g in zip(torch_leaves, step_grads):
            leaf.grad = g.clone()
        torch_opt.step()
    assert max((a - b).abs().max() for a, b in zip(torch_leaves, leaves)) > 1e-4


def test_tf_epsilon_values():
    assert tf_epsilon(1e-8, 0.999, 1) == pytest.approx(1e-8 / math.sqrt(0.001))
    assert tf_epsilon(1e-8, 0.999, 100_000) == pytest.approx(1e-8)


def test_a_restored_tf_adam_continues_the_same_sequence():
    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 1))

    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))

    def steps(model, opt, n):
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            opt.step()

    cfg = TrainConfig(lr=1e-2)
    a = net()
    opt_a = make_adam(a.parameters(), cfg)
    steps(a, opt_a, 5)
    b = net()
    opt_b = make_adam(b.parameters(), cfg)
    steps(b, opt_b, 2)
    c = net()
    c.load_state_dict(b.state_dict())
    opt_c = make_adam(c.parameters(), cfg)
    opt_c.load_state_dict(opt_b.state_dict())  # as a checkpoint resume does
    assert opt_c.param_groups[0]["tf_step"] == 2 and opt_c.param_groups[0]["tf_eps"] == 1e-8
    steps(c, opt_c, 3)
    for p, q in zip(a.parameters(), c.parameters()):
        assert torch.equal(p, q)
    torch_opt = make_adam(net().parameters(), cfg.replace(adam_epsilon="torch"))
    opt_d = make_adam(net().parameters(), cfg)
    opt_d.load_state_dict(torch_opt.state_dict())
    with pytest.raises(ValueError, match="adam_epsilon=torch"):
        opt_d.step()


# ------------------------------------------------------------------ the G update's fakes
@pytest.fixture(scope="module")
def images() -> ArraySplit:
    return ArraySplit("synthetic", "train", "uniform",
                      np.random.default_rng(0).random((32, 1, 16, 16), dtype=np.float32))


def _one_step(images, **kw):
    cfg = TrainConfig(width=0.0625, batch_size=4, device="cpu", n_dis=3, **kw)
    with execution_mode("deterministic"):
        trainer = Trainer(cfg, images)
        calls, draws = [], []
        trainer.G.register_forward_hook(lambda m, i, o: calls.append(torch.is_grad_enabled()))
        draw = trainer._z
        trainer._z = lambda n: draws.append(n) or draw(n)
        trainer.train_step()
    return trainer, calls, len(draws)


def test_g_step_fakes_reuse_rerun_fresh(images):
    reuse, calls_reuse, z_reuse = _one_step(images, g_step_fakes="reuse")
    rerun, calls_rerun, z_rerun = _one_step(images, g_step_fakes="rerun")
    fresh, calls_fresh, z_fresh = _one_step(images, g_step_fakes="fresh")
    # reuse: G runs once per D update, the last time with its graph kept for the G update
    assert calls_reuse == [False, False, True] and z_reuse == 3
    assert calls_rerun == [False, False, False, True] and z_rerun == 3  # the same z again
    assert calls_fresh == [False, False, False, True] and z_fresh == 4  # a new z
    # reuse and rerun score the same images: the same updates, G's batch norm aside
    same = {k: v for k, v in reuse.model_states()["generator"].items() if "running" not in k and "num_batches" not in k}
    for k, v in same.items():
        assert torch.equal(v, rerun.model_states()["generator"][k]), k
    assert reuse.param_hash() != rerun.param_hash()  # G's batch norm stepped once more under rerun
    bn = next(m for m in reuse.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert int(bn.num_batches_tracked) == 3
    assert int(next(m for m in rerun.G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
               .num_batches_tracked) == 4
    assert fresh.param_hash() not in (reuse.param_hash(), rerun.param_hash())


# ------------------------------------------------------------------ init
def _weights(cfg):
    g, d = archdiff._build(cfg)
    return {f"{side}.{n}": m for side, net in (("G", g), ("D", d)) for n, m in net.named_modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))}


def test_truncated_normal_truncates_conv_kernels_only():
    layers = _weights(TrainConfig(architecture="resnet", resolution=32, width=1.0, init="truncated_normal"))
    convs = torch.cat([m.weight.detach().flatten() for m in layers.values() if type(m) is nn.Conv2d])
    others = torch.cat([m.weight.detach().flatten() for m in layers.values() if type(m) is not nn.Conv2d])
    assert convs.abs().max() <= 0.04  # 2 std: tf.truncated_normal_initializer redraws beyond
    # the std of N(0, 0.02) truncated at +-2 std: 0.02 * sqrt(1 - 2 phi(2) * 2 / (2 Phi(2) - 1)) = 0.01759
    assert convs.std().item() == pytest.approx(0.01759, rel=0.01)
    assert others.abs().max() > 0.06 and others.std().item() == pytest.approx(0.02, rel=0.02)  # linear: N(0, 0.02)
    normal = torch.cat([m.weight.detach().flatten() for m in _weights(TrainConfig(architecture="resnet", resolution=32,
                                                                                  width=1.0)).values()])
    assert normal.abs().max() > 0.08 and normal.std().item() == pytest.approx(0.02, rel=0.01)


def test_sndcgan_builds_the_same_weights_under_both_inits():
    # the 2018 SNDCGAN gave its convs random_normal explicitly; its G has only linear and deconv layers
    a = _weights(TrainConfig(architecture="sndcgan", width=0.25))
    b = _weights(TrainConfig(architecture="sndcgan", width=0.25, init="truncated_normal"))
    assert all(torch.equal(a[k].weight, b[k].weight) for k in a)


def test_a_run_recorded_before_the_fields_existed_reads_as_torchs_rules(tiny_cfg, tmp_path):
    cfg = tiny_cfg.replace(steps=2, checkpoint_every=1)
    train(cfg, tmp_path / "run", progress=False)
    path = tmp_path / "run" / rundir.CONFIG
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in HEAD}  # as an older repro wrote it
    path.write_text(json.dumps(old))
    recorded = rundir.read_config(tmp_path / "run")
    assert {k: getattr(recorded, k) for k in HEAD} == {"bn_variance": "unbiased", "adam_epsilon": "torch",
                                                         "g_step_fakes": "fresh", "init": "normal"}
    with pytest.raises(ValueError, match="bn_variance.*adam_epsilon.*g_step_fakes"):
        train(cfg, tmp_path / "run", resume=True, progress=False)  # not continued under other rules
