"""One compare_gan training cycle (D updates, then the G update), transcribed from its source.

Written from google/compare_gan, not from ``repro.train``: HEAD (``compare_gan/gans/modular_gan.py``,
``gans/loss_lib.py``, ``architectures/arch_ops.py``) and the 2018 code that trained the paper's models
(commit 81ba388, 2018-07-16: ``compare_gan/src/gans/abstract_gan.py``, ``gans_with_penalty.py``,
``ops.py``), with TensorFlow 1.x's documented semantics for what they call. The networks are
:mod:`repro.arch.references.compare_gan` (their :class:`~repro.arch.references.compare_gan_ops.VarStore` holds the
trainable variables and the non-trainable ``u_var`` / ``moving_mean`` / ``moving_variance``, which a
forward call in training mode assigns as TF's update ops do: one power iteration per call,
arch_ops.py:503-517; moving averages with the biased batch moments, arch_ops.py:105-114, 294-297).
Gradients are torch autograd's (TF's ``tf.gradients`` of the same expression).

How one session.run orders the ops is spelled out here (TF builds a graph; the order is its control
dependencies):

HEAD on a GPU (``use_tpu=False``, no forced unrolling: one sub-step, modular_gan.py:160-163, 533-535).
Each ``session.run`` trains D once on one batch ``(x, z)`` (``fs[0]``):

1. ``generated = G(z)`` in training mode (modular_gan.py:464-467): G's batch-norm moving averages
   take one step (their update ops are in UPDATE_OPS, run before D's train op, :478-479).
2. D update (:471-485): ``create_loss`` on ``stop_gradient(generated)`` (:473): one D call on
   ``concat([x, generated])`` split in halves (:656-661), or with ``deprecated_split_disc_calls`` one
   call each (:648-654); ``d_loss`` from ``loss_lib`` (:663-665) plus ``lambda * penalty`` (:667-670);
   ``d_opt.minimize`` over D's variables (:480-483).
3. Every ``disc_iters``-th run (``disc_step % disc_iters == 0`` after the D update, :568-571, inside
   ``control_dependencies(d_losses)``, :582-584), the G update on the same features (``fs[-1]`` is
   ``fs[0]``, :560-566): ``create_loss`` again (:487-491), so D runs once more with its updated
   variables on ``concat([x, generated])`` (another power iteration, another moving-average step),
   and ``g_opt.minimize(g_loss)`` over G's variables (:494-497) differentiates through the very
   ``generated`` of step 1: G is not run again.

The 2018 code (81ba388; the GPU loop ``AbstractGAN.train``, abstract_gan.py:273-324): each iteration
draws ``batch_z`` (U(-1, 1), :232-234, 315) and runs the D update (:256-258: ``d_optim`` on
``{inputs: x, z: batch_z}``; the loss graph of gans_with_penalty.py:205-222 calls D on the real batch,
then G, then D on the fakes); every ``disc_iters``-th iteration it then runs the G update with
``feed_dict={z: batch_z}`` (:262-267), the same z (``resample_before_generator`` is False for the
study's GANs, :226-227; only the WGAN_GP class resamples, WGAN_GP.py:107-108): G runs again (its
batch norm, ``updates_collections=None``, steps again, resnet_architecture.py:48-57) and D runs on
the fakes only (the real call is not needed for ``g_loss``). It runs the G update after iterations
1, 1 + disc_iters, ... (``(counter - 1) % disc_iters == 0``, :262): after a first cycle of one D
update, every cycle is ``disc_iters`` D updates then the G update with the last one's z, which is the
cycle transcribed here (the first cycle's shortfall is not).

Not transcribed, where TF leaves the order open or a choice has no effect on a cycle's result:
with separate D calls on real and fake in one run (HEAD's deprecated split, the 2018 D update) both
calls read and assign the same ``u_var`` without a control dependency between them; this
transcription runs the real call first, in source order. HEAD's G update with the deprecated split
and a batch-norm D also runs the real call, for its moving-average update ops only (UPDATE_OPS,
:492-493); this transcription calls D on the fakes alone there. The gradient penalties (their own
D calls and random draws) are not part of these cycles.

TF Adam (``tf.train.AdamOptimizer``, modular_gan.py:70; 2018: gans_with_penalty.py:71-78): its
update rule as its docstring gives it (tensorflow/python/training/adam.py, TF 1.x):
``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``, ``m = beta1 m + (1 - beta1) g``,
``v = beta2 v + (1 - beta2) g^2``, ``var -= lr_t m / (sqrt(v) + epsilon)``, epsilon 1e-8; the slots
``m``, ``v`` start at zero; ``beta1_power`` and ``beta2_power`` are one pair of variables per
optimizer, starting at ``beta1`` and ``beta2`` and multiplied by them after every update
(``_finish``). D and G have one optimizer each (``d_opt``, ``g_opt``: modular_gan.py:606-616).
"""

