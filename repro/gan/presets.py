"""Variants as data: each preset is a row of :class:`repro.config.TrainConfig` overrides.

The ResNet rows follow the paper's appendix (Figure 7): ``resnet_default`` is "ResNet CIFAR
with spectral norm and the non-saturating loss"; each other row moves one detail toward the
popular GitHub (SNGAN) implementation. The SNDCGAN and ResNet19 rows span the study's
loss x discriminator-normalization x penalty grid, named ``<arch>_<loss>_<norm>_<penalty>``.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

from repro.config import RESNET_FLAGS, TrainConfig, from_dict, to_dict
from repro.registry import Registry

PRESETS: Registry[Mapping[str, Any]] = Registry("variant", listing="`repro variants`")

_PAPER_DEFAULT = {"architecture": "resnet", "loss": "ns", "d_norm": "sn", "penalty": "none"}

PRESETS.register("resnet_default", {**_PAPER_DEFAULT, "flags": ()})
for _flag in RESNET_FLAGS:
    PRESETS.register(f"resnet_{_flag}", {**_PAPER_DEFAULT, "flags": (_flag,)})
PRESETS.register("resnet_cin_opt", {**_PAPER_DEFAULT, "flags": ("cin", "opt")})
PRESETS.register("resnet_all", {**_PAPER_DEFAULT, "flags": RESNET_FLAGS})

# The study's grid (Section 3): losses x D normalizations x penalties, for the two
# architectures it compares at scale. The study's own default row gets a short alias.
GRID_LOSSES = ("mm", "ns", "wgan", "ls", "hinge")
GRID_NORMS = ("none", "bn", "ln", "sn")
GRID_PENALTIES = ("none", "gp", "dragan", "l2")
for _arch in ("sndcgan", "resnet19"):
    PRESETS.register(_arch, {"architecture": _arch, "loss": "ns", "d_norm": "sn", "penalty": "none"})
    for _loss, _norm, _pen in itertools.product(GRID_LOSSES, GRID_NORMS, GRID_PENALTIES):
        PRESETS.register(
            f"{_arch}_{_loss}_{_norm}_{_pen}",
            {"architecture": _arch, "loss": _loss, "d_norm": _norm, "penalty": _pen},
        )


def names() -> tuple[str, ...]:
    return PRESETS.names()


def overrides(variant: str) -> dict[str, Any]:
    """The fields a preset sets (a ``ValueError`` lists the valid variants for an unknown name)."""
    return dict(PRESETS.get(variant))


def config_for(variant: str, **changes: Any) -> TrainConfig:
    """The full config of ``variant``: defaults, then the preset row, then ``changes``."""
    base = to_dict(TrainConfig())
    return from_dict({**base, **overrides(variant), **changes})


def table() -> list[dict[str, Any]]:
    """One flat row per preset: name plus the fields it sets, for ``repro variants``."""
    rows = []
    for name in PRESETS:
        row = overrides(name)
        row["flags"] = ",".join(row.get("flags", ())) or "-"
        rows.append({"variant": name, **row})
    return rows
