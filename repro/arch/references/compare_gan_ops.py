"""compare_gan's layer operations, transcribed in TensorFlow's layout (NHWC, kernels [kh, kw, c_in, c_out]).

Source: google/compare_gan HEAD, ``compare_gan/architectures/arch_ops.py`` and ``resnet_ops.py``
(line numbers below refer to those files), with the TensorFlow 1.x semantics they rely on
spelled out. Independent of ``repro.gan``: tensors stay NHWC, variables are kept by their
TensorFlow scope names in a :class:`VarStore`, and every op is written from its definition:

* ``conv2d``: cross-correlation with 'SAME' padding (TF: out = ceil(in / stride), pad_total =
  max((out - 1) * stride + k - in, 0), pad_before = pad_total // 2, the rest after).
* ``deconv2d``: ``tf.nn.conv2d_transpose`` is by definition the gradient of ``conv2d`` with respect
  to its input; it is computed here exactly so, as a vector-Jacobian product (slow and plain).
* ``standardize_batch``: moments from sufficient statistics (E[x^2] - E[x]^2, biased), moving
  averages ``v -= (v - value) * (1 - decay)``, then ``(x - mean) / sqrt(var + eps)``.
* ``spectral_norm``: the kernel reshaped to (kh*kw*c_in, c_out), a persistent u of shape (rows, 1)
  drawn N(0, 1), one power iteration per call with ``tf.math.l2_normalize`` (eps 1e-12 on the
  squared norm), u and v without gradient.
* ``layer_norm``: ``tf.contrib.layers.layer_norm`` defaults: moments over every axis but the batch,
  beta/gamma over the last axis, variance epsilon 1e-12.
* ``avg_pool_same``: ``tf.nn.pool(x, [2, 2], "AVG", "SAME", strides=[2, 2])``: windows average the
  pixels they cover (padding is not counted).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from repro.errors import InputError

WEIGHT_STDDEV = 0.02  # arch_ops.py:46-58 weight_initializer: random_normal(stddev=0.02)
L2N_EPS = 1e-12  # arch_ops.py:454 spectral_norm(epsilon=1e-12)
LAYER_NORM_EPS = 1e-12  # tf.contrib.layers.layer_norm: variance_epsilon=1e-12


# ----------------------------------------------------------------- variables
class VarStore(nn.Module):
    """``tf.get_variable`` under ``tf.AUTO_REUSE``: variables by their full scope name.

    Trainable variables are parameters of ``self.vars`` (keys like ``B1/up_conv1/kernel``),
    non-trainable ones (``u_var``, moving averages) buffers of ``self``. They are created the
    first time the network is applied (:meth:`building`), drawing initial values from ``generator``.
    """

    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.vars = nn.ParameterDict()
        self._scopes: list[str] = []
        self._generator = generator
        self._building = False

    @contextlib.contextmanager
    def scope(self, name: str):
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def building(self):
        """Create variables without running the assignments (TF builds a graph before running it)."""
        self._building = True
        try:
            yield
        finally:
            self._building = False

    def full_name(self, name: str) -> str:
        return "/".join([*self._scopes, name])

    def _init(self, shape, initializer) -> torch.Tensor:
        kind, value = initializer
        if kind == "normal":
            return torch.randn(*shape, generator=self._generator) * value
        return torch.full(tuple(shape), float(value))

    def get_variable(self, name: str, shape, initializer, trainable: bool = True) -> torch.Tensor:
        full = self.full_name(name)
        store = self.vars if trainable else self._buffers
        if full not in store:
            if not self._building:
                raise KeyError(f"variable {full} does not exist; apply the network once while building")
            value = self._init(shape, initializer)
            if trainable:
                self.vars[full] = nn.Parameter(value)
            else:
                self.register_buffer(full, value)
        var = store[full]
        if list(var.shape) != list(shape):
            raise InputError(f"variable {full} has shape {list(var.shape)}, asked for {list(shape)}")
        return var

    def assign(self, var: torch.Tensor, value: torch.Tensor) -> None:
        """``tf.assign`` of a non-trainable variable (skipped while building)."""
        if not self._building:
            with torch.no_grad():
                var.copy_(value)

    def variable_shape(self, name: str) -> list[int]:
        """Shape of an existing trainable variable (its full name)."""
        return list(self.vars[name].shape)


NORMAL = ("normal", WEIGHT_STDDEV)
NORMAL_1 = ("normal", 1.0)  # tf.random_normal_initializer() defaults
ZEROS = ("const", 0.0)
ONES = ("const", 1.0)


# ----------------------------------------------------------------- layout helpers
def same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of a conv on ``size`` pixels."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def tf_conv2d_same(x, kernel, strides):
    """``tf.nn.conv2d(x, kernel, [1, sh, sw, 1], "SAME")``: x NHWC, kernel [kh, kw, c_in, c_out]."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    (pt, pb), (pl, pr) = same_pads(x.shape[1], kh, strides[0]), same_pads(x.shape[2], kw, strides[1])
    x = F.pad(_nchw(x), (pl, pr, pt, pb))
    return _nhwc(F.conv2d(x, kernel.permute(3, 2, 0, 1), stride=tuple(strides)))


