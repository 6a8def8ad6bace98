"""Copy a package model's weights into the compare_gan transcription (``repro.arch.references.compare_gan``).

The two lay their tensors out differently, and every conversion is written here:

* conv ``(c_out, c_in, kh, kw)`` -> TF kernel ``[kh, kw, c_in, c_out]``; transposed conv
  ``(c_in, c_out, kh, kw)`` -> TF ``[kh, kw, c_out, c_in]`` (both ``permute(2, 3, 1, 0)``);
  linear ``(out, in)`` -> ``[in, out]``.
* Where a flat vector meets a feature map, PyTorch orders the features (c, h, w) and TensorFlow
  (h, w, c): the generator's first linear layer (and SNDCGAN's batch norm over it) and the
  (SN)DCGAN discriminator's last linear layer are permuted accordingly.
* Spectral norm's ``u`` (the package's compare_gan implementation) is the same vector as TF's
  ``u_var`` (rows of the kernel reshaped to (kh*kw*c_in, c_out), in the same order), as a column.
* Batch norm ``weight, bias, running_mean, running_var`` -> ``gamma, beta, moving_mean,
  moving_variance``; layer norm (``GroupNorm(1, C)``) ``weight, bias`` -> ``gamma, beta``.

The package's parameter names are read from the model (``layers.<i>.<child>...``) by position,
following the transcription's own list of blocks; nothing of ``repro.gan`` is imported.
"""

from __future__ import annotations

import torch
from torch import nn

from repro.errors import InputError


def _conv(w):
    return w.permute(2, 3, 1, 0)


def _col(u):
    return u.reshape(-1, 1)


def _same(x):
    return x


def _nchw_to_nhwc_order(c: int, h: int, w: int) -> torch.Tensor:
    """idx such that feature j of the (h, w, c) flattening is feature idx[j] of the (c, h, w) one."""
    return torch.arange(c * h * w).reshape(c, h, w).permute(1, 2, 0).reshape(-1)


class _Map:
    """(package name, TF variable name, conversion) entries for one pair of nets."""

    def __init__(self, package_net: nn.Module, ref_net: nn.Module):
        self.pkg = dict(package_net.named_parameters()) | dict(package_net.named_buffers())
        self.scope = ref_net.scope_name
        self.entries: list[tuple[str, str, object]] = []

    def _names(self, prefix: str) -> list[str]:
        return [n for n in self.pkg if n.startswith(prefix + ".") and not n.endswith("num_batches_tracked")]

    def add(self, pkg_name: str, tf_name: str, fn=_same) -> None:
        if pkg_name not in self.pkg:
            raise InputError(f"package model has no tensor {pkg_name}")
        self.entries.append((pkg_name, f"{self.scope}/{tf_name}", fn))

    def layer(self, prefix: str, tf_scope: str, kernel_fn=_conv, bias_fn=_same, u_fn=_col) -> None:
        """A conv or linear leaf under ``prefix`` (possibly inside spectral-norm or padding wrappers)."""
        names = self._names(prefix)
        if any("parametrizations" in n for n in names):
            raise InputError("the compare_gan transcription takes the package's compare_gan spectral norm only "
                             "(sn_impl=compare_gan), not torch's parametrization")
        weight = [n for n in names if n.endswith("weight")]
        if len(weight) != 1:
            raise InputError(f"expected one weight under {prefix}, found {weight}")
        self.add(weight[0], f"{tf_scope}/kernel", kernel_fn)
        for n in names:
            if n.endswith("bias"):
                self.add(n, f"{tf_scope}/bias", bias_fn)
            elif n.endswith(".u"):
                self.add(n, f"{tf_scope}/kernel/u_var", u_fn)

    def norm(self, prefix: str, tf_scope: str, fn=_same) -> None:
        """A batch norm (with moving averages) or layer norm under ``prefix``; nothing for an identity."""
        tf = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
        for n in self._names(prefix):
            self.add(n, f"{tf_scope}/{tf[n.rsplit('.', 1)[1]]}", fn)


def _resnet_maps(g_pkg, d_pkg, g_ref, d_ref) -> tuple[_Map, _Map]:
    g = _Map(g_pkg, g_ref)
    c = g_ref.seed_channels
    order = _nchw_to_nhwc_order(c, 4, 4)
    g.layer("layers.0.linear", "fc_noise", kernel_fn=lambda w: w[order].t(), bias_fn=lambda b: b[order])
    for i, block in enumerate(g_ref.blocks, start=1):
        _resnet_block(g, f"layers.{i}", block)
    n = len(g_ref.blocks)
    g.norm(f"layers.{n + 1}.bn", "final_norm")
    g.layer(f"layers.{n + 2}.conv", "final_conv")
    d = _Map(d_pkg, d_ref)
    for i, block in enumerate(d_ref.blocks):
        _resnet_block(d, f"layers.{i}", block)
    d.layer(f"layers.{len(d_ref.blocks) + 1}.linear", "disc_final_fc", kernel_fn=lambda w: w.t())
    return g, d


