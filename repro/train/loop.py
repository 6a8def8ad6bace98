"""One GAN training run in memory: models, optimisers, random streams and the update step.

A *step* is one generator update preceded by ``n_dis`` discriminator updates (so
``steps=1000, n_dis=5`` is 5000 D updates). compare_gan counts discriminator steps
instead; we count generator steps so that a step's cost and a checkpoint's meaning
do not change with ``n_dis``.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import torch

from repro import data, hashing
from repro.config import TrainConfig, to_dict
from repro.determinism import derive_seed, resolve_device, seed_globals, torch_generator
from repro.gan import architectures, batching, losses, penalties
from repro.gan.sampling import sample_z


class Diverged(RuntimeError):
    """A loss became NaN or infinite; the update that would apply it was not taken."""

    def __init__(self, step: int, what: str, value: float):
        super().__init__(f"{what} is {value} at step {step}")
        self.step, self.what, self.value = step, what, value


class Trainer:
    """Everything one run holds. Build it inside :func:`repro.determinism.execution_mode`."""

    def __init__(self, cfg: TrainConfig, data_split: "data.ImageSplit | None" = None):
        """``data_split`` replaces the config's dataset (benchmarks use synthetic images)."""
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        seed_globals(cfg.seed)
        torch.manual_seed(derive_seed(cfg.seed, "init"))  # model init: its own stream
        generator, discriminator = architectures.build(cfg)
        self.G, self.D = generator.to(self.device), discriminator.to(self.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.loss_fn = losses.get(cfg.loss)
        self.penalty_fn = penalties.get(cfg.penalty)
        self.data = data_split or data.load(cfg.dataset, "train", root=cfg.data_root, recipe=cfg.recipe)
        expected = (cfg.channels, cfg.resolution, cfg.resolution)
        if tuple(self.data.shape) != expected:
            raise ValueError(
                f"dataset {cfg.dataset!r} gives images of shape {tuple(self.data.shape)} (C, H, W) but the config "
                f"asks for channels={cfg.channels}, resolution={cfg.resolution}; set them to match "
                f"(e.g. --set channels={self.data.shape[0]} --set resolution={self.data.shape[1]})")
        self.sampler = data.EpochSampler(len(self.data), cfg.batch_size, derive_seed(cfg.seed, "data"))
        self.z_gen = torch_generator(cfg.seed, "z")
        self.penalty_gen = torch_generator(cfg.seed, "penalty")
        self.step = 0

    # ------------------------------------------------------------------ update
    def _real_batch(self) -> torch.Tensor:
        x = self.data.batch(self.sampler.next_indices()).to(self.device)
        return architectures.to_model_range(x, self.D.input_range)

    def _z(self, n: int) -> torch.Tensor:
        return sample_z(n, self.cfg.z_dim, self.z_gen).to(self.device)

    def train_step(self) -> dict[str, float]:
        """n_dis discriminator updates, then one generator update. Raises :class:`Diverged`."""
        cfg, step = self.cfg, self.step + 1
        self.G.train()
        self.D.train()
        self.D.requires_grad_(True)
        for _ in range(cfg.n_dis):
            x_real = self._real_batch()
            with torch.no_grad():
                x_fake = self.G(self._z(x_real.shape[0]))
            d_real, d_fake = batching.discriminate(self.D, x_real, x_fake, cfg.d_batch)
            d_loss = self.loss_fn(d_real, d_fake)[0]
            penalty = self.penalty_fn(self.D, x_real, x_fake, generator=self.penalty_gen,
                                      data_range=self.D.input_range)
            d_total = d_loss + cfg.penalty_weight * penalty
            _check_finite(step, "discriminator loss", d_total)
            self.opt_d.zero_grad(set_to_none=True)
            d_total.backward()
            self.opt_d.step()
        self.D.requires_grad_(False)  # the G update needs gradients through D, not for D
        d_fake_g = batching.discriminate_fake(self.D, x_real, self.G(self._z(cfg.batch_size)), cfg.d_batch)
        g_loss = self.loss_fn(d_real.detach(), d_fake_g)[1]
        _check_finite(step, "generator loss", g_loss)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.step = step
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), "penalty": float(penalty.detach())}

    # ------------------------------------------------------------------ state
    def model_states(self) -> dict[str, Any]:
        return {"generator": self.G.state_dict(), "discriminator": self.D.state_dict()}

    def train_states(self) -> dict[str, Any]:
        return {**self.model_states(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def param_hash(self) -> str:
        """Exact hash of every G and D parameter and buffer (``final_param_hash``)."""
        return hashing.state_hash(self.model_states())

    def full_hash(self) -> str:
        """Exact hash of parameters, buffers and optimiser state (the trace's ``param_hash``)."""
        return hashing.state_hash(self.train_states())

    def named_digests(self) -> dict[str, str]:
        """Per-tensor hashes with optimiser slots named after their parameters."""
        states = self.model_states()
        for opt_name, opt, net in (("opt_g", self.opt_g, self.G), ("opt_d", self.opt_d, self.D)):
            names = [n for n, _ in net.named_parameters()]
            slots = opt.state_dict()["state"]
            states[opt_name] = {names[i]: slot for i, slot in slots.items()}
        return hashing.tensor_digests(states)

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed for a bit-exact resume (loadable with ``weights_only=True``)."""
        np_state = np.random.get_state(legacy=False)
        return {
            "step": self.step,
            "config": to_dict(self.cfg),
            **self.train_states(),
            "sampler": self.sampler.state_dict(),
            "rng": {
                "python": random.getstate(),
                "numpy": {"bit_generator": np_state["bit_generator"], "key": np_state["state"]["key"].tolist(),
                          "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                          "gauss": float(np_state["gauss"])},
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "z": self.z_gen.get_state(),
                "penalty": self.penalty_gen.get_state(),
            },
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.G.load_state_dict(ckpt["generator"])
        self.D.load_state_dict(ckpt["discriminator"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        self.sampler.load_state_dict(ckpt["sampler"])
        rng = ckpt["rng"]
        random.setstate(_as_tuple(rng["python"]))
        np_rng = rng["numpy"]
        np.random.set_state({"bit_generator": np_rng["bit_generator"],
                             "state": {"key": np.asarray(np_rng["key"], dtype=np.uint32), "pos": np_rng["pos"]},
                             "has_gauss": np_rng["has_gauss"], "gauss": np_rng["gauss"]})
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.z_gen.set_state(rng["z"])
        self.penalty_gen.set_state(rng["penalty"])
        self.step = int(ckpt["step"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def _check_finite(step: int, what: str, value: torch.Tensor) -> None:
    v = float(value.detach())
    if not math.isfinite(v):
        raise Diverged(step, what, v)


def timed_step(trainer: Trainer) -> tuple[dict[str, float], float]:
    """One step and its wall time in seconds (synchronising CUDA so the time is the step's)."""
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    losses_now = trainer.train_step()
    sync()
    return losses_now, time.perf_counter() - start