from __future__ import annotations

import math

import torch

ADAM_EPSILON = 1e-8  # tf.train.AdamOptimizer(epsilon=1e-08) default


# ----------------------------------------------------------------- losses (loss_lib.py)
def sigmoid_cross_entropy_with_logits(logits, labels):
    """``tf.nn.sigmoid_cross_entropy_with_logits``: max(x, 0) - x * z + log(1 + exp(-|x|))."""
    return torch.clamp(logits, min=0.0) - logits * labels + torch.log1p(torch.exp(-logits.abs()))


def non_saturating(d_real_logits, d_fake_logits):
    """loss_lib.py:54-79 -> (d_loss, g_loss). The 2018 GAN_PENALTY loss is the same expression
    (gans_with_penalty.py at 81ba388, 230-241)."""
    ones, zeros = torch.ones_like(d_real_logits), torch.zeros_like(d_fake_logits)
    d_loss_real = sigmoid_cross_entropy_with_logits(d_real_logits, ones).mean()
    d_loss_fake = sigmoid_cross_entropy_with_logits(d_fake_logits, zeros).mean()
    g_loss = sigmoid_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits)).mean()
    return d_loss_real + d_loss_fake, g_loss


def wasserstein(d_real_logits, d_fake_logits):
    """loss_lib.py:83-102."""
    d_loss_fake = d_fake_logits.mean()
    return -d_real_logits.mean() + d_loss_fake, -d_loss_fake


def least_squares(d_real_logits, d_fake_logits):
    """loss_lib.py:106-125, on the probabilities d = sigmoid(logits) the discriminator also returns."""
    d_real, d_fake = torch.sigmoid(d_real_logits), torch.sigmoid(d_fake_logits)
    d_loss = 0.5 * ((d_real - 1.0).square().mean() + d_fake.square().mean())
    return d_loss, 0.5 * (d_fake - 1.0).square().mean()


def hinge(d_real_logits, d_fake_logits):
    """loss_lib.py:129-148."""
    d_loss = torch.relu(1.0 - d_real_logits).mean() + torch.relu(1.0 + d_fake_logits).mean()
    return d_loss, -d_fake_logits.mean()


LOSSES = {"ns": non_saturating, "wgan": wasserstein, "ls": least_squares, "hinge": hinge}


