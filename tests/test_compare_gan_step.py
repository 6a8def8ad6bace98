"""One full training step equals compare_gan's (reference_impls/compare_gan_step.py).

The package's ``Trainer.train_step`` (n_dis D updates, then the G update) against a transcription of
compare_gan's training loop written from its source: HEAD's GPU loop (the defaults) and the 2018 loop
that trained the paper's models (``g_step_fakes=rerun``, ``d_batch=split``; the loop's rules, on HEAD's
networks: the 2018 networks differ elsewhere, e.g. SNDCGAN's G batch-norm epsilon). The package's weights,
batch-norm statistics and spectral-norm vectors are transplanted into the transcription
(reference_impls/compare_gan_transplant.py), both take the step on the same real batches and z, and
then every parameter, every batch-norm moving average, every spectral-norm u and both Adam slots of
every parameter must agree.

Tolerance 1e-6, in float64 (weights rescaled so activations are of order 1, archdiff.randomize_weights):
the two sides compute the same real numbers in different orders (NHWC and TF's formulas against
NCHW and torch's kernels; TF's epsilon placement through torch's Adam, repro.train.adam), which leaves
~1e-13 in float64; 1e-6 is far above that and far below what each rule changes (the negative controls
below move the same comparison by more than 100 times that). Parameters are compared relative to the learning
rate (max |package - reference| / lr: Adam moves a weight with a gradient by about lr per update, so
an absolute tolerance on weights of order 1 would be loose), Adam slots relative to the largest entry
of that slot over the net (v is of order (1 - beta2) g^2; per tensor would not do: a conv bias right
before a batch norm has a zero gradient in exact arithmetic, and its slots hold rounding noise), moving
averages and u absolutely (they are of order 0.1-1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_impls import compare_gan_step as step_ref
from repro.arch import archdiff
from repro.arch.references import compare_gan_transplant as transplant_ref
from repro.config import TrainConfig
from repro.data.split import ArraySplit
from repro.determinism import execution_mode
from repro.train.loop import Trainer

TOL = 1e-6
BATCH, N_DIS = 8, 2
HEAD = {}  # the defaults: compare_gan HEAD's step
Y2018 = {"g_step_fakes": "rerun", "d_batch": "split"}  # the 2018 loop (81ba388)


def _cfg(arch, norm, **kw):
    res = 32 if arch == "resnet" else 16  # compare_gan's ResNet CIFAR is 32x32 only (resnet_cifar.py:71-72)
    return TrainConfig(architecture=arch, resolution=res, channels=3, width=0.0625, d_norm=norm, batch_size=BATCH,
                       n_dis=N_DIS, lr=1e-3, beta1=0.5, beta2=0.999, device="cpu", **kw)


def _images(cfg):
    rng = np.random.default_rng(0)
    return ArraySplit("synthetic", "train", "uniform",
                      rng.random((4 * BATCH, cfg.channels, cfg.resolution, cfg.resolution), dtype=np.float32))


def _step_both(cfg, rule, seed=0):
    """The package's step and the transcription's cycle from the same state and inputs; returns the
    per-category deviations ``{category: max deviation}`` and the package's losses."""
    with execution_mode("deterministic"):
        trainer = Trainer(cfg, _images(cfg))
        g, d = trainer.G.double(), trainer.D.double()  # the optimizers keep the same Parameter objects
        gen = torch.Generator().manual_seed(seed)
        for net in (g, d):
            archdiff.randomize_weights(net, gen)
        g_ref, d_ref = (m.double().train() for m in archdiff.reference_model("compare_gan", cfg, seed=seed + 1))
        transplant_ref.transplant((g, d), (g_ref, d_ref), cfg.architecture)
        build = transplant_ref._resnet_maps if cfg.architecture == "resnet" else transplant_ref._dcgan_maps
        g_map, d_map = build(g, d, g_ref, d_ref)
        before = {k: v.detach().clone() for net in (g_ref, d_ref) for k, v in net.store.vars.items()}

        inputs = []  # what the package's step drew, in order: x, z per D update (and the G update's z)
        real_batch, draw_z = trainer._real_batch, trainer._z
        trainer._real_batch = lambda: inputs.append(real_batch().double()) or inputs[-1]
        trainer._z = lambda n: inputs.append(draw_z(n).double()) or inputs[-1]
        losses = trainer.train_step()

    batches = [(inputs[2 * i], inputs[2 * i + 1]) for i in range(cfg.n_dis)]
    fresh_z = inputs[2 * cfg.n_dis] if len(inputs) > 2 * cfg.n_dis else None
    g_opt, d_opt = step_ref.optimizers(g_ref, d_ref, cfg.lr, cfg.beta1, cfg.beta2)
    d_loss_ref, g_loss_ref = step_ref.cycle(g_ref, d_ref, g_opt, d_opt, cfg.loss, batches, rule,
                                            split=cfg.d_batch == "split", fresh_z=fresh_z)
    dev = {"d_loss": abs(float(losses["d_loss"]) - float(d_loss_ref)),
           "g_loss": abs(float(losses["g_loss"]) - float(g_loss_ref))}
    for side, m, net_ref, opt, opt_ref in (("G", g_map, g_ref, trainer.opt_g, g_opt),
                                          ("D", d_map, d_ref, trainer.opt_d, d_opt)):
        refs = dict(net_ref.store.vars.items()) | dict(net_ref.store.named_buffers())
        params = dict((g if side == "G" else d).named_parameters())
        for pkg_name, tf_name, fn in m.entries:
            ours, theirs = fn(m.pkg[pkg_name].detach()), refs[tf_name].detach()
            if tf_name.endswith("u_var"):
                _worst(dev, f"{side} spectral-norm u", (ours - theirs).abs().max())
            elif "moving_" in tf_name:
                _worst(dev, f"{side} batch-norm moving averages", (ours - theirs).abs().max())
            else:
                _worst(dev, f"{side} largest parameter change / lr", (theirs - before[tf_name]).abs().max() / cfg.lr)
                _worst(dev, f"{side} parameters", (ours - theirs).abs().max() / cfg.lr)
                slots = opt.state[params[pkg_name]]
                for slot, ref_slot in (("exp_avg", opt_ref.m), ("exp_avg_sq", opt_ref.v)):
                    scale = max(float(t.abs().max()) for t in ref_slot.values())
                    _worst(dev, f"{side} Adam {slot}", (fn(slots[slot]) - ref_slot[tf_name]).abs().max() / scale)
        assert opt_ref.updates == (cfg.n_dis if side == "D" else 1)
        if cfg.adam_epsilon == "tf":
            assert opt.param_groups[0]["tf_step"] == opt_ref.updates
    return dev, losses


