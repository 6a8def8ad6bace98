"""The study's architectures by name: ``sndcgan``, ``dcgan``, ``resnet`` (ResNet CIFAR), ``resnet19``.

``build(cfg)`` returns ``(generator, discriminator)``:

* ``generator(z)``: z (N, z_dim) -> images (N, C, R, R) in ``generator.output_range``
  ((0, 1) with the sigmoid output, (-1, 1) with the ``tan`` flag);
* ``discriminator(x)``: x (N, C, R, R) in ``discriminator.input_range`` -> logits (N,).

Real data is always in [0, 1]: the trainer maps it with :func:`to_model_range`, the evaluator maps
generated images back with :func:`to_unit_range`.

Initialisation (config field ``init``): ``normal`` is compare_gan HEAD's default
``weight_initializer`` (arch_ops.py:46-58): every conv and linear weight of both nets ~ N(0, 0.02).
``truncated_normal`` is the 2018 code's (at 81ba388): its ``ops.conv2d`` defaults to
``tf.truncated_normal_initializer(stddev=0.02)`` (src/gans/ops.py:174-175), N(0, 0.02) with every value
beyond two standard deviations redrawn, so the Conv2d kernels of the architectures built on it
(ResNet CIFAR, ResNet19, DCGAN) are truncated while linear and transposed-conv kernels stay N(0, 0.02)
(ops.py:117-130, 190-195); its SNDCGAN passed ``random_normal_initializer`` to every conv
(dcgan_architecture.py:157-177), so SNDCGAN builds the same weights under both. Biases 0, batch-norm
scale 1 and shift 0 throughout. It draws from torch's global RNG, which the trainer seeds before
calling :func:`build` (same seed, same weights).

``build`` also sets every batch norm's running-variance rule (config field ``bn_variance``,
:func:`repro.gan.normalization.set_bn_variance`).
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
INITS = choices.INITS
TRUNCATION = 2.0  # tf.truncated_normal_initializer: values beyond 2 standard deviations are redrawn
# the architectures whose 2018 code built its convs with ops.conv2d's truncated-normal default
# (resnet_architecture.py get_conv / final_conv, dcgan_architecture.py discriminator at 81ba388);
# SNDCGAN's discriminator passed random_normal explicitly (dcgan_architecture.py:157-177)
TRUNCATED_CONVS_2018 = {"sndcgan": False, "dcgan": True, "resnet": True, "resnet19": True}


def check_resolution(arch: str, resolution: int) -> None:
    """Raise :class:`repro.errors.InputError` naming the supported resolutions unless ``arch``
    supports ``resolution`` (:func:`repro.choices.check_resolution`)."""
    choices.check_resolution(arch, resolution)


def build(cfg: "TrainConfig") -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for ``cfg``, initialised from torch's (seeded) global RNG."""
    check_resolution(cfg.architecture, cfg.resolution)
    generator, discriminator = REGISTRY.get(cfg.architecture)(cfg)
    truncate = cfg.init == "truncated_normal" and TRUNCATED_CONVS_2018[cfg.architecture]
    for net in (generator, discriminator):
        init_weights(net, truncate_convs=truncate)
        normalization.set_bn_variance(net, cfg.bn_variance)
    return generator, discriminator


@torch.no_grad()
def init_weights(net: nn.Module, std: float = INIT_STD, *, truncate_convs: bool = False) -> None:
    """N(0, std) weights and zero biases for every conv/linear; BN scale 1, shift 0. With
    ``truncate_convs``, ``Conv2d`` kernels are N(0, std) truncated to [-2 std, 2 std] instead (the
    distribution of TF's truncated normal; torch samples it by inverse CDF, TF by redrawing)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # the stored weight, not W / sigma, when spectral norm wraps the layer
            weight = normalization.raw_weight(m)
            if truncate_convs and isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(weight, 0.0, std, -TRUNCATION * std, TRUNCATION * std)
            else:
                weight.normal_(0.0, std)
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


__all__ = ["REGISTRY", "SUPPORTED_RESOLUTIONS", "INITS", "TRUNCATED_CONVS_2018", "check_resolution", "build", "init_weights",
           "to_model_range", "to_unit_range"]
