"""Device profiles (``targets/*.toml``): loading, validation and display. Torch-free.

A profile is a TOML file whose schema *is* the dataclasses below: every field's
type hint and optional ``check`` metadata drive :func:`_parse`, so a malformed
profile fails with one line naming the file, the field and what was expected.
Unknown keys are errors too (a typo must not silently drop a budget).

``load_target(name_or_path)`` accepts a built-in name (``edgeprune targets``
lists them) or a path to a user's own ``.toml``.
"""
from __future__ import annotations

import difflib
import os
import sys
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .errors import EdgepruneError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
FORMATS = ("onnx", "tflite")
RUNTIMES = ("onnxruntime", "ai-edge-litert", "tflite-runtime", "tensorrt")
FAMILIES = ("raspberry-pi", "jetson", "other")
# Built-in profiles ship inside the package (edgeprune/_targets -> ../targets in a checkout).
BUILTIN_DIR = Path(__file__).resolve().parent / "_targets"


# ---------------------------------------------------------------- checks
def _check(pred: Callable[[Any], bool], expected: str) -> dict:
    return {"check": (pred, expected)}


POSITIVE = _check(lambda v: v > 0, "a number > 0")
FRACTION = _check(lambda v: 0 <= v <= 1, "a fraction in [0, 1]")
BAND = _check(lambda v: 0 < v < 1, "a relative error band in (0, 1), e.g. 0.4 for +-40%")
SLUG = _check(lambda v: v and all(c.isalnum() or c == "-" for c in v) and v == v.lower(),
              "a lower-case name of letters, digits and '-'")


def one_of(*choices: str) -> dict:
    return _check(lambda v: v in choices, "one of " + ", ".join(choices))


def each(pred_meta: dict) -> dict:
    pred, expected = pred_meta["check"]
    return _check(lambda vs: len(vs) > 0 and all(pred(v) for v in vs), f"a non-empty list of {expected}")


NONEMPTY = _check(lambda v: len(v) > 0, "a non-empty list")


# ---------------------------------------------------------------- schema
@dataclass(frozen=True)
class Hardware:
    """What the board is. Numbers come from the ``source``."""

    cpu: str
    cpu_arch: str = field(metadata=one_of("aarch64", "armv7l", "x86_64"))
    cpu_cores: int = field(metadata=POSITIVE)
    cpu_clock_ghz: float = field(metadata=POSITIVE)
    accelerator: str
    ram_gb: tuple[float, ...] = field(metadata=each(POSITIVE))
    storage: str
    source: str
    ram_bandwidth_gbs: float | None = field(default=None, metadata=POSITIVE)
    notes: str = ""

    @property
    def min_ram_mb(self) -> float:
        return min(self.ram_gb) * 1000


