"""Exact, bit-for-bit hashes of tensors and model/optimiser state.

A hash covers dtype, shape and the raw bytes of the tensor, so two states hash equal
if and only if every tensor is bitwise identical (up to sha256 collisions).
"""

from __future__ import annotations

import hashlib
from typing import Mapping

import torch


def tensor_digest(t: torch.Tensor) -> str:
    """sha256 hex of a tensor's dtype, shape and raw bytes (any dtype, any device)."""
    t = t.detach()
    h = hashlib.sha256()
    h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def flatten_state(prefix: str, state: object, out: dict[str, torch.Tensor]) -> None:
    """Collect every tensor of a (nested) state dict under dotted names."""
    if isinstance(state, torch.Tensor):
        out[prefix] = state
    elif isinstance(state, Mapping):
        for key in sorted(state, key=str):
            flatten_state(f"{prefix}.{key}" if prefix else str(key), state[key], out)
    elif isinstance(state, (list, tuple)):
        for i, item in enumerate(state):
            flatten_state(f"{prefix}.{i}", item, out)
    # plain numbers (e.g. Adam's lr, betas) are config, recorded elsewhere


def tensor_digests(states: Mapping[str, object]) -> dict[str, str]:
    """``{"generator.fc.weight": sha256, ...}`` for every tensor of every named state."""
    tensors: dict[str, torch.Tensor] = {}
    for name, state in states.items():
        flatten_state(name, state, tensors)
    return {name: tensor_digest(t) for name, t in tensors.items()}


def combine(digests: Mapping[str, str]) -> str:
    """One sha256 over sorted ``name=digest`` lines."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}={digests[name]}\n".encode())
    return h.hexdigest()


def state_hash(states: Mapping[str, object]) -> str:
    """The exact hash of several named states (e.g. generator, discriminator, optimisers)."""
    return combine(tensor_digests(states))