def _worst(dev, key, value):
    dev[key] = max(dev.get(key, 0.0), float(value))


def _assert_conforms(dev):
    moved = {k: v for k, v in dev.items() if k.endswith("change / lr")}
    assert all(v > 0.5 for v in moved.values()), moved  # the step did something to compare
    bad = {k: v for k, v in dev.items() if k not in moved and not v <= TOL}
    assert not bad, f"deviations above {TOL}: {bad} (all: {dev})"


CASES = [
    ("resnet", "sn", HEAD, "head"),
    ("resnet", "bn", HEAD, "head"),  # D's batch norm: moving averages from the concatenated batch, twice
    ("sndcgan", "sn", HEAD, "head"),
    ("resnet", "sn", Y2018, "2018"),
    ("resnet", "bn", Y2018, "2018"),
    ("sndcgan", "sn", Y2018, "2018"),
    ("resnet", "sn", {"g_step_fakes": "fresh", "d_batch": "split"}, "resample"),  # the 2018 WGAN_GP class
]


@pytest.mark.parametrize("arch,norm,choices,rule", CASES)
def test_one_training_step_equals_compare_gans(arch, norm, choices, rule):
    dev, _ = _step_both(_cfg(arch, norm, **choices), rule)
    _assert_conforms(dev)
    expected = {"G parameters", "D parameters", "G Adam exp_avg", "D Adam exp_avg_sq", "G batch-norm moving averages"}
    expected |= {"D spectral-norm u"} if norm == "sn" else {"D batch-norm moving averages"}
    assert expected <= set(dev)  # every kind of state was compared


@pytest.mark.parametrize("loss", ["wgan", "ls", "hinge"])
def test_the_step_conforms_under_the_other_losses(loss):
    _assert_conforms(_step_both(_cfg("resnet", "sn", loss=loss), "head")[0])


# ------------------------------------------------------------------ negative controls: each rule is seen
@pytest.mark.parametrize("arch,norm,change,where", [
    ("resnet", "sn", {"bn_variance": "unbiased"}, "G batch-norm moving averages"),
    ("resnet", "bn", {"bn_variance": "unbiased"}, "D batch-norm moving averages"),
    ("resnet", "sn", {"adam_epsilon": "torch"}, "D parameters"),
    ("resnet", "sn", {"g_step_fakes": "rerun"}, "G batch-norm moving averages"),  # G's batch norm steps twice
    ("resnet", "sn", {"g_step_fakes": "fresh"}, "G parameters"),
])
def test_each_torch_default_breaks_conformance_with_head(arch, norm, change, where):
    dev, _ = _step_both(_cfg(arch, norm, **change), "head")
    assert dev[where] > 100 * TOL, dev
