"""What an op recorder knows about one dispatched op: the record, and where in the model it ran.

:class:`OpRecord` is one aten (or custom) op as a dispatch mode saw it: call index, overload,
module path, phase of the training step, inputs' and outputs' digests (:mod:`.digest`), shapes,
dtypes, device. :class:`ModulePaths` names the module an op runs in: forward ops from the stack
of module calls (global forward hooks), backward ops from the autograd node that runs them,
mapped back to the forward module that created the node through the node's sequence number
(autograd numbers each node as it is created, just before the op that creates it is
dispatched), and gradient accumulation from the parameter it accumulates into.

The helpers say which tensors an op reads and writes (its schema's alias annotations), whether
its outputs are defined (``empty`` and friends return uninitialised memory, which two runs need
not agree on) and which random generator it draws from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from repro.localize.result import OpRecord

# ops whose outputs are uninitialised memory by definition: never compared
UNDEFINED_OUTPUT = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                              "empty_permuted", "resize_", "resize_as_"})
# ops that must not run twice or be hashed (communication, profiler bookkeeping)
NOT_RECORDED_NAMESPACES = frozenset({"c10d", "_c10d_functional", "profiler", "debug_mode_ops"})
# autograd's sequence number of a node that no forward op created (AccumulateGrad and friends)
_NO_SEQ = (1 << 64) - 1


@dataclass(frozen=True)
class OpInfo:
    """What a recorder needs to know about one overload, read once from its schema and tags."""

    name: str  # aten.convolution.default
    skip: bool  # not recorded (communication, profiler)
    random: bool  # draws from a generator
    undefined: bool  # returns uninitialised memory
    mutable: bool  # writes some argument in place
    out_kwargs: frozenset[str]  # keyword-only written arguments: out= buffers, written, not read


_INFO: dict[Any, OpInfo] = {}
_PLAIN = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout})
_GENERATOR = type(torch.default_generator)


def info(func: Any) -> OpInfo:
    """The :class:`OpInfo` of an overload (cached: a schema walk per call would cost more than the op)."""
    found = _INFO.get(func)
    if found is None:
        schema = getattr(func, "_schema", None)
        mutable = bool(schema is not None and schema.is_mutable)
        out_kwargs = frozenset(a.name for a in schema.arguments if a.kwarg_only and a.alias_info is not None
                               and a.alias_info.is_write) if mutable else frozenset()
        found = _INFO[func] = OpInfo(overload_name(func), namespace(func) in NOT_RECORDED_NAMESPACES, is_random(func),
                                     undefined_output(func), mutable, out_kwargs)
    return found


def split_args(op: OpInfo, args: tuple, kwargs: dict) -> tuple[list[torch.Tensor], list[Any]]:
    """One walk over an op's arguments: the tensors it reads, in argument order (not the ``out=``
    buffers it only writes, whose prior contents do not matter and may be uninitialised memory),
    and its other arguments (numbers, shapes, flags; a generator as the word ``generator``, since
    its repr holds an address)."""
    found: list[torch.Tensor] = []
    other: list[Any] = []

    def walk(obj: Any) -> None:
        kind = type(obj)
        if kind in _PLAIN:
            other.append(obj)
        elif isinstance(obj, torch.Tensor):
            found.append(obj)
            other.append("T")
        elif kind is list or kind is tuple:
            for item in obj:
                walk(item)
        elif kind is _GENERATOR:  # not isinstance: torch.Generator's metaclass makes that cost a microsecond
            other.append("generator")
        else:
            other.append(obj)

    walk(args)
    for name, value in kwargs.items():
        other.append(name)
        if name in op.out_kwargs:
            other.append("out")
        else:
            walk(value)
    return found, other


def overload_name(func: Any) -> str:
    """``aten.convolution.default``, as ``str(func)`` gives it for an OpOverload."""
    return str(func)


def namespace(func: Any) -> str:
    return getattr(func, "namespace", "") or str(func).split(".", 1)[0]


def base_name(func: Any) -> str:
    schema = getattr(func, "_schema", None)
    return schema.name.split("::", 1)[-1] if schema is not None else str(func)


def undefined_output(func: Any) -> bool:
    return base_name(func) in UNDEFINED_OUTPUT


def tensors(obj: Any, out: list[torch.Tensor]) -> list[torch.Tensor]:
    """Every tensor in ``obj`` (nested lists, tuples, dicts), in order."""
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            tensors(item, out)
    elif isinstance(obj, dict):
        for item in obj.values():
            tensors(item, out)
    return out


def non_tensors(obj: Any) -> Any:
    """``obj`` with tensors replaced by a placeholder and generators by their kind: what ``repr``
    of the op's other arguments may include (a generator's repr holds its address)."""
    if isinstance(obj, torch.Tensor):
        return "T"
    if type(obj) is _GENERATOR:
        return "generator"
    if isinstance(obj, (list, tuple)):
        return [non_tensors(x) for x in obj]
    if isinstance(obj, dict):
        return {k: non_tensors(v) for k, v in obj.items()}
    return obj


def written(func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The tensors an op writes in place (its schema's ``Tensor(a!)`` arguments: in-place and out=)."""
    schema = getattr(func, "_schema", None)
    if schema is None or not schema.is_mutable or not info(func).mutable:
        return []
    out: list[torch.Tensor] = []
    for i, arg in enumerate(schema.arguments):
        if arg.alias_info is None or not arg.alias_info.is_write:
            continue
        value = kwargs.get(arg.name) if arg.kwarg_only or i >= len(args) else args[i]
        if value is None and arg.name in kwargs:
            value = kwargs[arg.name]
        tensors(value, out)
    return out