# ----------------------------------------------------------------- arch_ops.py
def relu(x):
    return torch.clamp(x, min=0.0)  # tf.nn.relu


def lrelu(x, leak=0.2):
    """arch_ops.py:595-597: max(x, leak * x)."""
    return torch.maximum(x, leak * x)


def l2_normalize(x, eps=L2N_EPS):
    """tf.math.l2_normalize(axis=None): x / sqrt(max(sum(x^2), eps))."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(), min=eps))


def spectral_norm(store: VarStore, inputs, var_name: str = "kernel"):
    """arch_ops.py:453-535 with singular_value="left" (its default): w / (u^T w v)."""
    w = inputs.reshape(-1, inputs.shape[-1])  # (kh*kw*c_in, c_out), :479
    u_var = store.get_variable(var_name + "/u_var", [w.shape[0], 1], NORMAL_1, trainable=False)  # :487-497
    u = u_var
    v = l2_normalize(w.t() @ u)  # :507-509, one power iteration (:503)
    u = l2_normalize(w @ v)
    store.assign(u_var, u)  # :516-517
    u, v = u.detach(), v.detach()  # :521-522 stop_gradient
    norm_value = u.t() @ w @ v  # :525
    return (w / norm_value).reshape(inputs.shape)  # :531-534


def linear(store, inputs, output_size, scope="linear", use_sn=False, use_bias=True):
    """arch_ops.py:538-556: inputs (N, in) @ kernel [in, out] (+ bias)."""
    with store.scope(scope):
        kernel = store.get_variable("kernel", [inputs.shape[1], output_size], NORMAL)
        if use_sn:
            kernel = spectral_norm(store, kernel)
        outputs = inputs @ kernel
        if use_bias:
            outputs = outputs + store.get_variable("bias", [output_size], ZEROS)
    return outputs


def conv2d(store, inputs, output_dim, k_h, k_w, d_h, d_w, name="conv2d", use_sn=False, use_bias=True):
    """arch_ops.py:559-573: 'SAME' conv, kernel [k_h, k_w, c_in, output_dim] (+ bias)."""
    with store.scope(name):
        w = store.get_variable("kernel", [k_h, k_w, inputs.shape[-1], output_dim], NORMAL)
        if use_sn:
            w = spectral_norm(store, w)
        outputs = tf_conv2d_same(inputs, w, (d_h, d_w))
        if use_bias:
            outputs = outputs + store.get_variable("bias", [output_dim], ZEROS)
    return outputs


def deconv2d(store, inputs, output_shape, k_h, k_w, d_h, d_w, name="deconv2d"):
    """arch_ops.py:579-592: ``tf.nn.conv2d_transpose`` with kernel [k_h, k_w, out, in], plus bias.

    conv2d_transpose(x) = (d/dy conv2d(y, w, SAME))^T x: the vector-Jacobian product of the 'SAME'
    conv from the output shape, evaluated at ``x`` (conv2d is linear in y, so at any y).
    """
    with store.scope(name):
        w = store.get_variable("kernel", [k_h, k_w, output_shape[-1], inputs.shape[-1]], NORMAL)
        with torch.enable_grad():
            y = torch.zeros(list(output_shape), dtype=inputs.dtype, device=inputs.device, requires_grad=True)
            (deconv,) = torch.autograd.grad(tf_conv2d_same(y, w, (d_h, d_w)), y, grad_outputs=inputs,
                                            create_graph=True)
        return deconv + store.get_variable("bias", [output_shape[-1]], ZEROS)


def standardize_batch(store, inputs, is_training, decay, epsilon):
    """arch_ops.py:194-319 (use_moving_averages=True, NHWC, no cross-replica mean)."""
    shape = inputs.shape
    if inputs.dim() == 2:  # :281-285
        inputs = inputs.reshape(-1, 1, 1, shape[-1])
    counts = inputs.shape[0] * inputs.shape[1] * inputs.shape[2]  # tf.nn.sufficient_statistics over (0, 1, 2)
    mean = inputs.sum(dim=(0, 1, 2)) / counts  # tf.nn.normalize_moments, shift=None
    variance = (inputs * inputs).sum(dim=(0, 1, 2)) / counts - mean * mean
    moving_mean = store.get_variable("moving_mean", [shape[-1]], ZEROS, trainable=False)  # :88-101
    moving_variance = store.get_variable("moving_variance", [shape[-1]], ONES, trainable=False)
    if is_training:  # :102-117, assign_moving_average(zero_debias=False)
        store.assign(moving_mean, moving_mean - (moving_mean - mean.detach()) * (1 - decay))
        store.assign(moving_variance, moving_variance - (moving_variance - variance.detach()) * (1 - decay))
    else:
        mean, variance = moving_mean, moving_variance
    outputs = (inputs - mean) * torch.rsqrt(variance + epsilon)  # tf.nn.batch_normalization, :306-312
    return outputs.reshape(shape)


def batch_norm(store, inputs, is_training, name, decay, epsilon):
    """arch_ops.py:327-367: standardize_batch, then * gamma [C] (ones) + beta [C] (zeros)."""
    with store.scope(name):
        outputs = standardize_batch(store, inputs, is_training, decay, epsilon)
        outputs = outputs * store.get_variable("gamma", [inputs.shape[-1]], ONES)
        return outputs + store.get_variable("beta", [inputs.shape[-1]], ZEROS)


def layer_norm(store, inputs, scope):
    """arch_ops.py:448-450: tf.contrib.layers.layer_norm(begin_norm_axis=1, begin_params_axis=-1)."""
    with store.scope(scope):
        beta = store.get_variable("beta", [inputs.shape[-1]], ZEROS)
        gamma = store.get_variable("gamma", [inputs.shape[-1]], ONES)
    axes = tuple(range(1, inputs.dim()))
    mean = inputs.mean(dim=axes, keepdim=True)  # tf.nn.moments
    variance = ((inputs - mean.detach()) ** 2).mean(dim=axes, keepdim=True)
    return (inputs - mean) * torch.rsqrt(variance + LAYER_NORM_EPS) * gamma + beta


# ----------------------------------------------------------------- resnet_ops.py
def unpool(value):
    """resnet_ops.py:35-56, literally: reshape to [-1, d1, ch], concat zeros along axes 2 then 1, reshape."""
    sh = list(value.shape)
    dim = len(sh[1:-1])
    out = value.reshape([-1] + sh[-dim:])
    for i in range(dim, 0, -1):
        out = torch.cat([out, torch.zeros_like(out)], i)
    out_size = [-1] + [s * 2 for s in sh[1:-1]] + [sh[-1]]
    return out.reshape(out_size)


def avg_pool_same(x):
    """``tf.nn.pool(x, [2, 2], "AVG", "SAME", strides=[2, 2])`` on NHWC (resnet_ops.py:131-133)."""
    n, h, w, c = x.shape
    (_, pb), (_, pr) = same_pads(h, 2, 2), same_pads(w, 2, 2)  # before is 0 for a 2x2 window, stride 2
    xp = F.pad(x, (0, 0, 0, pr, 0, pb))
    mask = F.pad(torch.ones(1, h, w, 1, dtype=x.dtype, device=x.device), (0, 0, 0, pr, 0, pb))
    oh, ow = xp.shape[1] // 2, xp.shape[2] // 2
    total = xp.reshape(n, oh, 2, ow, 2, c).sum(dim=(2, 4))
    count = mask.reshape(1, oh, 2, ow, 2, 1).sum(dim=(2, 4))
    return total / count


__all__ = ["VarStore", "NORMAL", "ZEROS", "ONES", "same_pads", "tf_conv2d_same", "relu", "lrelu", "l2_normalize",
           "spectral_norm", "linear", "conv2d", "deconv2d", "standardize_batch", "batch_norm", "layer_norm", "unpool",
           "avg_pool_same"]
