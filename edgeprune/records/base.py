"""The typed-record base: one reader that validates, one writer, unknown keys kept.

A record is a dataclass whose fields are the top-level keys of one JSON file
(docs/run-directory.md lists them). Reading checks that the file is a JSON
object, that every required field is there and that each known field has the
declared JSON type; a bad file is one :class:`EdgepruneError` naming the file,
the problem and the fix. Keys the record does not declare (a newer or older
edgeprune wrote them) stay in :attr:`Record.extra`, and the key order of the
file is kept, so a record read and written again is the same JSON. A field a
file lacks is :data:`ABSENT` (not ``None``: ``null`` is a value some files hold)
and is not written. Torch-free and stdlib-only: bench, select and ship use it on
the device.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import EdgepruneError

R = TypeVar("R", bound="Record")


class _Absent:
    """The value of a field its file does not hold (written as nothing)."""

    _instance = None

    def __new__(cls):
        cls._instance = cls._instance or super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()

_JSON_TYPES = {dict: dict, list: list, str: str, bool: bool, int: (int,), float: (int, float)}


def _allowed(hint: Any) -> tuple | None:
    """The Python types a JSON value of a field annotated ``hint`` may have; None: anything."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        parts = [_allowed(h) for h in typing.get_args(hint)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    if hint is type(None):
        return (type(None),)
    if origin in _JSON_TYPES:
        t = _JSON_TYPES[origin]
        return t if isinstance(t, tuple) else (t,)
    return None


def _type_name(t: tuple) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
             float: "a number", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(x, x.__name__) for x in t))


@dataclasses.dataclass
class Record:
    """Base of every record: subclasses declare the file's fields (required first)."""

    #: what to do about a bad file (the error's fix)
    FIX: ClassVar[str] = "Re-run the stage that writes it."
    #: the docs/run-directory.md section that lists the fields (tests/test_records.py checks it)
    DOC: ClassVar[str] = ""
    #: fields that hold a list of records of another class (bench rows)
    NESTED: ClassVar[dict[str, type["Record"]]] = {}

    extra: dict = dataclasses.field(default_factory=dict, kw_only=True)
    _order: tuple = dataclasses.field(default=(), kw_only=True, repr=False, compare=False)

    # ------------------------------------------------------------ reading
    @classmethod
    def fields(cls) -> list[str]:
        """The declared JSON keys, in the order the writer emits them."""
        return [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_") and f.name != "extra"]

    @classmethod
    def from_json(cls: type[R], doc: Any, where: str | os.PathLike = "record", fix: str | None = None) -> R:
        """``doc`` as this record; raises a one-line EdgepruneError naming ``where`` on a bad document."""
        fix = cls.FIX if fix is None else fix
        if not isinstance(doc, dict):
            raise EdgepruneError(f"{where} holds a JSON {type(doc).__name__}, not an object.", fix)
        hints = typing.get_type_hints(cls)
        known, kw = set(cls.fields()), {}
        for f in dataclasses.fields(cls):
            if f.name not in known:
                continue
            if f.name not in doc:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise EdgepruneError(f"{where} has no '{f.name}'.", fix)
                continue
            value, allowed = doc[f.name], _allowed(hints.get(f.name))
            if allowed is not None and value is not ABSENT and (
                    not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
                raise EdgepruneError(f"{where}: '{f.name}' is {_type_name((type(value),))}, "
                                     f"not {_type_name(allowed)}.", fix)
            if f.name in cls.NESTED:
                value = [cls.NESTED[f.name].from_json(x, f"{where} {f.name}[{i}]", fix) for i, x in enumerate(value)]
            kw[f.name] = value
        return cls(**kw, extra={k: v for k, v in doc.items() if k not in known}, _order=tuple(doc))

    @classmethod
    def read(cls: type[R], path: str | os.PathLike, fix: str | None = None) -> R:
        """The record in ``path``: missing, unreadable or invalid is one line naming the file and the fix."""
        from ..runio import read_json_object

        fix = cls.FIX if fix is None else fix
        return cls.from_json(read_json_object(path, fix), Path(path), fix)

    @classmethod
    def read_or_none(cls: type[R], path: str | os.PathLike) -> R | None:
        """The record, or None when the file is missing or not a valid record (a cache to recompute)."""
        try:
            return cls.read(path)
        except EdgepruneError:
            return None

    # ------------------------------------------------------------ writing
    def to_json(self) -> dict:
        """The document: declared fields that are present, then the extra keys, in the file's key order."""
        doc = {k: getattr(self, k) for k in self.fields() if getattr(self, k) is not ABSENT}
        for k in self.NESTED:
            if k in doc:
                doc[k] = [x.to_json() for x in doc[k]]
        doc.update({k: v for k, v in self.extra.items() if k not in doc})
        if not self._order:
            return doc
        rank = {k: i for i, k in enumerate(self._order)}
        return dict(sorted(doc.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    def write(self, path: str | os.PathLike) -> Path:
        """Write the record atomically (runio.write_json)."""
        from ..runio import write_json

        return write_json(path, self.to_json())

    def get(self, key: str, default: Any = None) -> Any:
        """A declared field or an extra key, ``default`` when absent (for keys older files may lack)."""
        value = getattr(self, key, ABSENT) if key in self.fields() else self.extra.get(key, ABSENT)
        return default if value is ABSENT else value


def write_document(cls: type[Record], path: str | os.PathLike, doc: dict) -> Path:
    """Validate ``doc`` as ``cls`` and write it: the one writer of every stage's document."""
    return cls.from_json(doc, path, "This is a bug in edgeprune: please report it.").write(path)
