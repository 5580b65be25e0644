"""Name -> object registries (like timm's ``register_model``): one helper for every pluggable kind.

A module registers its own entries at import::

    STRATEGIES = Registry("strategy")

    @STRATEGIES.register("balanced")
    def balanced(ranges): ...

    STRATEGIES.get("balancd")  # EdgepruneError: Unknown strategy 'balancd'. Did you mean 'balanced'? Known: ...

Lookups by name go through :meth:`Registry.get` (``reg[name]`` is the same), so an unknown
name is a one-line :class:`EdgepruneError` naming the close matches and the known names,
never a bare ``KeyError``. Iteration follows registration order.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from .errors import EdgepruneError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one ``kind`` (used in messages: ``Unknown <kind> 'x'``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name``; a second entry under one name is a bug, not a user error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj
        return obj

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator registering the object under each of ``names`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            for name in names or (getattr(obj, "__name__"),):
                self.add(name, obj)
            return obj

        return deco

    def get(self, name: str) -> T:
        """The entry named ``name``; :class:`EdgepruneError` with close matches when there is none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.unknown([name]) from None

    def check(self, names: Iterable[str]) -> None:
        """Fail on the first call with every unknown name among ``names`` (validate before work)."""
        bad = [n for n in names if n not in self]
        if bad:
            raise self.unknown(bad)

    def unknown(self, names: list[str]) -> EdgepruneError:
        """The one-line error for ``names`` not being registered."""
        close = [m for n in names for m in difflib.get_close_matches(str(n), self.names(), n=3)]
        hint = f"Did you mean {' or '.join(repr(m) for m in dict.fromkeys(close))}? " if close else ""
        return EdgepruneError(f"Unknown {self.kind} {', '.join(repr(n) for n in names)}.",
                              f"{hint}Known: {', '.join(self._entries) or 'none'}.")

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
