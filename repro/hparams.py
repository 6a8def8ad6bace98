"""Table 1 of the study: the 24 named hyperparameter settings, usable with any variant.

Kurach et al. 2019, Table 1 (docs/design.md, "Hyperparameters"): learning rate in
{0.0002, 0.0001, 0.001} x lambda in {1, 10} x (beta1, beta2, n_dis) in {(0.5, 0.900, 5),
(0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5)}. Each setting is a row of
:class:`repro.config.TrainConfig` fields (``lr``, ``penalty_weight``, ``beta1``, ``beta2``,
``n_dis``); the config stays flat, and :func:`apply` records the name in its ``hparams`` field,
which validation then checks against those five fields.

Names pin every value, e.g. ``lr2e-4_lam1_b0.5-0.999_ndis5`` (compare_gan's own ResNet CIFAR
recipe, example_configs/resnet_cifar10.gin). ``TABLE1`` iterates in the order lr, lambda,
(beta1, beta2, n_dis), each as listed above.
"""

from __future__ import annotations

import itertools
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from repro.errors import InputError
from repro.registry import Registry

if TYPE_CHECKING:
    from repro.config import TrainConfig

LEARNING_RATES = (2e-4, 1e-4, 1e-3)
LAMBDAS = (1.0, 10.0)
ADAM_NDIS = ((0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5))
FIELDS = ("lr", "penalty_weight", "beta1", "beta2", "n_dis")
_LR_TEXT = {2e-4: "2e-4", 1e-4: "1e-4", 1e-3: "1e-3"}


def setting_name(lr: float, lam: float, beta1: float, beta2: float, n_dis: int) -> str:
    """The name of a Table 1 setting, e.g. ``lr2e-4_lam10_b0.5-0.9_ndis5``."""
    return f"lr{_LR_TEXT.get(lr, f'{lr:g}')}_lam{lam:g}_b{beta1:g}-{beta2:g}_ndis{n_dis}"


TABLE1: Registry[Mapping[str, Any]] = Registry("Table 1 hyperparameter setting")
for _lr, _lam, (_b1, _b2, _nd) in itertools.product(LEARNING_RATES, LAMBDAS, ADAM_NDIS):
    TABLE1.register(setting_name(_lr, _lam, _b1, _b2, _nd), MappingProxyType(
        {"lr": _lr, "penalty_weight": _lam, "beta1": _b1, "beta2": _b2, "n_dis": _nd}))


def names() -> tuple[str, ...]:
    return TABLE1.names()


def fields(name: str) -> dict[str, Any]:
    """The config fields of setting ``name`` plus ``hparams=name`` (a ``ValueError`` lists the names)."""
    return {**TABLE1.get(name), "hparams": name}


def apply(cfg: "TrainConfig", name: str) -> "TrainConfig":
    """``cfg`` with the five fields of setting ``name`` and ``hparams=name``."""
    return cfg.replace(**fields(name))


def match(cfg: "TrainConfig | Mapping[str, Any]") -> str | None:
    """The Table 1 setting whose five fields ``cfg`` (a config or a mapping with those keys) has, if any."""
    get = cfg.get if isinstance(cfg, Mapping) else (lambda k: getattr(cfg, k))
    values = {k: get(k) for k in FIELDS}
    return next((n for n in TABLE1 if dict(TABLE1.get(n)) == values), None)


def check(cfg: "TrainConfig") -> None:
    """``ValueError`` unless ``cfg.hparams`` names a setting whose five fields ``cfg`` has."""
    expected = TABLE1.get(cfg.hparams)  # unknown name: ValueError listing the 24
    wrong = [f"{k}={getattr(cfg, k)!r}" for k in FIELDS if getattr(cfg, k) != expected[k]]
    if wrong:
        want = ", ".join(f"{k}={v!r}" for k, v in expected.items())
        raise InputError(f"invalid hparams={cfg.hparams!r}: that Table 1 setting is {want}, but the config has "
                         f"{', '.join(wrong)}; set those fields through --hparams NAME only, or clear it (hparams=)")


__all__ = ["LEARNING_RATES", "LAMBDAS", "ADAM_NDIS", "FIELDS", "TABLE1", "setting_name", "names", "fields", "apply",
           "match", "check"]