@dataclass(frozen=True)
class Software:
    """What runs on the board's usual OS (for the device install and the ship bundle)."""

    os: str
    python: str
    onnxruntime: str
    ai_edge_litert: str
    tflite_runtime: str
    gpu_stack: str
    source: str


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime a format runs in on this device, and with how many threads."""

    runtime: str = field(metadata=one_of(*RUNTIMES))
    threads: int = field(metadata=POSITIVE)
    notes: str = ""


@dataclass(frozen=True)
class Budgets:
    """Default selection budgets; ``edgeprune select --max-...`` overrides them."""

    max_size_mb: float = field(metadata=POSITIVE)
    max_ram_mb: float = field(metadata=POSITIVE)
    max_latency_ms: float = field(metadata=POSITIVE)
    min_accuracy: float = field(metadata=FRACTION)
    source: str

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("max_size_mb", "max_ram_mb", "max_latency_ms", "min_accuracy")}


@dataclass(frozen=True)
class Calibration:
    """A published latency of a reference model on this device.

    Off the device, an artifact's latency is estimated as its host latency x
    ``device_reference_ms`` / (host latency of the same reference model, same
    runtime and threads). The first calibration of a format is the primary
    one; further ones are cross-checks whose disagreement widens the band.
    """

    format: str = field(metadata=one_of(*FORMATS))
    model: str  # timm name of the reference network (random weights; latency does not need trained ones)
    input_size: int = field(metadata=POSITIVE)
    runtime: str  # the runtime of the *published* figure, as published
    published_latency_ms: float = field(metadata=POSITIVE)
    source: str
    error_band: float = field(metadata=BAND)
    num_classes: int = field(default=1000, metadata=POSITIVE)
    threads: int | None = field(default=None, metadata=POSITIVE)  # None: not stated by the source
    runtime_factor: float = field(default=1.0, metadata=POSITIVE)  # device runtime / published runtime
    runtime_factor_source: str = ""
    notes: str = ""
    # precision of the published figure and of the host reference built for it: int8 artifacts are
    # estimated through int8 references where a profile has them (see edgeprune.bench.estimate)
    precision: str = field(default="fp32", metadata=one_of("fp32", "int8"))

    @property
    def kind(self) -> str:
        """What it calibrates: the format, with ``.int8`` for int8 references (``tflite.int8``)."""
        return self.format if self.precision == "fp32" else f"{self.format}.{self.precision}"

    @property
    def device_reference_ms(self) -> float:
        """Expected latency of the reference in *this format's* runtime on the device."""
        return self.published_latency_ms * self.runtime_factor

    def describe(self) -> str:
        thr = f"{self.threads} threads" if self.threads else "threads not stated"
        s = f"{self.model}@{self.input_size} {self.runtime}, {thr}: {self.published_latency_ms:g} ms"
        if self.runtime_factor != 1.0:
            s += f" x {self.runtime_factor:g} = {self.device_reference_ms:.4g} ms"
        return s


@dataclass(frozen=True)
class Detect:
    """How ``edgeprune bench`` recognises that it runs on this device."""

    model: tuple[str, ...] = field(default=(), metadata=NONEMPTY)  # substrings of /proc/device-tree/model


@dataclass(frozen=True)
class Target:
    """A validated device profile."""

    schema: int = field(metadata=_check(lambda v: v == SCHEMA_VERSION, f"{SCHEMA_VERSION} (the schema this edgeprune reads)"))
    name: str = field(metadata=SLUG)
    title: str
    family: str = field(metadata=one_of(*FAMILIES))
    preferred_format: str = field(metadata=one_of(*FORMATS))
    hardware: Hardware
    runtimes: dict[str, RuntimeChoice] = field(metadata={"keys": FORMATS})
    budgets: Budgets
    calibration: tuple[Calibration, ...] = ()
    software: Software | None = None
    detect: Detect | None = None
    description: str = ""
    path: Path | None = field(default=None, metadata={"internal": True})

    def calibrations(self, fmt: str, precision: str = "fp32") -> list[Calibration]:
        """Calibrations for ``fmt`` at ``precision``: the primary first, then cross-checks.

        ``fmt`` may also be a kind (``tflite.int8``, see :attr:`Calibration.kind`)."""
        if "." in fmt:
            fmt, precision = fmt.split(".", 1)
        return [c for c in self.calibration if c.format == fmt and c.precision == precision]

    def threads(self, fmt: str) -> int:
        rc = self.runtimes.get(fmt)
        return rc.threads if rc else self.hardware.cpu_cores

    def to_json(self) -> dict:
        """A compact record of the profile for bench/selection files."""
        return {"name": self.name, "title": self.title, "path": str(self.path) if self.path else None,
                "preferred_format": self.preferred_format,
                "runtimes": {f: {"runtime": r.runtime, "threads": r.threads} for f, r in self.runtimes.items()},
                "budgets": self.budgets.as_dict()}


# ---------------------------------------------------------------- parsing
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


