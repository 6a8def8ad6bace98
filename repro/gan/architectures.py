"""The study's architectures by name: ``sndcgan``, ``dcgan``, ``resnet`` (ResNet CIFAR), ``resnet19``.

``build(cfg)`` returns ``(generator, discriminator)``:

* ``generator(z)``: z (N, z_dim) -> images (N, C, R, R) in ``generator.output_range``
  ((0, 1) with the sigmoid output, (-1, 1) with the ``tan`` flag);
* ``discriminator(x)``: x (N, C, R, R) in ``discriminator.input_range`` -> logits (N,).

Real data is always in [0, 1]: the trainer maps it with :func:`to_model_range`, the evaluator maps
generated images back with :func:`to_unit_range`.

Initialisation (compare_gan's default ``weight_initializer``): every conv and linear weight of both
nets ~ N(0, 0.02), biases 0, batch-norm scale 1 and shift 0. It draws from torch's global RNG, which
the trainer seeds before calling :func:`build` (same seed, same weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from repro import choices
from repro.errors import InputError
from repro.gan import dcgan, normalization, resnet
from repro.registry import Registry

if TYPE_CHECKING:
    from repro.config import TrainConfig

Builder = Callable[["TrainConfig"], "tuple[nn.Module, nn.Module]"]

REGISTRY: Registry[Builder] = Registry("architecture")
REGISTRY.register("sndcgan", dcgan.build_sndcgan)
REGISTRY.register("dcgan", dcgan.build_dcgan)
REGISTRY.register("resnet", resnet.build_resnet_cifar)
REGISTRY.register("resnet19", resnet.build_resnet19)

SUPPORTED_RESOLUTIONS = choices.RESOLUTIONS

INIT_STD = 0.02  # compare_gan arch_ops.weight_initializer default (normal, stddev 0.02)


def check_resolution(arch: str, resolution: int) -> None:
    """Raise :class:`repro.errors.InputError` naming the supported resolutions unless ``arch``
    supports ``resolution`` (:func:`repro.choices.check_resolution`)."""
    choices.check_resolution(arch, resolution)


def build(cfg: "TrainConfig") -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for ``cfg``, initialised from torch's (seeded) global RNG."""
    check_resolution(cfg.architecture, cfg.resolution)
    generator, discriminator = REGISTRY.get(cfg.architecture)(cfg)
    for net in (generator, discriminator):
        init_weights(net)
    return generator, discriminator


@torch.no_grad()
def init_weights(net: nn.Module, std: float = INIT_STD) -> None:
    """N(0, std) weights and zero biases for every conv/linear; BN scale 1, shift 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # the stored weight, not W / sigma, when spectral norm wraps the layer
            normalization.raw_weight(m).normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            m.weight.fill_(1.0)
            m.bias.zero_()


def _check_range(value_range) -> tuple[float, float]:
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise InputError(f"invalid value range {tuple(value_range)}: need low < high")
    return lo, hi


def to_model_range(x_unit: torch.Tensor, value_range) -> torch.Tensor:
    """Map images from [0, 1] to ``value_range`` (lo, hi): lo + (hi - lo) * x. Any shape."""
    lo, hi = _check_range(value_range)
    if (lo, hi) == (0.0, 1.0):
        return x_unit
    return x_unit * (hi - lo) + lo


def to_unit_range(x: torch.Tensor, value_range) -> torch.Tensor:
    """Inverse of :func:`to_model_range`: (x - lo) / (hi - lo). Any shape."""
    lo, hi = _check_range(value_range)
    if (lo, hi) == (0.0, 1.0):
        return x
    return (x - lo) / (hi - lo)


__all__ = ["REGISTRY", "SUPPORTED_RESOLUTIONS", "check_resolution", "build", "init_weights",
           "to_model_range", "to_unit_range"]
