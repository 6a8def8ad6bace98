"""One GAN training run in memory: models, optimisers, random streams and the update step.

A *step* is one generator update preceded by ``n_dis`` discriminator updates (so
``steps=1000, n_dis=5`` is 5000 D updates). compare_gan counts discriminator steps
instead; we count generator steps so that a step's cost and a checkpoint's meaning
do not change with ``n_dis``.

Speed settings (config fields; ``benchmarks/gpu_step.py`` and ``benchmarks/train_step.py`` measure
each): ``adam_impl`` picks torch's Adam kernel (``fused``: one kernel per optimiser step),
``memory_format=channels_last`` stores models and image batches NHWC (cuDNN's tensor-core
layout), ``compile`` wraps G and D in ``torch.compile``, ``sync_every`` > 1 keeps the losses on
the device between host reads (see :mod:`repro.train.steps`). Each of the first three changes a
run's bits and is recorded (:func:`speed_settings`); none weakens determinism.
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
from repro.determinism import derive_seed, resolve_device, seed_globals, sync_inductor, torch_generator
from repro.errors import InputError
from repro.gan import architectures, batching, losses, penalties
from repro.gan.sampling import sample_z
from repro.train import phase, plant
from repro.train.adam import make_adam


class Diverged(RuntimeError):
    """A loss became NaN or infinite; the update that would apply it was not taken."""

    def __init__(self, step: int, what: str, value: float):
        super().__init__(f"{what} is {value} at step {step}")
        self.step, self.what, self.value = step, what, value
        self.rows: list[dict[str, Any]] = []  # trace rows of the finished steps before ``step`` (steps.Stepper)


class Trainer:
    """Everything one run holds. Build it inside :func:`repro.determinism.execution_mode`."""

    def __init__(self, cfg: TrainConfig, data_split: "data.ImageSplit | None" = None):
        """``data_split`` replaces the config's dataset (benchmarks use synthetic images)."""
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        seed_globals(cfg.seed)
        torch.manual_seed(derive_seed(cfg.seed, "init"))  # model init: its own stream
        generator, discriminator = architectures.build(cfg)
        self.memory_format = torch.channels_last if cfg.memory_format == "channels_last" else torch.contiguous_format
        self.G = generator.to(self.device, memory_format=self.memory_format)
        self.D = discriminator.to(self.device, memory_format=self.memory_format)
        self.opt_g = make_adam(self.G.parameters(), cfg)
        self.opt_d = make_adam(self.D.parameters(), cfg)
        self.loss_fn = losses.get(cfg.loss)
        self.penalty_fn = penalties.get(cfg.penalty)
        self.data = data_split or data.load(cfg.dataset, "train", root=cfg.data_root, recipe=cfg.recipe)
        expected = (cfg.channels, cfg.resolution, cfg.resolution)
        if tuple(self.data.shape) != expected:
            raise InputError(
                f"dataset {cfg.dataset!r} gives images of shape {tuple(self.data.shape)} (C, H, W) but the config "
                f"asks for channels={cfg.channels}, resolution={cfg.resolution}; set them to match "
                f"(e.g. --set channels={self.data.shape[0]} --set resolution={self.data.shape[1]})")
        self.sampler = data.EpochSampler(len(self.data), cfg.batch_size, derive_seed(cfg.seed, "data"))
        self.z_gen = torch_generator(cfg.seed, "z")
        self.penalty_gen = torch_generator(cfg.seed, "penalty")
        self.step = 0
        # (step, what, 0-dim loss on the device) awaiting a host read when sync_every > 1 (steps.Stepper reads them)
        self.deferred_checks: list[tuple[int, str, torch.Tensor]] = []
        plant.install(self)  # a test seam (REPRO_PLANT), nothing unless that variable is set
        if cfg.compile != "none":
            compile_models(self, cfg.compile)

    # ------------------------------------------------------------------ update
    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A CPU batch on the device. On CUDA through pinned memory without blocking: a copy from
        pageable memory waits for the device to finish its queue (a host sync every batch)."""
        if self.device.type == "cuda":
            return x.pin_memory().to(self.device, non_blocking=True)
        return x.to(self.device)

    def _real_batch(self) -> torch.Tensor:
        x = self._to_device(self.data.batch(self.sampler.next_indices()))
        x = x.contiguous(memory_format=self.memory_format)
        return architectures.to_model_range(x, self.D.input_range)

    def _z(self, n: int) -> torch.Tensor:
        return self._to_device(sample_z(n, self.cfg.z_dim, self.z_gen))

    def _check_finite(self, step: int, what: str, value: torch.Tensor) -> None:
        """With sync_every=1, read ``value`` now (the update is then never applied to a non-finite
        loss); otherwise queue it for the next host read (:class:`repro.train.steps.Stepper`)."""
        if self.cfg.sync_every == 1:
            _check_finite(step, what, value)
        else:
            self.deferred_checks.append((step, what, value.detach()))

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_dis discriminator updates, then one generator update; returns the last D loss, the G
        loss and the penalty as 0-dim tensors on the device (reading them is the caller's host sync).
        Raises :class:`Diverged` (sync_every=1 only: otherwise the check is deferred).

        The generator update scores ``D(cat(x_real, x_fake))`` (``d_batch=concat``; ``split``:
        ``D(x_fake)``) with D as the last D update left it (weights, spectral-norm vectors, batch-norm
        statistics, all advanced by that call as by any), ``x_real`` the last D update's real batch and
        ``x_fake`` as ``cfg.g_step_fakes`` says: ``reuse`` (compare_gan HEAD) the very fakes of the last
        D update, from one G forward kept with its graph (G's parameters have not changed since, so
        its gradient is that of G(z) for the same z; G's batch norm steps once per D update);
        ``rerun`` (the 2018 code) G run again on the same z (the same images; G's batch norm takes a
        second step); ``fresh`` G on a new z from the z stream.
        """
        cfg, step = self.cfg, self.step + 1
        self.G.train()
        self.D.train()
        self.D.requires_grad_(True)
        for i in range(cfg.n_dis):
            update = f"D{i + 1}/{cfg.n_dis}"  # phase marks: where an op recorder (repro.localize) is
            phase.mark(update, "data")
            x_real = self._real_batch()
            z = self._z(x_real.shape[0])
            keep_graph = cfg.g_step_fakes == "reuse" and i == cfg.n_dis - 1  # the G update scores these
            phase.mark(update, "forward")
            with torch.set_grad_enabled(keep_graph):
                x_fake_g = self.G(z)
            x_fake = x_fake_g.detach()
            d_real, d_fake = batching.discriminate(self.D, x_real, x_fake, cfg.d_batch)
            d_loss = self.loss_fn(d_real, d_fake)[0]
            penalty = self.penalty_fn(self.D, x_real, x_fake, generator=self.penalty_gen,
                                      data_range=self.D.input_range)
            d_total = d_loss + cfg.penalty_weight * penalty
            self._check_finite(step, "discriminator loss", d_total)
            phase.mark(update, "backward")
            self.opt_d.zero_grad(set_to_none=True)
            d_total.backward()
            phase.mark(update, "optimiser")
            self.opt_d.step()
        phase.mark("G", "forward")
        self.D.requires_grad_(False)  # the G update needs gradients through D, not for D
        if cfg.g_step_fakes == "rerun":
            x_fake_g = self.G(z)
        elif cfg.g_step_fakes == "fresh":
            x_fake_g = self.G(self._z(cfg.batch_size))
        d_fake_g = batching.discriminate_fake(self.D, x_real, x_fake_g, cfg.d_batch)
        g_loss = self.loss_fn(d_real.detach(), d_fake_g)[1]
        self._check_finite(step, "generator loss", g_loss)
        phase.mark("G", "backward")
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        phase.mark("G", "optimiser")
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.step = step
        phase.mark("G", "losses")
        out = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "penalty": penalty.detach()}
        phase.clear()
        return out

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
    """One step, its losses read back, and its wall time in seconds (synchronising CUDA so the time
    is the step's). Deferred finite checks (sync_every > 1) are left queued."""
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    losses_now = trainer.train_step()
    sync()
    seconds = time.perf_counter() - start
    return {k: float(v) for k, v in losses_now.items()}, seconds


