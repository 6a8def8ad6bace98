"""Typed records at the file boundary: :func:`to_dict` writes a frozen dataclass (nested records,
lists, dicts) as plain JSON types; :func:`from_dict` reads one back, checking every field's type
(missing keys, wrong types, unknown keys) and naming the path of the first problems.

Fields with a default may be absent from a file (a later minor addition to a format); any other
missing field is an error. Supported field types: ``int``, ``float``, ``str``, ``bool``, ``X | None``
and other unions, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, ``Any`` (kept as read), nested
dataclasses, and classes with ``to_dict`` / ``from_dict`` of their own (e.g.
:class:`repro.audit.plan.AuditPlan`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from repro.errors import SchemaError

_MAX_DEPTH = 64  # no record nests deeper; a deeper file is refused before recursion can fail


def to_dict(record: Any) -> Any:
    """A record (or a list / dict of them) as plain JSON types, in field order."""
    if _own_codec(type(record)):
        return record.to_dict()
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_dict(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, dict):
        return {str(k): to_dict(v) for k, v in record.items()}
    if isinstance(record, (list, tuple)):
        return [to_dict(v) for v in record]
    return record


def from_dict(cls: type, data: Any, source: str = "the file") -> Any:
    """Build record ``cls`` from ``data`` (parsed JSON); raise :class:`repro.errors.SchemaError`
    naming ``source`` and the first problems (path, what was found, what was expected)."""
    errors: list[str] = []
    value = _build(data, cls, "", errors, 0)
    if errors:
        shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
        raise SchemaError(f"{source}: {shown}")
    return value


def _own_codec(tp: type) -> bool:
    """A class that (de)serialises itself: ``from_dict`` as a classmethod and ``to_dict``."""
    return isinstance(tp, type) and callable(getattr(tp, "from_dict", None)) and callable(getattr(tp, "to_dict", None))


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _build(value: Any, tp: Any, path: str, errors: list[str], depth: int) -> Any:
    where = path or "the file"
    if depth > _MAX_DEPTH:
        errors.append(f"{where} nests deeper than {_MAX_DEPTH} levels")
        return None
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:  # X | None: the inner error names the exact path
            return _build(value, real[0], path, errors, depth)
        for option in real:
            trial: list[str] = []
            built = _build(value, option, path, trial, depth)
            if not trial:
                return built
        errors.append(f"{where} is {value!r:.80}, expected {_name(tp)}")
        return None
    if isinstance(tp, type) and _own_codec(tp):
        if not isinstance(value, dict):
            errors.append(f"{where} is a {type(value).__name__}, expected an object")
            return None
        try:
            return tp.from_dict(value)
        except (ValueError, KeyError, TypeError) as exc:
            errors.append(f"{where} is not a valid {tp.__name__} ({exc})")
            return None
    if dataclasses.is_dataclass(tp):
        return _build_record(value, tp, path, errors, depth)
    if origin in (list, tuple):
        if not isinstance(value, list):
            errors.append(f"{where} is a {type(value).__name__}, expected a list")
            return None
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return [_build(v, item, f"{path}[{i}]", errors, depth + 1) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{where} is a {type(value).__name__}, expected an object")
            return None
        _, item = typing.get_args(tp)
        return {k: _build(v, item, f"{path}[{k!r}]", errors, depth + 1) for k, v in value.items()}
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        errors.append(f"{where} is {value!r:.80}, expected {_name(tp)}")
        return None
    return value


def _build_record(value: Any, cls: type, path: str, errors: list[str], depth: int) -> Any:
    where = path or "the file"
    if not isinstance(value, dict):
        errors.append(f"{where} is a {type(value).__name__}, expected an object")
        return None
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [n for n in required if n not in value]
    unknown = sorted(set(value) - names)
    if missing:
        errors.append(f"{path + ' is ' if path else ''}missing key(s) {', '.join(missing)}")
    if unknown:
        errors.append(f"{path + ' has ' if path else ''}unknown key(s) {', '.join(map(str, unknown))}")
    if missing or unknown:
        return None
    kwargs = {}
    before = len(errors)
    for f in fields:
        if f.name in value:
            kwargs[f.name] = _build(value[f.name], hints[f.name], f"{path}.{f.name}" if path else f.name, errors,
                                    depth + 1)
    if len(errors) > before:
        return None
    return cls(**kwargs)


__all__ = ["to_dict", "from_dict"]
