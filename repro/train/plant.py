"""Test seam: a planted one-ulp divergence inside one layer, never set in normal use.

``REPRO_PLANT="MODULE:STEP:HOW"`` (read when a :class:`repro.train.loop.Trainer` is built) wraps
the forward of the module at ``MODULE`` (a path as :mod:`repro.localize` names it: ``G.<name>``
or ``D.<name>`` of ``named_modules``) so that at generator step ``STEP`` (an integer, or ``*`` for
every step) its output goes through one extra op, ``repro_plant.nudge``. ``HOW`` is what the
op does: ``0`` nothing (it returns a copy), ``1`` moves the largest element one ulp up, ``flip``
adds it on every other call. Two replicates with ``:0`` and ``:1`` run the same ops on the same
inputs and differ in one op's output: exactly what a nondeterministic kernel looks like to an op
recorder, which is why the perturbation lives inside a custom op (an op of its own, opaque to a
dispatch mode) and not in Python around it. ``flip`` differs between two calls of one process
(what ``repro scan --run-twice`` looks for).

The variable is recorded in the run's ``fingerprint.json`` (``env``) when set, so that
``repro localize`` replays a planted run with its plant.
"""

from __future__ import annotations

import os

import torch

from repro.errors import InputError

ENV = "REPRO_PLANT"
HOWS = ("0", "1", "flip")
_state = {"how": "0", "calls": 0}


_op = None


def _nudge_op():
    """The custom op ``repro_plant::nudge``, registered on first use: registering costs about 0.2 s
    of start-up (``torch.library``), which a run without a plant must not pay."""
    global _op
    if _op is not None:
        return _op

    @torch.library.custom_op("repro_plant::nudge", mutates_args=())
    def nudge(x: torch.Tensor) -> torch.Tensor:
        """A copy of ``x``; its largest element moved one ulp up when the plant says so."""
        y = x.clone()
        _state["calls"] += 1
        how = _state["how"]
        if y.numel() and (how == "1" or (how == "flip" and _state["calls"] % 2 == 0)):
            flat = y.view(-1)
            i = int(flat.argmax())  # the largest element: a ReLU after the layer cannot erase the change
            flat[i:i + 1] = torch.nextafter(flat[i:i + 1], torch.full_like(flat[i:i + 1], float("inf")))
        return y

    @nudge.register_fake
    def _(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    nudge.register_autograd(lambda ctx, grad: grad)
    _op = nudge
    return _op


def parse(spec: str) -> tuple[str, int | None, str]:
    """``(module path, step or None for every step, how)`` of a ``REPRO_PLANT`` value."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or parts[2] not in HOWS or not (parts[1] == "*" or parts[1].isdigit()):
        raise InputError(f"{ENV}={spec!r}: expected MODULE:STEP:HOW with STEP an integer or *, HOW one of "
                         f"{', '.join(HOWS)}")
    return parts[0], None if parts[1] == "*" else int(parts[1]), parts[2]


def install(trainer) -> None:
    """Wrap the planted module of ``trainer`` (a no-op when ``REPRO_PLANT`` is unset)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    path, step, how = parse(spec)
    nets = {"G": trainer.G, "D": trainer.D}
    head, _, rest = path.partition(".")
    modules = dict(nets[head].named_modules()) if head in nets else {}
    if rest not in modules:
        raise InputError(f"{ENV}={spec!r}: no module {path!r}; modules are G.<name> or D.<name> of named_modules()")
    module = modules[rest]
    _state.update(how=how, calls=0)
    nudge = _nudge_op()
    forward = module.forward

    def planted(*args, **kwargs):
        out = forward(*args, **kwargs)
        if step is None or trainer.step + 1 == step:
            out = nudge(out)
        return out

    module.forward = planted  # an instance attribute: the state dict and the hashes are untouched
