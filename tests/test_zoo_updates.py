"""Every registered loss x penalty x D normalization x architecture trains one step with finite gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from repro.config import TrainConfig
from repro.data.split import ArraySplit
from repro.determinism import execution_mode
from repro.gan import architectures, losses, normalization, penalties
from repro.train.loop import Trainer

COMBOS = list(itertools.product(losses.REGISTRY.names(), penalties.REGISTRY.names(), normalization.NORMS,
                                architectures.REGISTRY.names()))


def test_grid_covers_every_registered_name():
    assert len(COMBOS) == 5 * 4 * 4 * 4


@pytest.fixture(scope="module")
def images() -> ArraySplit:
    rng = np.random.default_rng(0)
    return ArraySplit("synthetic", "train", "uniform", rng.random((16, 1, 16, 16), dtype=np.float32))


@pytest.mark.parametrize("loss,penalty,norm,arch", COMBOS)
def test_one_d_and_one_g_update_gives_finite_gradients(loss, penalty, norm, arch, images):
    cfg = TrainConfig(architecture=arch, loss=loss, penalty=penalty, penalty_weight=10.0, d_norm=norm,
                      width=0.0625, batch_size=4, device="cpu")
    with execution_mode("deterministic"):
        trainer = Trainer(cfg, images)
        before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
        values = trainer.train_step()
    assert all(bool(torch.isfinite(v)) for v in values.values()), values  # 0-dim tensors on the device
    for net in (trainer.G, trainer.D):
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    changed = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the generator update changed nothing"