# ---------------------------------------------------------------------- speed settings


def compile_models(trainer: Trainer, mode: str) -> None:
    """``torch.compile`` G and D in place (``nn.Module.compile``: state_dict keys and hashes unchanged)."""
    sync_inductor()  # Inductor's own deterministic flag follows the mode before anything compiles
    options = {} if mode == "default" else {"mode": mode}
    trainer.G.compile(**options)
    trainer.D.compile(**options)


def speed_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The bit-changing speed settings that differ from the defaults (``{}`` for a default run, so
    default fingerprints stay as they were). Keys: ``adam_impl``, ``memory_format``,
    ``fill_uninitialized_memory``, ``compile`` with Inductor's ``inductor_deterministic`` flag as
    this process has it and the ``triton`` version where one is installed."""
    defaults = TrainConfig()
    out: dict[str, Any] = {}
    if cfg.adam_impl != defaults.adam_impl:
        out["adam_impl"] = cfg.adam_impl
    if cfg.memory_format != defaults.memory_format:
        out["memory_format"] = cfg.memory_format
    if cfg.fill_uninitialized_memory != defaults.fill_uninitialized_memory:
        out["fill_uninitialized_memory"] = cfg.fill_uninitialized_memory
    if cfg.compile != defaults.compile:
        from importlib import metadata


        sync_inductor()
        out["compile"] = cfg.compile
        out["inductor_deterministic"] = bool(torch._inductor.config.deterministic)
        try:
            out["triton"] = metadata.version("triton")
        except metadata.PackageNotFoundError:
            out["triton"] = None
    return out
