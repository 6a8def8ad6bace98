"""compare_gan's generators and discriminators, transcribed from its source (google/compare_gan HEAD).

``compare_gan/architectures/``: ``resnet_cifar.py`` (ResNet CIFAR, 32x32 only), ``resnet5.py``
(ResNet19, the study's "ResNet19": 5 G blocks, 6 D blocks, up to 128x128), ``sndcgan.py`` and
``dcgan.py``, built on ``resnet_ops.py`` and ``arch_ops.py`` (``compare_gan_ops``). File and line
are cited at each block. Independent of ``repro.gan``: the networks keep TensorFlow's NHWC layout
and variable names inside; only their boundary speaks the package's language (z (N, z_dim) ->
images (N, C, R, R); images (N, C, R, R) -> logits (N,)) so that the two can be compared.

Settings that compare_gan takes from gin (``G.batch_norm_fn``, ``D.batch_norm_fn``,
``D.layer_norm``, ``D.spectral_norm``, ``standardize_batch.decay``/``.epsilon``) are constructor
arguments here, defaulting to the example configs (example_configs/resnet_cifar10.gin:13-19:
G batch norm, decay 0.9, eps 1e-5). Channel widths that compare_gan writes as literals (256/128
in resnet_cifar.py, 64 in sndcgan.py and dcgan.py) are arguments too, defaulting to those
literals, so that tests can build narrow copies; ``resnet5`` already takes ``ch`` (resnet5.py:39, 99).

Each net is created by applying it once (TF builds its variables while building the graph), and
describes its parts with ``structure()`` computed from its variables and settings, in the
vocabulary of ``repro.arch.archdiff``. :mod:`repro.arch.references.compare_gan_transplant` copies a package
model's weights in.

Why this module is long: it transcribes four architecture files of compare_gan side by side,
block by block with their line numbers, so that a reader checks each against its source in one
place; splitting it would separate blocks that the source shares (``resnet_ops``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from repro.arch.references import compare_gan_ops as ops
from repro.errors import InputError

GIN_BN_DECAY = 0.9  # example_configs/*.gin: standardize_batch.decay = 0.9
GIN_BN_EPSILON = 1e-5  # example_configs/*.gin: standardize_batch.epsilon = 1e-5


def conv_out_size_same(size, stride):
    """sndcgan.py:32-33 / dcgan.py:35-36."""
    return int(math.ceil(float(size) / float(stride)))


class _Net(nn.Module):
    """A network: its variables (``store``) and ``apply`` (NHWC), built by one application to one example."""

    def __init__(self, name: str, seed: int):
        super().__init__()
        self.scope_name = name
        self.store = ops.VarStore(torch.Generator().manual_seed(seed))

    def _build(self, example: torch.Tensor) -> None:
        with self.store.building(), torch.no_grad():
            self._apply_scoped(example, True)

    def _apply_scoped(self, x, is_training):
        with self.store.scope(self.scope_name):  # abstract_arch.py:71-74 / 116-119 variable_scope(name)
            return self.apply(x, is_training)

    def var_shape(self, name: str) -> list[int]:
        return self.store.variable_shape(f"{self.scope_name}/{name}")

    def _bn(self, x, is_training, name):
        """abstract_arch.py:76-83 / 121-128: identity unless a batch_norm_fn is configured."""
        if not self.batch_norm_fn:
            return x
        return ops.batch_norm(self.store, x, is_training, name, self.bn_decay, self.bn_epsilon)


class _Part(nn.Module):
    """A described part of a net (no parameters of its own; its net holds the variables)."""

    def __init__(self, part: str, **fixed):
        super().__init__()
        self.part, self.fixed = part, fixed

    def attach(self, net: "_Net") -> None:
        object.__setattr__(self, "net", net)  # a plain attribute, not a submodule (no module cycle)

    def structure(self) -> dict:
        return {"part": self.part, **self.fixed}


class _FinalConv(_Part):
    """The generator's last conv (or deconv) line; its input size is recorded when it runs."""

    def __init__(self, name, k, stride, deconv=False):
        super().__init__("final_conv")
        self.name_, self.k, self.stride, self.deconv = name, k, stride, deconv
        self.in_size = None

    def structure(self) -> dict:
        k = self.net.var_shape(f"{self.name_}/kernel")
        c_in, c_out = (k[3], k[2]) if self.deconv else (k[2], k[3])
        return {"part": "final_conv", "layer": "deconv" if self.deconv else "conv", "kernel": [k[0], k[1], self.stride],
                "in_channels": c_in, "out_channels": c_out, "padding": list(ops.same_pads(self.in_size, k[0],
                                                                                          self.stride))}