# ---------------------------------------------------------------- lookup
def builtin_paths() -> dict[str, Path]:
    """Built-in profile name -> file."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def list_targets() -> list[Target]:
    """All built-in profiles, validated, sorted by family then name."""
    return sorted((read_target_file(p) for p in builtin_paths().values()), key=lambda t: (t.family, t.name))


def load_target(name_or_path: str | os.PathLike | Target) -> Target:
    """A built-in profile by name, or a user's ``.toml`` by path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    s = str(name_or_path)
    if s.endswith(".toml") or os.sep in s or Path(s).is_file():
        return read_target_file(s)
    known = builtin_paths()
    if s in known:
        return read_target_file(known[s])
    close = difflib.get_close_matches(s, known, n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise EdgepruneError(f"Unknown target {s!r}.",
                         f"{hint}Known targets: {', '.join(known) or 'none'}; or give a path to your own .toml.")


# ---------------------------------------------------------------- display
def _ram(h: Hardware) -> str:
    return "/".join(f"{g:g}" for g in h.ram_gb) + " GB"


def format_table(targets: list[Target]) -> str:
    """``edgeprune targets``: one line per profile."""
    head = ("name", "device", "CPU", "RAM", "accelerator", "ships", "threads", "latency reference")
    rows = [head]
    for t in targets:
        h = t.hardware
        cal = t.calibrations(t.preferred_format)
        ref = f"{cal[0].model} {cal[0].published_latency_ms:g} ms" if cal else "-"
        rows.append((t.name, t.title, f"{h.cpu_cores}x {h.cpu} {h.cpu_clock_ghz:g} GHz", _ram(h),
                     h.accelerator, t.preferred_format, str(t.threads(t.preferred_format)), ref))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_target(t: Target) -> str:
    """``edgeprune targets show NAME``: the whole profile, readable."""
    h, b = t.hardware, t.budgets
    lines = [f"{t.name}: {t.title}", f"  file: {t.path}"]
    if t.description:
        lines.append(f"  {t.description}")
    lines += [
        "hardware:",
        f"  CPU: {h.cpu_cores}x {h.cpu} {h.cpu_clock_ghz:g} GHz ({h.cpu_arch})" + (f"; {h.notes}" if h.notes else ""),
        f"  accelerator: {h.accelerator}",
        f"  RAM: {_ram(h)}" + (f", ~{h.ram_bandwidth_gbs:g} GB/s" if h.ram_bandwidth_gbs else ""),
        f"  storage: {h.storage}",
        f"  source: {h.source}",
    ]
    if t.software:
        s = t.software
        lines += ["software:", f"  OS: {s.os}, Python {s.python}",
                  f"  onnxruntime: {s.onnxruntime}; ai-edge-litert: {s.ai_edge_litert}; tflite-runtime: {s.tflite_runtime}",
                  f"  GPU stack: {s.gpu_stack}", f"  source: {s.source}"]
    lines.append(f"runtimes (preferred ship format: {t.preferred_format}):")
    for fmt, rc in t.runtimes.items():
        lines.append(f"  {fmt}: {rc.runtime}, {rc.threads} threads" + (f"  ({rc.notes})" if rc.notes else ""))
    lines += ["budgets (defaults; override with edgeprune select --max-...):",
              f"  max size {b.max_size_mb:g} MB, max peak RAM {b.max_ram_mb:g} MB, "
              f"max latency {b.max_latency_ms:g} ms, min accuracy {b.min_accuracy:g}",
              f"  source: {b.source}", "latency calibration:"]
    if not t.calibration:
        lines.append("  none: latency is not estimated off the device")
    for i, c in enumerate(t.calibration):
        role = "primary" if t.calibrations(c.kind)[0] is c else "cross-check"
        lines.append(f"  {c.kind} ({role}, +-{c.error_band:.0%}): {c.describe()}")
        lines.append(f"    source: {c.source}")
        if c.runtime_factor_source:
            lines.append(f"    runtime factor: {c.runtime_factor_source}")
        if c.notes:
            lines.append(f"    note: {c.notes}")
    if t.detect:
        lines.append("detected on: /proc/device-tree/model containing " + " or ".join(repr(m) for m in t.detect.model))
    return "\n".join(lines)
