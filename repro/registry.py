"""Named registries that check what they hold (one per family: losses, penalties, ...)."""

from __future__ import annotations

import difflib
from typing import Generic, Iterable, Iterator, TypeVar

from repro.errors import InputError

T = TypeVar("T")

MAX_LISTED = 20  # an error lists every valid name up to this many; beyond, the closest few and a count
CLOSEST = 3  # how many close names a "did you mean" offers


def suggest(value: str, choices: Iterable[str], n: int = CLOSEST) -> list[str]:
    """The names in ``choices`` closest to ``value`` (difflib ratio >= 0.6, then prefix matches), best first."""
    choices = list(choices)
    close = difflib.get_close_matches(value, choices, n=n, cutoff=0.6)
    if len(close) < n and value:  # "resnet19_hinge" is far from every full grid name by ratio, but a prefix
        close += [c for c in choices if c.startswith(value) and c not in close][: n - len(close)]
    return close


def unknown_message(kind: str, value: object, choices: Iterable[str], *, noun: str = "names",
                    listing: str = "") -> str:
    """``unknown <kind> 'x'; did you mean a, b?; valid <kind> <noun>: ...`` (all of them when few,
    else the count and ``listing``, a command that prints them)."""
    choices = list(choices)
    text = f"unknown {kind} {value!r}"
    close = suggest(str(value), choices)
    if close:
        text += f"; did you mean {', '.join(close)}?"
    if len(choices) <= MAX_LISTED:
        return f"{text}; valid {kind} {noun}: {', '.join(choices) or '(none)'}"
    where = f": {listing} lists them" if listing else ""
    return f"{text} ({len(choices)} valid {kind} {noun}{where})"


class Registry(Generic[T]):
    """A name -> object table. Duplicate or unknown names are a ``ValueError`` listing the valid ones."""

    def __init__(self, kind: str, listing: str = ""):
        """``kind`` names the family in errors; ``listing`` is a command that prints every name
        (quoted in the error for an unknown name when there are too many to list)."""
        self.kind, self.listing = kind, listing
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            if name in self._items:
                raise InputError(f"duplicate {self.kind} name {name!r}; already registered: {self.names_text()}")
            self._items[name] = item
            return item

        if obj is not None:
            return add(obj)
        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise InputError(unknown_message(self.kind, name, self._items, listing=self.listing)) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def names_text(self) -> str:
        return ", ".join(self._items) or "(none)"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def check_choice(field: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Raise a ``ValueError`` naming ``field``, the closest choices and the valid ``choices`` unless
    ``value`` is one of them."""
    if value not in choices:
        close = suggest(str(value), choices)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"invalid {field} {value!r}{hint}; valid choices: {', '.join(choices)}")
    return value