def _resnet_block(m: _Map, prefix: str, block) -> None:
    name = block.name_
    pre = lambda scale: "same" if scale == "none" else scale  # noqa: E731, resnet_ops.py:130
    m.layer(f"{prefix}.shortcut", f"{name}/{pre(block.scale)}_conv_shortcut")
    m.layer(f"{prefix}.conv1", f"{name}/{pre(block.scale1)}_conv1")
    m.layer(f"{prefix}.conv2", f"{name}/{pre(block.scale2)}_conv2")
    first = "bn1" if block.is_gen_block or block.net.batch_norm_fn else "ln1"
    second = "bn2" if block.is_gen_block or block.net.batch_norm_fn else "ln2"
    m.norm(f"{prefix}.bn1" if block.is_gen_block else f"{prefix}.pre.0", f"{name}/{first}")
    m.norm(f"{prefix}.bn2" if block.is_gen_block else f"{prefix}.norm2", f"{name}/{second}")


def _dcgan_maps(g_pkg, d_pkg, g_ref, d_ref) -> tuple[_Map, _Map]:
    g = _Map(g_pkg, g_ref)
    stem = g_ref.stem.fixed
    order = _nchw_to_nhwc_order(stem["out_channels"], stem["size"], stem["size"])
    g.layer("layers.0.linear", "g_fc1", kernel_fn=lambda w: w[order].t(), bias_fn=lambda b: b[order])
    g.norm("layers.0.bn", "g_bn1", fn=(lambda v: v[order]) if stem["bn_over"] == "features" else _same)
    for i, layer in enumerate(g_ref.layers, start=1):
        g.layer(f"layers.{i}.conv", layer.name_)
        g.norm(f"layers.{i}.norm", layer.bn_name)
    g.layer(f"layers.{len(g_ref.layers) + 1}.conv", g_ref.final.name_)
    d = _Map(d_pkg, d_ref)
    offset = 1 if hasattr(d_ref, "input_map") else 0  # SNDCGAN's x*2-1 row
    for i, layer in enumerate(d_ref.layers, start=offset):
        d.layer(f"layers.{i}.conv", layer.name_)
        if layer.bn_name:
            d.norm(f"layers.{i}.norm", layer.bn_name)
    last = d_ref.layers[-1]
    h = d_ref.image_shape[0] // 2 ** sum(1 for layer in d_ref.layers if layer.stride == 2)
    order = _nchw_to_nhwc_order(last.out_channels, h, h)
    d.layer(f"layers.{len(d_ref.layers) + offset}.linear", "d_fc1" if offset else "d_fc4",
            kernel_fn=lambda w: w[:, order].t(), u_fn=lambda u: u[order].reshape(-1, 1))
    return g, d


def _copy(m: _Map, package_net: nn.Module, ref_net: nn.Module) -> None:
    ref = dict(ref_net.store.vars.items()) | {k: v for k, v in ref_net.store.named_buffers()}
    mapped_pkg = {e[0] for e in m.entries}
    trainable = {n for n, _ in package_net.named_parameters()}
    unmapped = sorted(trainable - mapped_pkg)
    uncovered = sorted(set(ref) - {e[1] for e in m.entries})
    if unmapped or uncovered:
        raise InputError(f"weight transplant incomplete: package tensors not mapped {unmapped}; "
                         f"compare_gan variables not covered {uncovered}")
    with torch.no_grad():
        for pkg_name, tf_name, fn in m.entries:
            value = fn(m.pkg[pkg_name].detach())
            if tuple(value.shape) != tuple(ref[tf_name].shape):
                raise InputError(f"shape mismatch {pkg_name} -> {tf_name}: {tuple(value.shape)} vs "
                                 f"{tuple(ref[tf_name].shape)}")
            ref[tf_name].copy_(value)


def transplant(package_pair, reference_pair, architecture: str) -> None:
    """Copy the package's (G, D) weights, biases, norms and spectral-norm vectors into the transcription's.

    Every trainable package tensor and every transcription variable must be covered (a
    ``ValueError`` names what is not), and shapes must agree after the conversion.
    """
    g_pkg, d_pkg = package_pair
    g_ref, d_ref = reference_pair
    build = _resnet_maps if architecture in ("resnet", "resnet19") else _dcgan_maps
    g_map, d_map = build(g_pkg, d_pkg, g_ref, d_ref)
    _copy(g_map, g_pkg, g_ref)
    _copy(d_map, d_pkg, d_ref)


__all__ = ["transplant"]