def is_random(func: Any) -> bool:
    return torch.Tag.nondeterministic_seeded in getattr(func, "tags", ())


def generator_of(func: Any, args: tuple, kwargs: dict) -> torch.Generator | None:
    """The generator a random op draws from: its ``generator`` argument, else the default one of
    the device it runs on (None when that cannot be told)."""
    gen = kwargs.get("generator")
    if type(gen) is _GENERATOR:
        return gen
    for a in args:
        if type(a) is _GENERATOR:
            return a
    device = kwargs.get("device")
    if device is None:
        found = tensors(args, [])
        device = found[0].device if found else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    return None


class ModulePaths:
    """Names the module each op runs in, while entered (global forward hooks: every module).

    ``nets`` maps a prefix to a model (``{"G": generator, "D": discriminator}``); modules are named
    ``<prefix>.<name in named_modules()>``, parameters likewise.
    """

    def __init__(self, nets: dict[str, nn.Module]):
        self.names: dict[int, str] = {}
        self.params: dict[int, str] = {}
        for prefix, net in nets.items():
            for name, module in net.named_modules():
                self.names[id(module)] = f"{prefix}.{name}" if name else prefix
            for name, param in net.named_parameters():
                self.params[id(param)] = f"{prefix}.{name}"
        self.stack: list[str] = []
        self.by_seq: dict[int, str] = {}  # autograd node sequence number -> forward module
        self._handles: list[Any] = []

    def __enter__(self) -> "ModulePaths":
        hooks = nn.modules.module
        self._handles = [hooks.register_module_forward_pre_hook(self._pre),
                         hooks.register_module_forward_hook(self._post, always_call=True)]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.stack.clear()

    def _pre(self, module: nn.Module, args: Any) -> None:
        self.stack.append(self.names.get(id(module), type(module).__name__))

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.stack:
            self.stack.pop()

    def new_step(self) -> None:
        """Forget the nodes of earlier steps (their graphs are gone)."""
        self.by_seq.clear()
        self.stack.clear()

    def where(self) -> tuple[str, bool, str]:
        """``(module path, backward?, autograd node name)`` of the op being dispatched now."""
        node = torch._C._current_autograd_node()
        if node is None:
            module = self.stack[-1] if self.stack else ""
            # the node this op creates (if it needs one) was numbered just before its dispatch
            self.by_seq.setdefault(torch.autograd._get_sequence_nr() - 1, module)
            return module, False, ""
        name = node.name()
        seq = node._sequence_nr()
        if seq == _NO_SEQ or seq < 0:
            variable = getattr(node, "variable", None)
            return self.params.get(id(variable), ""), True, name
        return self.by_seq.get(seq, ""), True, name


def iter_records(path) -> Iterator[OpRecord]:
    """The op records of a replay's JSON-lines file, in call order."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield OpRecord.from_dict(json.loads(line))
