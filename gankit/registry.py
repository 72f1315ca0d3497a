"""One registry pattern for every swappable piece: a dict plus a decorator."""
from __future__ import annotations

from typing import Any, Callable, Iterator, TypeVar

from .errors import GankitError

T = TypeVar("T")


class Registry:
    """A named collection of factories; an unknown name lists the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._caps: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **caps: Any) -> Callable[[T], T]:
        """Decorator: `@LOSSES.register("rpgan")` stores the object under `name`; keyword arguments declare
        what the piece supports (e.g. `reads_path=True`), read back with `caps(name)`."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name], self._caps[name] = obj, dict(caps)
            return obj

        return deco

    def get(self, name: str) -> Any:
        if name not in self._items:
            valid = ", ".join(sorted(self._items))
            raise GankitError(f"unknown {self.kind} '{name}'; valid {self.kind} names: {valid}")
        return self._items[name]

    def caps(self, name: str) -> dict[str, Any]:
        """The capabilities `name` declared when it was registered (an unknown name lists the valid ones)."""
        self.get(name)
        return self._caps[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return sorted(self._items)
