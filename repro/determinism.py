"""Deterministic and nondeterministic execution modes, and seeding.

Deterministic: ``torch.use_deterministic_algorithms(True)``, cuDNN deterministic, cuDNN
benchmark off, oneDNN (mkldnn) deterministic on the CPU, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``
(required by cuBLAS before torch 2.10, harmless after; recorded either way). Nondeterministic:
the defaults people train with (cuDNN benchmark on, no deterministic algorithms, oneDNN free to
use thread-timing-dependent reductions). Both modes use the same seeds.

Deterministic mode also makes torch fill every new, uninitialised tensor (``torch.empty``)
with NaN (``torch.utils.deterministic.fill_uninitialized_memory``, on by default): a guard that
turns a read of uninitialised memory into a visible NaN, paid for with one fill per allocation.
``fill_uninitialized_memory=False`` skips the fills; a run that never reads uninitialised memory
(any correct one) keeps its bits, which tests check by hash.

Modes are applied as a context that restores the previous global state on exit.

Start-up: ``torch.use_deterministic_algorithms`` imports ``torch._inductor.config`` (about 1 s of
CPU, most of the compiler stack) only to set Inductor's own ``deterministic`` flag. An eager run
never needs Inductor, so :func:`set_deterministic_algorithms` sets the core switch directly and
sets Inductor's flag only where Inductor is already loaded; a compiled run loads Inductor first
(:func:`sync_inductor`), so its flag always follows the mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sys
from typing import Iterator

import numpy as np
import torch

from repro.config import MODES, TrainConfig
from repro.errors import InputError
from repro.registry import check_choice

CUBLAS_WORKSPACE = ":4096:8"


def _snapshot() -> dict:
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "mkldnn_deterministic": _mkldnn_deterministic(),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "threads": torch.get_num_threads(),
        "fill_uninitialized_memory": _fill_uninitialized(),
    }


@contextlib.contextmanager
def execution_mode(mode: str, *, warn_only: bool = False, threads: int = 0,
                   fill_uninitialized_memory: bool = True) -> Iterator[dict]:
    """Apply ``mode`` (and an intra-op thread count when ``threads`` > 0); yield what was set.

    ``fill_uninitialized_memory`` (deterministic mode): torch's NaN fill of new tensors (see above).

    The yielded dict is what a run records: the switches as they were inside the context.
    """
    check_choice("mode", mode, MODES)
    before = _snapshot()
    try:
        if mode == "deterministic":
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
            set_deterministic_algorithms(True, warn_only=warn_only)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            _set_mkldnn_deterministic(True)
            _set_fill_uninitialized(fill_uninitialized_memory)
        else:
            set_deterministic_algorithms(False)
            torch.backends.cudnn.deterministic = False
            torch.backends.cudnn.benchmark = True
            _set_mkldnn_deterministic(False)
        if threads:
            torch.set_num_threads(threads)
        yield {"mode": mode, **_snapshot()}
    finally:
        set_deterministic_algorithms(before["deterministic_algorithms"], warn_only=before["warn_only"])
        torch.backends.cudnn.deterministic = before["cudnn_deterministic"]
        torch.backends.cudnn.benchmark = before["cudnn_benchmark"]
        _set_mkldnn_deterministic(before["mkldnn_deterministic"])
        _set_fill_uninitialized(before["fill_uninitialized_memory"])
        if before["CUBLAS_WORKSPACE_CONFIG"] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = before["CUBLAS_WORKSPACE_CONFIG"]
        torch.set_num_threads(before["threads"])


def run_mode(cfg: TrainConfig, mode: str | None = None) -> contextlib.AbstractContextManager[dict]:
    """The execution mode a run of ``cfg`` trains in: its mode (or ``mode``, e.g. to time the other
    one), its thread count and its ``fill_uninitialized_memory``. Training, the cost of determinism
    and the cost plan all enter a run's mode through this one call, so what they measure is the run."""
    return execution_mode(mode or cfg.mode, threads=cfg.threads,
                          fill_uninitialized_memory=cfg.fill_uninitialized_memory)


_INDUCTOR_CONFIG = "torch._inductor.config"


def set_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=...)`` without importing Inductor.

    Same effect on every eager op; Inductor's ``deterministic`` flag (which only compiled code
    reads) is set when Inductor is loaded, else left for :func:`sync_inductor` to set at load.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # a torch without the private setter: the public call (imports Inductor)
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    setter(mode, warn_only=warn_only)
    if _INDUCTOR_CONFIG in sys.modules:
        sys.modules[_INDUCTOR_CONFIG].deterministic = mode


def sync_inductor() -> None:
    """Load Inductor's config and make its ``deterministic`` flag follow the current mode.

    Call before compiling (``torch.compile``): the mode may have been set while Inductor was
    not loaded. Restoring a mode afterwards sets the flag too, since Inductor is then loaded.
    """
    import torch._inductor.config as inductor_config

    inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()


def _fill_uninitialized() -> bool | None:
    """torch.utils.deterministic.fill_uninitialized_memory (torch >= 2.1); None on builds without it."""
    module = getattr(torch.utils, "deterministic", None)
    return getattr(module, "fill_uninitialized_memory", None)


def _set_fill_uninitialized(value: bool | None) -> None:
    if value is not None and _fill_uninitialized() is not None:
        torch.utils.deterministic.fill_uninitialized_memory = value


def _mkldnn_deterministic() -> bool | None:
    """oneDNN's deterministic switch (torch >= 2.1); None on builds without it."""
    return getattr(torch.backends.mkldnn, "deterministic", None)


def _set_mkldnn_deterministic(value: bool | None) -> None:
    if value is not None and _mkldnn_deterministic() is not None:
        torch.backends.mkldnn.deterministic = value


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one named random stream, derived from the run seed.

    Each consumer (data order, z, penalty noise, evaluation, init) has its own stream, so
    a feature that draws more numbers from one stream cannot shift the others.
    """
    digest = hashlib.sha256(f"repro:{stream}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def torch_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for ``stream`` (draw on CPU, then move: device-independent)."""
    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(seed, stream))
    return g


def seed_globals(seed: int) -> None:
    """Seed python, numpy, torch CPU and every CUDA device (for code that still uses globals)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available; use device=cpu or auto")
    return torch.device(name)