def _bn_attrs(net) -> dict:
    return {"bn_eps": net.bn_epsilon, "bn_decay": net.bn_decay}


def _finish(net: _Net, parts, example: torch.Tensor) -> None:
    for p in parts:
        p.attach(net)
    net._build(example)


# ================================================================ ResNet (resnet_ops.py)
class ResNetBlock(_Part):
    """resnet_ops.py:70-182 ``ResNetBlock``; generator blocks 185-200, discriminator blocks 203-219."""

    def __init__(self, name, in_channels, out_channels, scale, is_gen_block, layer_norm=False,
                 spectral_norm=False):
        super().__init__("block")
        assert scale in ["up", "down", "none"]  # :96
        self.name_ = name
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.scale1 = scale if is_gen_block else "none"  # :101-104
        self.scale2 = "none" if is_gen_block else scale
        self.is_gen_block, self.layer_norm, self.spectral_norm = is_gen_block, layer_norm, spectral_norm

    def _get_conv(self, store, inputs, in_channels, out_channels, scale, suffix, kernel_size=(3, 3)):
        """resnet_ops.py:112-134."""
        assert inputs.shape[-1] == in_channels
        outputs = inputs
        if scale == "up":
            outputs = ops.unpool(outputs)
        outputs = ops.conv2d(store, outputs, out_channels, kernel_size[0], kernel_size[1], 1, 1,
                             name="{}_{}".format("same" if scale == "none" else scale, suffix),
                             use_sn=self.spectral_norm)
        if scale == "down":
            outputs = ops.avg_pool_same(outputs)
        return outputs

    def forward(self, store, inputs, is_training):
        """resnet_ops.py:136-182 ``apply``."""
        with store.scope(self.name_):
            output = inputs
            shortcut = self._get_conv(store, output, self.in_channels, self.out_channels, self.scale,
                                      suffix="conv_shortcut")
            output = self.net._bn(output, is_training, "bn1")
            if self.layer_norm:
                output = ops.layer_norm(store, output, scope="ln1")
            output = ops.relu(output)
            output = self._get_conv(store, output, self.in_channels, self.out_channels, self.scale1, suffix="conv1")
            output = self.net._bn(output, is_training, "bn2")
            if self.layer_norm:
                output = ops.layer_norm(store, output, scope="ln2")
            output = ops.relu(output)
            output = self._get_conv(store, output, self.out_channels, self.out_channels, self.scale2, suffix="conv2")
            return output + shortcut

    def _conv_shape(self, suffix, scale):
        prefix = "same" if scale == "none" else scale
        return self.net.var_shape(f"{self.name_}/{prefix}_{suffix}/kernel")

    def structure(self) -> dict:
        sc = self._conv_shape("conv_shortcut", self.scale)  # [kh, kw, c_in, c_out]
        hidden = self._conv_shape("conv1", self.scale1)[3]
        out = {"part": "block", "resample": {"up": "U", "down": "D", "none": "-"}[self.scale],
               "in_channels": sc[2], "out_channels": sc[3], "hidden_channels": hidden}
        norm = "spectral" if self.spectral_norm else ("batch" if self.net.batch_norm_fn else
                                                      "layer" if self.layer_norm else "none")
        if self.is_gen_block:
            return {**out, "upsampling": "unpool" if self.scale == "up" else "-",
                    "g_shortcut": f"conv{sc[0]}x{sc[1]}", "bn_eps": self.net.bn_epsilon,
                    "bn_decay": self.net.bn_decay}
        # the first normalization acts on the block's input (:160-163), before the leading ReLU (:165)
        input_norm = "batch" if self.net.batch_norm_fn else "layer" if self.layer_norm else "none"
        return {**out, "form": "pre-activation", "leading_activation": "relu", "shortcut": f"conv{sc[0]}x{sc[1]}",
                "hidden_rule": "c_out" if hidden == sc[3] else "c_in", "norm": norm, "input_norm": input_norm,
                **(_bn_attrs(self.net) if self.net.batch_norm_fn else {})}


