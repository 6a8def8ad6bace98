"""How D sees a batch: one call on cat(real, fake) (compare_gan HEAD) or one call each (its 2018 code)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.arch import archdiff
from repro.config import TrainConfig, to_dict
from repro.data.split import ArraySplit
from repro.determinism import execution_mode
from repro.gan import architectures, batching
from repro.gan.normalization import SpectralNorm
from repro.train.loop import Trainer


def _d(norm, arch="resnet"):
    torch.manual_seed(0)
    d = architectures.build(TrainConfig(architecture=arch, d_norm=norm, width=0.0625))[1].double()
    archdiff.randomize_weights(d, torch.Generator().manual_seed(0))  # logits of order 1, not ~1e-4
    return d


def _batches(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(5, 1, 16, 16, generator=gen, dtype=torch.float64),
            torch.rand(3, 1, 16, 16, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("arch", ["resnet", "sndcgan"])
def test_without_batch_statistics_concat_and_split_agree(arch):
    d = _d("none", arch)
    real, fake = _batches()
    with torch.no_grad():
        cat_r, cat_f = batching.discriminate(d, real, fake, "concat")
        sep_r, sep_f = batching.discriminate(d, real, fake, "split")
    assert cat_r.shape == (5,) and cat_f.shape == (3,)
    # float64; only the batch size of the conv calls differs
    torch.testing.assert_close(cat_r, sep_r, rtol=0, atol=1e-12)
    torch.testing.assert_close(cat_f, sep_f, rtol=0, atol=1e-12)
    assert not torch.allclose(cat_r[:3], cat_f)  # the halves are not swapped or mixed


def test_with_batch_norm_concat_mixes_the_statistics():
    d = _d("bn")
    real, fake = _batches()
    with torch.no_grad():
        cat_r, _ = batching.discriminate(d, real, fake, "concat")
        sep_r, _ = batching.discriminate(d, real, fake, "split")
        other_r, _ = batching.discriminate(d, real, fake + 0.5, "concat")
    assert (cat_r - sep_r).abs().max() > 1e-3
    assert (cat_r - other_r).abs().max() > 1e-3  # the real logits depend on the fake half


def test_spectral_norm_advances_once_per_concat_and_twice_per_split():
    real, fake = _batches()
    counts = {}
    for how in ("concat", "split"):
        d = _d("sn")
        calls = []
        for m in d.modules():
            if isinstance(m, SpectralNorm):
                m.register_forward_hook(lambda *_: calls.append(1))
        n_layers = sum(isinstance(m, SpectralNorm) for m in d.modules())
        with torch.no_grad():
            batching.discriminate(d, real, fake, how)
        counts[how] = len(calls) / n_layers
    assert counts == {"concat": 1, "split": 2}


def test_discriminate_fake_for_the_generator_step():
    d = _d("bn")
    real, fake = _batches()
    with torch.no_grad():
        f_cat = batching.discriminate_fake(d, real, fake, "concat")
        f_sep = batching.discriminate_fake(d, real, fake, "split")
        torch.testing.assert_close(f_cat, batching.discriminate(d, real, fake, "concat")[1], rtol=0, atol=0)
        torch.testing.assert_close(f_sep, d(fake), rtol=0, atol=0)
    assert (f_cat - f_sep).abs().max() > 1e-3
    with pytest.raises(ValueError, match="valid choices: concat, split"):
        batching.discriminate(d, real, fake, "stack")


@pytest.fixture(scope="module")
def images() -> ArraySplit:
    rng = np.random.default_rng(0)
    return ArraySplit("synthetic", "train", "uniform", rng.random((16, 1, 16, 16), dtype=np.float32))


def _train(images, **kw):
    cfg = TrainConfig(**{"width": 0.0625, "batch_size": 4, "device": "cpu", "n_dis": 2, **kw})
    with execution_mode("deterministic"):
        trainer = Trainer(cfg, images)
        losses = [trainer.train_step()]  # two D updates and one G update: every D call of a step
    return trainer, losses


def test_trainer_concat_twice_gives_identical_bits(images):
    a, _ = _train(images, d_norm="bn", d_batch="concat")
    b, _ = _train(images, d_norm="bn", d_batch="concat")
    assert a.full_hash() == b.full_hash()


@pytest.mark.parametrize("norm", ["bn", "sn"])
def test_trainer_concat_and_split_differ_where_d_depends_on_its_batch(images, norm):
    a, la = _train(images, d_norm=norm, d_batch="concat")
    b, lb = _train(images, d_norm=norm, d_batch="split")
    assert a.param_hash() != b.param_hash()
    assert la[0]["d_loss"] != lb[0]["d_loss"]  # already the first D update sees different logits


def test_d_batch_is_recorded_and_checked():
    assert TrainConfig().d_batch == "concat"  # compare_gan HEAD's choice, for every preset
    assert to_dict(TrainConfig(d_batch="split"))["d_batch"] == "split"
    with pytest.raises(ValueError, match="invalid d_batch 'both'; valid choices: concat, split"):
        TrainConfig(d_batch="both")
