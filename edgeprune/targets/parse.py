"""Parsing a profile: TOML -> the schema's dataclasses, every field checked, errors naming file and field."""
from __future__ import annotations

import difflib
import os
import sys
import types
import typing
from dataclasses import MISSING, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import EdgepruneError
from .schema import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class _Invalid(Exception):
    def __init__(self, where: str, expected: str, got: Any = MISSING):
        self.where, self.expected, self.got = where, expected, got


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict or is_dataclass(tp):
        return "a table"
    return str(tp)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` (from TOML) as type ``tp``, recursively; raise _Invalid on mismatch."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value, where)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Invalid(where, "a table", value)
        return _parse(tp, value, where + ".")
    if origin is tuple:
        if not isinstance(value, list):
            raise _Invalid(where, _type_name(tp), value)
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(where, "a table", value)
        item = typing.get_args(tp)[1]
        return {k: _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise _Invalid(where, _type_name(tp), value)


def _parse(cls: type, table: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a TOML table, checking every field."""
    hints = typing.get_type_hints(cls)
    known = [f for f in fields(cls) if not f.metadata.get("internal")]
    names = {f.name for f in known}
    for key in table:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "known fields: " + ", ".join(sorted(names))
            raise _Invalid(prefix + key, f"no such field ({hint})")
    kwargs = {}
    for f in known:
        where = prefix + f.name
        if f.name not in table:
            if f.default is MISSING and f.default_factory is MISSING:
                raise _Invalid(where, _type_name(_strip_optional(hints[f.name])))
            continue
        value = _convert(hints[f.name], table[f.name], where)
        if "keys" in f.metadata:
            bad = [k for k in value if k not in f.metadata["keys"]]
            if bad:
                raise _Invalid(f"{where}.{bad[0]}", "a table named one of " + ", ".join(f.metadata["keys"]))
        if "check" in f.metadata:
            pred, expected = f.metadata["check"]
            try:
                ok = bool(pred(value))
            except TypeError:
                ok = False
            if not ok:
                raise _Invalid(where, expected, table[f.name])
        kwargs[f.name] = value
    return cls(**kwargs)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)][0]
    return tp


def _cross_checks(t: Target) -> None:
    """Relations between fields that the per-field schema cannot express."""
    if t.preferred_format not in t.runtimes:
        raise _Invalid("preferred_format", f"a format listed under [runtimes] ({', '.join(t.runtimes) or 'none'})",
                       t.preferred_format)
    for fmt, rc in t.runtimes.items():
        if rc.threads > t.hardware.cpu_cores:
            raise _Invalid(f"runtimes.{fmt}.threads", f"at most hardware.cpu_cores ({t.hardware.cpu_cores})", rc.threads)
    for i, c in enumerate(t.calibration):
        if c.format not in t.runtimes:
            raise _Invalid(f"calibration[{i}].format", "a format listed under [runtimes]", c.format)
    if t.budgets.max_ram_mb > t.hardware.min_ram_mb:
        raise _Invalid("budgets.max_ram_mb", f"at most the smallest RAM variant ({t.hardware.min_ram_mb:g} MB)",
                       t.budgets.max_ram_mb)


def _fmt_got(got: Any) -> str:
    return "it is missing" if got is MISSING else f"got {got!r}"


def parse_target(data: dict, path: Path) -> Target:
    """Validate a parsed TOML document; errors name ``path`` and the field."""
    try:
        target = _parse(Target, data)
        _cross_checks(target)
    except _Invalid as e:
        raise EdgepruneError(
            f"{path}: field '{e.where}': expected {e.expected}, {_fmt_got(e.got)}.",
            "Fix the profile; see 'edgeprune targets show raspberry-pi-4' and targets/*.toml for complete examples.",
        ) from None
    return replace(target, path=path)


def read_target_file(path: str | os.PathLike) -> Target:
    p = Path(path)
    if not p.is_file():
        raise EdgepruneError(f"Target profile {p} does not exist.", "Give a profile name ('edgeprune targets') or a path to a .toml.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise EdgepruneError(f"{p}: not valid TOML ({e}).", "Fix the syntax; see targets/raspberry-pi-4.toml.") from None
    return parse_target(data, p)
