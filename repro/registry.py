"""Named registries that check what they hold (one per family: losses, penalties, ...)."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table. Duplicate or unknown names are a ``ValueError`` listing the valid ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"duplicate {self.kind} name {name!r}; already registered: {self.names_text()}")
            self._items[name] = item
            return item

        if obj is not None:
            return add(obj)
        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.kind} names: {self.names_text()}") from None

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
    """Raise a ``ValueError`` naming ``field`` and the valid ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(f"invalid {field} {value!r}; valid choices: {', '.join(choices)}")
    return value