class _ResNetGenerator(_Net):
    """Shared by resnet_cifar.Generator and resnet5.Generator (both end as resnet_cifar.py:105-112)."""

    def __init__(self, z_dim, colors, image_size, batch_norm_fn, bn_decay, bn_epsilon, seed):
        super().__init__("generator", seed)
        self.z_dim, self.colors, self.image_size = z_dim, colors, image_size
        self.batch_norm_fn, self.bn_decay, self.bn_epsilon = batch_norm_fn, bn_decay, bn_epsilon
        self.output_range = (0.0, 1.0)

    def _setup(self, blocks, seed_channels):
        self.seed_channels = seed_channels
        self.blocks = nn.ModuleList(blocks)
        self.stem, self.tail = _Part("stem", out_channels=seed_channels, size=4), _Part("tail", **_bn_attrs(self))
        self.final, self.out = _FinalConv("final_conv", 3, 1), _Part("output", activation="sigmoid")
        _finish(self, [*self.blocks, self.stem, self.tail, self.final, self.out], torch.zeros(1, self.z_dim))

    def _final(self, output, is_training):
        output = self._bn(output, is_training, "final_norm")  # resnet_cifar.py:106-107 / resnet5.py:87-88
        output = ops.relu(output)
        self.final.in_size = output.shape[1]
        output = ops.conv2d(self.store, output, self.colors, 3, 3, 1, 1, name="final_conv")
        return torch.sigmoid(output)

    def forward(self, z):
        """z (N, z_dim) -> images (N, colors, R, R) in [0, 1]."""
        return self._apply_scoped(z, self.training).permute(0, 3, 1, 2)


class _ResNetDiscriminator(_Net):
    """Shared by resnet_cifar.Discriminator and resnet5.Discriminator."""

    def __init__(self, colors, image_size, batch_norm_fn, layer_norm, spectral_norm, bn_decay, bn_epsilon, seed):
        super().__init__("discriminator", seed)
        if colors not in [1, 3]:  # resnet_cifar.py:139-142
            raise InputError("Number of color channels not supported: {}".format(colors))
        self.colors, self.image_size = colors, image_size
        self.batch_norm_fn, self.layer_norm, self.spectral_norm = batch_norm_fn, layer_norm, spectral_norm
        self.bn_decay, self.bn_epsilon = bn_decay, bn_epsilon
        self.input_range = (0.0, 1.0)

    def _setup(self, blocks):
        self.blocks = nn.ModuleList(blocks)
        self.head, self.logit = _Part("head", pooling="mean"), _Part("logit", bias=True)
        _finish(self, [*self.blocks, self.head, self.logit], torch.zeros(1, self.image_size, self.image_size,
                                                                         self.colors))

    def _head(self, output):
        output = ops.relu(output)  # resnet_cifar.py:153-158 / resnet5.py:140-143
        h = output.mean(dim=(1, 2))
        return ops.linear(self.store, h, 1, scope="disc_final_fc", use_sn=self.spectral_norm)

    def forward(self, x):
        """images (N, colors, R, R) in [0, 1] -> logits (N,)."""
        return self._apply_scoped(x.permute(0, 2, 3, 1), self.training).reshape(-1)

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


