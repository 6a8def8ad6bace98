"""Adam for both nets: torch's kernels, with TensorFlow's or torch's placement of epsilon.

compare_gan trains with ``tf.train.AdamOptimizer`` (modular_gan.py:70, every example gin config;
the 2018 code: src/gans/gans_with_penalty.py:71-78 at 81ba388). TensorFlow documents its update
(tensorflow/python/training/adam.py, the AdamOptimizer docstring: "epsilon hat" of Kingma & Ba,
the formula before their Section 2.1)::

    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
    var -= lr_t * m / (sqrt(v) + eps)

torch.optim.Adam (Algorithm 1 of the paper) computes
``var -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``. Multiplying TF's numerator
and denominator by ``1 / sqrt(1 - beta2^t)`` shows the two are the same update when torch's epsilon is
``eps / sqrt(1 - beta2^t)`` (TF's epsilon weighs 1 / sqrt(1 - beta2^t) times more: 31.6 at t = 1 with
beta2 = 0.999, tending to 1). :class:`TFEpsilon` sets that epsilon on each parameter group before
each step, so every torch kernel (loop, foreach, fused) computes TF's update: the moments, their
state_dict and its keys are torch's own (checkpoints, resume and per-tensor hashes handle them as
before). The group keeps the configured epsilon (``tf_eps``) and the step count the next epsilon is
computed from (``tf_step``), in its state_dict entry, so a resumed run continues the sequence.

Rounding: the same real number is reached through torch's operation order, so a step agrees with
TF's formula to float rounding (``tests/test_adam.py``; ``tests/test_compare_gan_step.py`` holds a
whole training step to a literal TF transcription), not bit for bit. TF's beta powers are float
variables multiplied once per step; here ``beta2 ** t`` is computed in Python floats.
"""

from __future__ import annotations

import math

import torch

from repro.config import TrainConfig

KINDS = {"auto": {}, "loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def _undecorated(fn):
    """The function under torch's compiler-only decorators (``functools.wraps`` keeps it in ``__wrapped__``)."""
    return getattr(fn, "__wrapped__", fn)


class EagerAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (same kernels, same state_dict, same bits) for runs that compile nothing.

    Start-up: torch.optim decorates ``step`` (``_use_grad_for_differentiable``) and its bookkeeping
    methods (``torch._disable_dynamo``: add_param_group, zero_grad, state_dict, load_state_dict)
    for torch.compile's sake, and both decorators import ``torch._dynamo`` on first use: most of
    the compiler, about as long again as importing torch. Outside a compiled region the decorators
    only turn autograd off around ``step``, which is what this class does; the methods are the
    undecorated ones.
    """

    add_param_group = _undecorated(torch.optim.Optimizer.add_param_group)
    zero_grad = _undecorated(torch.optim.Optimizer.zero_grad)
    state_dict = _undecorated(torch.optim.Optimizer.state_dict)
    load_state_dict = _undecorated(torch.optim.Optimizer.load_state_dict)
    _step = _undecorated(torch.optim.Adam.step)

    def step(self, closure=None):
        with torch.set_grad_enabled(self.defaults["differentiable"]):  # as _use_grad_for_differentiable
            return self._step(closure)


def tf_epsilon(eps: float, beta2: float, t: int) -> float:
    """The torch epsilon that makes torch's Adam step ``t`` (1-based) equal TensorFlow's with ``eps``."""
    return eps / math.sqrt(1.0 - beta2 ** t)


class TFEpsilon:
    """Mixin for a ``torch.optim.Adam`` class: TensorFlow's placement of epsilon (see the module).

    Every group counts its steps in ``tf_step`` (TF's beta powers are one pair per optimizer,
    advanced once per ``apply_gradients``: a group-wide count, not torch's per-parameter one; the
    two agree whenever every parameter has a gradient at every step, as in every GAN here) and
    holds TF's epsilon in ``tf_eps``; ``eps`` is rewritten before each step.
    """

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        for group in self.param_groups:
            group["tf_eps"] = group["eps"]
            group["tf_step"] = 0

    def step(self, closure=None):
        for group in self.param_groups:
            if "tf_step" not in group:  # a state_dict of torch's Adam was loaded
                raise ValueError("this optimizer state was saved by an Adam with torch's epsilon (adam_epsilon=torch); "
                                 "continue it with adam_epsilon=torch")
            group["tf_step"] += 1
            group["eps"] = tf_epsilon(group["tf_eps"], group["betas"][1], group["tf_step"])
        return super().step(closure)


class TFAdam(TFEpsilon, EagerAdam):
    """Adam with TensorFlow's epsilon, for runs that compile nothing (:class:`EagerAdam`'s start-up)."""


class TFAdamCompiled(TFEpsilon, torch.optim.Adam):
    """Adam with TensorFlow's epsilon on the stock (compile-aware) ``torch.optim.Adam``."""


def make_adam(params, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam with the kernel ``cfg.adam_impl`` names (``auto``: torch's own pick for the device) and
    epsilon placed as ``cfg.adam_epsilon`` says; :class:`EagerAdam` (or :class:`TFAdam`) unless the
    run compiles. Epsilon is torch's and TF's default, 1e-8 (tf.train.AdamOptimizer(epsilon=1e-08))."""
    if cfg.adam_epsilon == "tf":
        cls = TFAdamCompiled if cfg.compile != "none" else TFAdam
    else:
        cls = torch.optim.Adam if cfg.compile != "none" else EagerAdam
    return cls(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8, **KINDS[cfg.adam_impl])


__all__ = ["EagerAdam", "TFAdam", "TFAdamCompiled", "TFEpsilon", "make_adam", "tf_epsilon"]
