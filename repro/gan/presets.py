"""Variants as data: each preset is a row of :class:`repro.config.TrainConfig` overrides.

The ResNet ablation rows follow the paper's appendix (Figure 7): ``resnet_default`` is "ResNet
CIFAR with spectral norm and the non-saturating loss", trained with compare_gan's own ResNet
CIFAR recipe (example_configs/resnet_cifar10.gin: Adam lr 0.0002, beta1 0.5, beta2 0.999, 5 D
iterations, lambda 1 = Table 1's ``lr2e-4_lam1_b0.5-0.999_ndis5``); each other row moves one
detail toward the popular GitHub (SNGAN) implementation, with the same recipe.

The grids span the study's loss x discriminator-normalization x penalty space for ResNet CIFAR,
SNDCGAN and ResNet19, named ``<arch>_<loss>_<norm>_<penalty>`` (loss names never equal a flag
name, so ``resnet_sum`` is the SUM flag and ``resnet_ns_sn_none`` a grid row). Grid rows set only
those three fields; pick a Table 1 setting with ``--hparams``. compare_gan's SNDCGAN
discriminator has no batch or layer norm, so the SNDCGAN rows with ``bn`` or ``ln`` are kept but
marked beyond the study (:func:`beyond_study`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from repro import hparams
from repro.config import RESNET_FLAGS, TrainConfig, from_dict, to_dict
from repro.registry import Registry


@dataclass(frozen=True)
class Preset:
    """A variant: the config fields it sets, and why it lies beyond the study ("" when it does not)."""

    fields: Mapping[str, Any]
    beyond: str = ""

    def __post_init__(self):
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


PRESETS: Registry[Preset] = Registry("variant", listing="`repro variants`")

RESNET_CIFAR_RECIPE = "lr2e-4_lam1_b0.5-0.999_ndis5"  # example_configs/resnet_cifar10.gin (see the docstring)
_PAPER_DEFAULT = {"architecture": "resnet", "loss": "ns", "d_norm": "sn", "penalty": "none",
                  **hparams.TABLE1.get(RESNET_CIFAR_RECIPE)}

PRESETS.register("resnet_default", Preset({**_PAPER_DEFAULT, "flags": ()}))
for _flag in RESNET_FLAGS:
    PRESETS.register(f"resnet_{_flag}", Preset({**_PAPER_DEFAULT, "flags": (_flag,)}))
PRESETS.register("resnet_cin_opt", Preset({**_PAPER_DEFAULT, "flags": ("cin", "opt")}))
PRESETS.register("resnet_all", Preset({**_PAPER_DEFAULT, "flags": RESNET_FLAGS}))

GRID_LOSSES = ("mm", "ns", "wgan", "ls", "hinge")
GRID_NORMS = ("none", "bn", "ln", "sn")
GRID_PENALTIES = ("none", "gp", "dragan", "l2")
GRID_ARCHITECTURES = ("resnet", "sndcgan", "resnet19")
_SNDCGAN_NO_FEATURE_NORM = ("compare_gan's SNDCGAN discriminator has no batch or layer norm "
                            "(architectures/sndcgan.py:103-126)")


def _beyond(arch: str, norm: str) -> str:
    return _SNDCGAN_NO_FEATURE_NORM if arch == "sndcgan" and norm in ("bn", "ln") else ""


for _arch in GRID_ARCHITECTURES:
    if _arch != "resnet":  # `resnet_default` is ResNet CIFAR's short name; the others get their own
        PRESETS.register(_arch, Preset({"architecture": _arch, "loss": "ns", "d_norm": "sn", "penalty": "none"}))
    for _loss, _norm, _pen in itertools.product(GRID_LOSSES, GRID_NORMS, GRID_PENALTIES):
        PRESETS.register(f"{_arch}_{_loss}_{_norm}_{_pen}", Preset(
            {"architecture": _arch, "loss": _loss, "d_norm": _norm, "penalty": _pen}, beyond=_beyond(_arch, _norm)))


def names() -> tuple[str, ...]:
    return PRESETS.names()


def overrides(variant: str) -> dict[str, Any]:
    """The fields a preset sets (a ``ValueError`` lists the valid variants for an unknown name)."""
    return dict(PRESETS.get(variant).fields)


def beyond_study(variant: str) -> str:
    """Why ``variant`` lies beyond what the study (compare_gan) could train; "" when it does not."""
    return PRESETS.get(variant).beyond


def config_for(variant: str, **changes: Any) -> TrainConfig:
    """The full config of ``variant``: defaults, then the preset row, then ``changes``."""
    base = to_dict(TrainConfig())
    return from_dict({**base, **overrides(variant), **changes})


def table() -> list[dict[str, Any]]:
    """One flat row per preset, for ``repro variants``: name, the fields it sets, ``table1`` (the
    Table 1 setting its full config equals, or "-") and ``study`` ("yes", or why it lies beyond)."""
    rows = []
    for name in PRESETS:
        row = overrides(name)
        row["flags"] = ",".join(row.get("flags", ())) or "-"
        preset = PRESETS.get(name)
        cfg = config_for(name)
        # the optimisation fields every row trains with: the preset's own, or TrainConfig's defaults
        # for a grid row (which sets only loss, normalization and penalty)
        recipe = {k: getattr(cfg, k) for k in hparams.FIELDS}
        row.update(recipe)
        rows.append({"variant": name, **row, "recipe": "preset" if set(hparams.FIELDS) <= set(overrides(name))
                     else "default", "table1": hparams.match(cfg) or "-",
                     "study": f"beyond: {preset.beyond}" if preset.beyond else "yes"})
    return rows