class ResNetCifarGenerator(_ResNetGenerator):
    """resnet_cifar.py:34-112."""

    def __init__(self, z_dim=128, colors=3, ch=256, batch_norm_fn=True, bn_decay=GIN_BN_DECAY,
                 bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__(z_dim, colors, 32, batch_norm_fn, bn_decay, bn_epsilon, seed)
        self.ch = ch
        self._setup([ResNetBlock("B{}".format(i + 1), ch, ch, "up", True) for i in range(3)], ch)  # :93-98

    def apply(self, z, is_training):
        assert self.image_size == 32  # :71-72
        output = ops.linear(self.store, z, 4 * 4 * self.ch, scope="fc_noise")  # :90-91
        output = output.reshape(-1, 4, 4, self.ch)  # :92
        for block in self.blocks:  # :93-103
            output = block(self.store, output, is_training)
        return self._final(output, is_training)


class ResNetCifarDiscriminator(_ResNetDiscriminator):
    """resnet_cifar.py:115-167 (no ``project_y``)."""

    def __init__(self, colors=3, ch=128, batch_norm_fn=False, layer_norm=False, spectral_norm=False,
                 bn_decay=GIN_BN_DECAY, bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__(colors, 32, batch_norm_fn, layer_norm, spectral_norm, bn_decay, bn_epsilon, seed)
        self._setup([ResNetBlock("B{}".format(i + 1), colors if i == 0 else ch, ch, "down" if i <= 1 else "none",
                                 False, layer_norm, spectral_norm) for i in range(4)])  # :145-150

    def apply(self, x, is_training):
        output = x
        for block in self.blocks:  # :144-151
            output = block(self.store, output, is_training)
        return self._head(output)


class ResNet5Generator(_ResNetGenerator):
    """resnet5.py:36-93 ("ResNet19")."""

    def __init__(self, z_dim=128, colors=3, image_size=128, ch=64, channels=(8, 8, 4, 4, 2, 1), batch_norm_fn=True,
                 bn_decay=GIN_BN_DECAY, bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__(z_dim, colors, image_size, batch_norm_fn, bn_decay, bn_epsilon, seed)
        self.ch, self.channels = ch, channels
        up_layers = math.log2(float(image_size) / 4)  # :71-77
        if not up_layers.is_integer() or up_layers < 0 or up_layers > 5:
            raise InputError("Invalid image_size {}.".format(image_size))
        self.up_layers = int(up_layers)
        self._setup([ResNetBlock("B{}".format(i + 1), ch * channels[i], ch * channels[i + 1],
                                 "up" if i < self.up_layers else "none", True) for i in range(5)],  # :79-84
                    ch * channels[0])

    def apply(self, z, is_training):
        net = ops.linear(self.store, z, self.ch * self.channels[0] * 4 * 4, scope="fc_noise")  # :61-64
        net = net.reshape(-1, 4, 4, self.ch * self.channels[0])  # :66-69
        for block in self.blocks:  # :79-85
            net = block(self.store, net, is_training)
        return self._final(net, is_training)  # :87-93


class ResNet5Discriminator(_ResNetDiscriminator):
    """resnet5.py:96-145 ("ResNet19"): B0 to ch channels, then five blocks, all downsampling."""

    def __init__(self, colors=3, image_size=128, ch=64, channels=(1, 2, 4, 4, 8, 8), batch_norm_fn=False,
                 layer_norm=False, spectral_norm=False, bn_decay=GIN_BN_DECAY, bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__(colors, image_size, batch_norm_fn, layer_norm, spectral_norm, bn_decay, bn_epsilon, seed)
        if math.log2(image_size) != int(math.log2(image_size)):  # resnet_ops.validate_image_inputs, :59-67
            raise InputError("Input tensor `width` is not a power of 2: ", image_size)
        blocks = [ResNetBlock("B0", colors, ch, "down", False, layer_norm, spectral_norm)]  # :125-130
        blocks += [ResNetBlock("B{}".format(i + 1), ch * channels[i], ch * channels[i + 1], "down", False, layer_norm,
                               spectral_norm) for i in range(5)]  # :132-138
        self._setup(blocks)

    def apply(self, x, is_training):
        output = x
        for block in self.blocks:
            output = block(self.store, output, is_training)
        return self._head(output)  # :140-143


# ================================================================ SNDCGAN and DCGAN
class _Layer(_Part):
    """One conv (or deconv) line with its batch norm and activation, as the (SN)DCGAN files write them."""

    def __init__(self, name, out_channels, k, stride, act, bn_name=None, deconv=False):
        super().__init__("block")
        self.name_, self.out_channels, self.k, self.stride = name, out_channels, k, stride
        self.act, self.bn_name, self.deconv = act, bn_name, deconv
        self.in_size = None  # recorded when built: 'SAME' padding depends on it

    def forward(self, store, net, is_training, use_sn=False):
        if self.deconv:
            n, h, w, _ = net.shape
            out_shape = [n, conv_out_size_same(h * self.stride, 1), conv_out_size_same(w * self.stride, 1),
                         self.out_channels]
            self.in_size = out_shape[1]  # of the conv whose transpose this is
            net = ops.deconv2d(store, net, out_shape, self.k, self.k, self.stride, self.stride, name=self.name_)
        else:
            self.in_size = net.shape[1]
            net = ops.conv2d(store, net, self.out_channels, self.k, self.k, self.stride, self.stride,
                             name=self.name_, use_sn=use_sn)
        if self.bn_name:
            net = self.net._bn(net, is_training, self.bn_name)
        return ops.relu(net) if self.act == "relu" else ops.lrelu(net, leak=float(self.act[6:-1]))

    def structure(self) -> dict:
        k = self.net.var_shape(f"{self.name_}/kernel")
        c_in, c_out = (k[3], k[2]) if self.deconv else (k[2], k[3])
        bn = bool(self.bn_name and self.net.batch_norm_fn)
        norm = "spectral" if getattr(self.net, "spectral_norm", False) else ("batch" if bn else "none")
        return {"part": self.part, "layer": "deconv" if self.deconv else "conv", "kernel": [k[0], k[1], self.stride],
                "in_channels": c_in, "out_channels": c_out, "padding": list(ops.same_pads(self.in_size, k[0],
                                                                                          self.stride)),
                "norm": norm, **(_bn_attrs(self.net) if bn else {}), "act": self.act}




class SNDCGANGenerator(_Net):
    """sndcgan.py:36-79."""

    def __init__(self, z_dim=128, image_shape=(32, 32, 3), ch=64, batch_norm_fn=True, bn_decay=GIN_BN_DECAY,
                 bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__("generator", seed)
        self.z_dim, self.image_shape, self.ch = z_dim, tuple(image_shape), ch
        self.batch_norm_fn, self.bn_decay, self.bn_epsilon = batch_norm_fn, bn_decay, bn_epsilon
        self.output_range = (0.0, 1.0)
        s_h8 = conv_out_size_same(conv_out_size_same(conv_out_size_same(image_shape[0], 2), 2), 2)  # :54-57
        self.stem = _Part("stem", out_channels=8 * ch, size=s_h8, bn_over="features", **_bn_attrs(self))
        self.layers = nn.ModuleList([_Layer("g_dc2", 4 * ch, 4, 2, "relu", "g_bn2", deconv=True),  # :63-65
                                     _Layer("g_dc3", 2 * ch, 4, 2, "relu", "g_bn3", deconv=True),  # :66-68
                                     _Layer("g_dc4", ch, 4, 2, "relu", "g_bn4", deconv=True)])  # :69-71
        self.final = _FinalConv("g_dc5", 3, 1, deconv=True)  # :72-73
        self.out = _Part("output", activation="tanh_unit")
        _finish(self, [self.stem, *self.layers, self.final, self.out], torch.zeros(1, z_dim))

    def apply(self, z, is_training):
        s_h, s_w, colors = self.image_shape
        s_h8 = self.stem.fixed["size"]
        net = ops.linear(self.store, z, s_h8 * s_h8 * 8 * self.ch, scope="g_fc1")  # :59
        net = self._bn(net, is_training, "g_bn1")  # :60, on the flat (N, features) output
        net = ops.relu(net)  # :61
        net = net.reshape(z.shape[0], s_h8, s_h8, 8 * self.ch)  # :62
        for layer in self.layers:
            net = layer(self.store, net, is_training)
        n = net.shape[0]
        self.final.in_size = s_h  # the size of the conv this deconv transposes
        net = ops.deconv2d(self.store, net, [n, s_h, s_w, colors], 3, 3, 1, 1, name="g_dc5")  # :72-73
        out = torch.tanh(net)  # :74
        return (out + 1.0) / 2.0  # :78 tf.div(out + 1.0, 2.0)

    def forward(self, z):
        return self._apply_scoped(z, self.training).permute(0, 3, 1, 2)


class SNDCGANDiscriminator(_Net):
    """sndcgan.py:82-127: no batch or layer norm in this discriminator."""

    def __init__(self, image_shape=(32, 32, 3), ch=64, spectral_norm=False, seed=0):
        super().__init__("discriminator", seed)
        self.image_shape, self.ch, self.spectral_norm = tuple(image_shape), ch, spectral_norm
        self.batch_norm_fn = False
        self.input_range = (0.0, 1.0)
        spec = [("d_conv1", ch, 3, 1), ("d_conv2", 2 * ch, 4, 2), ("d_conv3", 2 * ch, 3, 1), ("d_conv4", 4 * ch, 4, 2),
                ("d_conv5", 4 * ch, 3, 1), ("d_conv6", 8 * ch, 4, 2), ("d_conv7", 8 * ch, 3, 1)]  # :109-122
        self.input_map = _Part("input_map", map="x*2-1")
        self.layers = nn.ModuleList([_Layer(n, c, k, s, "lrelu(0.1)") for n, c, k, s in spec])
        self.logit = _Part("logit", bias=True)
        _finish(self, [self.input_map, *self.layers, self.logit], torch.zeros(1, *self.image_shape))

    def apply(self, x, is_training):
        x = x * 2.0 - 1.0  # :108
        net = x
        for layer in self.layers:
            net = layer(self.store, net, is_training, use_sn=self.spectral_norm)
        net = net.reshape(x.shape[0], -1)  # :123-124 (NHWC order)
        return ops.linear(self.store, net, 1, scope="d_fc1", use_sn=self.spectral_norm)  # :125

    def forward(self, x):
        return self._apply_scoped(x.permute(0, 2, 3, 1), self.training).reshape(-1)

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


class DCGANGenerator(_Net):
    """dcgan.py:39-82."""

    def __init__(self, z_dim=128, image_shape=(32, 32, 3), gf_dim=64, batch_norm_fn=True, bn_decay=GIN_BN_DECAY,
                 bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__("generator", seed)
        self.z_dim, self.image_shape, self.gf_dim = z_dim, tuple(image_shape), gf_dim
        self.batch_norm_fn, self.bn_decay, self.bn_epsilon = batch_norm_fn, bn_decay, bn_epsilon
        self.output_range = (0.0, 1.0)
        s = image_shape[0]
        for _ in range(4):  # :62-65
            s = conv_out_size_same(s, 2)
        self.stem = _Part("stem", out_channels=8 * gf_dim, size=s, bn_over="channels", **_bn_attrs(self))
        self.layers = nn.ModuleList([_Layer("g_dc1", 4 * gf_dim, 5, 2, "relu", "g_bn2", deconv=True),  # :71-73
                                     _Layer("g_dc2", 2 * gf_dim, 5, 2, "relu", "g_bn3", deconv=True),  # :74-76
                                     _Layer("g_dc3", gf_dim, 5, 2, "relu", "g_bn4", deconv=True)])  # :77-79
        self.final = _FinalConv("g_dc4", 5, 2, deconv=True)  # :80
        self.out = _Part("output", activation="tanh_unit")
        _finish(self, [self.stem, *self.layers, self.final, self.out], torch.zeros(1, z_dim))

    def apply(self, z, is_training):
        s16, g = self.stem.fixed["size"], self.gf_dim
        net = ops.linear(self.store, z, g * 8 * s16 * s16, scope="g_fc1")  # :67
        net = net.reshape(-1, s16, s16, g * 8)  # :68
        net = self._bn(net, is_training, "g_bn1")  # :69
        net = ops.relu(net)  # :70
        for layer in self.layers:
            net = layer(self.store, net, is_training)
        n = net.shape[0]
        self.final.in_size = self.image_shape[0]
        net = ops.deconv2d(self.store, net, [n, self.image_shape[0], self.image_shape[1], self.image_shape[2]], 5, 5, 2,
                           2, name="g_dc4")  # :80
        return 0.5 * torch.tanh(net) + 0.5  # :81

    def forward(self, z):
        return self._apply_scoped(z, self.training).permute(0, 3, 1, 2)


class DCGANDiscriminator(_Net):
    """dcgan.py:85-129: batch norm after convs 2-4 when ``batch_norm_fn``; no layer norm."""

    def __init__(self, image_shape=(32, 32, 3), df_dim=64, batch_norm_fn=False, spectral_norm=False,
                 bn_decay=GIN_BN_DECAY, bn_epsilon=GIN_BN_EPSILON, seed=0):
        super().__init__("discriminator", seed)
        self.image_shape, self.df_dim = tuple(image_shape), df_dim
        self.batch_norm_fn, self.spectral_norm, self.bn_decay, self.bn_epsilon = (batch_norm_fn, spectral_norm,
                                                                                  bn_decay, bn_epsilon)
        self.input_range = (0.0, 1.0)
        self.layers = nn.ModuleList([_Layer("d_conv1", df_dim, 5, 2, "lrelu(0.2)"),  # :109-110
                                     _Layer("d_conv2", 2 * df_dim, 5, 2, "lrelu(0.2)", "d_bn1"),  # :111-115
                                     _Layer("d_conv3", 4 * df_dim, 5, 2, "lrelu(0.2)", "d_bn2"),  # :116-120
                                     _Layer("d_conv4", 8 * df_dim, 5, 2, "lrelu(0.2)", "d_bn3")])  # :121-125
        self.logit = _Part("logit", bias=True)
        _finish(self, [*self.layers, self.logit], torch.zeros(1, *self.image_shape))

    def apply(self, x, is_training):
        net = x
        for layer in self.layers:
            net = layer(self.store, net, is_training, use_sn=self.spectral_norm)
        return ops.linear(self.store, net.reshape(x.shape[0], -1), 1, scope="d_fc4",
                          use_sn=self.spectral_norm)  # :126-127

    def forward(self, x):
        return self._apply_scoped(x.permute(0, 2, 3, 1), self.training).reshape(-1)

    def structure(self):
        return {"part": "input", "input_range": list(self.input_range)}


# ================================================================ by the package's names
ARCHITECTURES = ("resnet", "resnet19", "sndcgan", "dcgan")
RESOLUTIONS = {"resnet": (32,), "resnet19": (4, 8, 16, 32, 64, 128), "sndcgan": None, "dcgan": None}
D_NORMS = {"resnet": ("none", "bn", "ln", "sn"), "resnet19": ("none", "bn", "ln", "sn"), "sndcgan": ("none", "sn"),
           "dcgan": ("none", "bn", "sn")}
WHY_NOT = {
    "resnet": "resnet_cifar.py:71-72 asserts a 32x32 image",
    "sndcgan": "sndcgan.py:103-126 has no batch or layer norm in the discriminator",
    "dcgan": "dcgan.py:107-129 has batch norm (D.batch_norm_fn) but no layer norm",
}


def build(architecture: str, *, resolution: int, colors: int = 3, z_dim: int = 128, width: int = 64,
          d_norm: str = "none", bn_decay: float = GIN_BN_DECAY, bn_epsilon: float = GIN_BN_EPSILON, seed: int = 0):
    """(generator, discriminator) of compare_gan's ``architecture`` (the package's name for it).

    ``width``: the base channel count the file writes as 64 (ResNet CIFAR: G 4 x width, D 2 x width,
    i.e. 256 and 128 at 64). ``d_norm``: none | bn (``D.batch_norm_fn``) | ln (``D.layer_norm``) |
    sn (``D.spectral_norm``), where the architecture has it (:data:`D_NORMS`).
    """
    if architecture not in ARCHITECTURES:
        raise InputError(f"unknown compare_gan architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    sizes = RESOLUTIONS[architecture]
    if sizes is not None and resolution not in sizes:
        raise InputError(f"compare_gan defines {architecture} at {', '.join(map(str, sizes))} pixels, not "
                         f"{resolution} ({WHY_NOT.get(architecture, 'resnet5.py:71-77')})")
    if d_norm not in D_NORMS[architecture]:
        raise InputError(f"compare_gan's {architecture} discriminator has no d_norm={d_norm!r} "
                         f"({WHY_NOT[architecture]}); valid: {', '.join(D_NORMS[architecture])}")
    bn = {"bn_decay": bn_decay, "bn_epsilon": bn_epsilon}
    dn = {"batch_norm_fn": d_norm == "bn", "spectral_norm": d_norm == "sn"}
    shape = (resolution, resolution, colors)
    if architecture == "resnet":
        return (ResNetCifarGenerator(z_dim, colors, ch=4 * width, seed=seed, **bn),
                ResNetCifarDiscriminator(colors, ch=2 * width, layer_norm=d_norm == "ln", seed=seed + 1, **dn, **bn))
    if architecture == "resnet19":
        return (ResNet5Generator(z_dim, colors, resolution, ch=width, seed=seed, **bn),
                ResNet5Discriminator(colors, resolution, ch=width, layer_norm=d_norm == "ln", seed=seed + 1, **dn,
                                     **bn))
    if architecture == "sndcgan":
        return (SNDCGANGenerator(z_dim, shape, ch=width, seed=seed, **bn),
                SNDCGANDiscriminator(shape, ch=width, spectral_norm=d_norm == "sn", seed=seed + 1))
    return (DCGANGenerator(z_dim, shape, gf_dim=width, seed=seed, **bn),
            DCGANDiscriminator(shape, df_dim=width, seed=seed + 1, **dn, **bn))