# ----------------------------------------------------------------- tf.train.AdamOptimizer
class TFAdam:
    """``tf.train.AdamOptimizer(lr, beta1, beta2, epsilon)`` over named variables (see the module)."""

    def __init__(self, variables: dict[str, torch.Tensor], lr: float, beta1: float, beta2: float,
                 epsilon: float = ADAM_EPSILON):
        self.variables = dict(variables)
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.m = {k: torch.zeros_like(v) for k, v in self.variables.items()}
        self.v = {k: torch.zeros_like(v) for k, v in self.variables.items()}
        self.beta1_power, self.beta2_power = beta1, beta2
        self.updates = 0

    @torch.no_grad()
    def apply_gradients(self, grads: dict[str, torch.Tensor]) -> None:
        lr_t = self.lr * math.sqrt(1 - self.beta2_power) / (1 - self.beta1_power)
        for name, var in self.variables.items():
            g = grads[name]
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g * g
            var.sub_(lr_t * self.m[name] / (torch.sqrt(self.v[name]) + self.epsilon))
        self.beta1_power *= self.beta1  # _finish
        self.beta2_power *= self.beta2
        self.updates += 1

    def minimize(self, loss: torch.Tensor) -> None:
        names = list(self.variables)
        grads = torch.autograd.grad(loss, [self.variables[n] for n in names])
        self.apply_gradients(dict(zip(names, grads)))


def optimizers(g_net, d_net, lr, beta1, beta2):
    """``(g_opt, d_opt)``: one Adam each over the net's trainable variables (modular_gan.py:606-616)."""
    return (TFAdam(dict(g_net.store.vars.items()), lr, beta1, beta2),
            TFAdam(dict(d_net.store.vars.items()), lr, beta1, beta2))


# ----------------------------------------------------------------- one cycle
def _discriminate(d_net, x, generated, split: bool):
    """(real logits, fake logits): one call on the concatenation (modular_gan.py:656-661) or, split,
    one call each, real first (:648-654; the 2018 graph, gans_with_penalty.py:216-222)."""
    if split:
        return d_net(x), d_net(generated)
    logits = d_net(torch.cat([x, generated]))
    return logits[:x.shape[0]], logits[x.shape[0]:]


def d_update(g_net, d_net, d_opt, loss, x, z, split: bool):
    """One D update on ``(x, z)``; returns G's output (with its graph) and the D loss."""
    generated = g_net(z)  # modular_gan.py:464-467 / gans_with_penalty.py:220
    real, fake = _discriminate(d_net, x, generated.detach(), split)  # :473 stop_gradient
    d_loss = loss(real, fake)[0]
    d_opt.minimize(d_loss)
    return generated, d_loss.detach()


def cycle(g_net, d_net, g_opt, d_opt, loss_name: str, batches, rule: str, split: bool, fresh_z=None):
    """``len(batches)`` D updates on ``batches`` = [(x, z), ...], then the G update by ``rule``:

    ``head``: HEAD's GPU loop: the G loss on the last D update's ``x`` and the ``generated`` of that
    run (G is not run again). ``2018``: the 2018 loop: G run again on the last D update's ``z``, D on
    the fakes (``split`` must be True: the 2018 graph calls D on real and fake separately).
    ``resample``: the 2018 WGAN_GP class (abstract_gan.py:263-267 at 81ba388): G run on ``fresh_z``.
    Returns ``(last d_loss, g_loss)``.
    """
    loss = LOSSES[loss_name]
    for x, z in batches:
        generated, d_loss = d_update(g_net, d_net, d_opt, loss, x, z, split)
    if rule == "head":
        fake = _discriminate(d_net, x, generated, split)[1] if not split else d_net(generated)
    elif rule == "2018":
        if not split:
            raise ValueError("the 2018 graph calls D on real and fake separately (split=True)")
        fake = d_net(g_net(z))
    elif rule == "resample":
        fake = d_net(g_net(fresh_z)) if split else _discriminate(d_net, x, g_net(fresh_z), split)[1]
    else:
        raise ValueError(f"unknown rule {rule!r}; valid: head, 2018, resample")
    g_loss = loss(torch.zeros_like(fake), fake)[1]  # every g_loss depends on the fake logits only
    g_opt.minimize(g_loss)
    return d_loss, g_loss.detach()


__all__ = [
    "ADAM_EPSILON",
    "LOSSES",
    "TFAdam",
    "cycle",
    "d_update",
    "optimizers",
    "sigmoid_cross_entropy_with_logits",
]
