"""What a converter is and returns; the converter modules register their :class:`Format` in :data:`FORMATS`.

A module of its own so that the converters (:mod:`.onnx_format`, :mod:`.tflite_format`)
and the registry module (:mod:`.formats`) both import it and not each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..registry import Registry


@dataclass
class Converted:
    """A converted artifact in memory, before it is written and parity-checked."""

    data: bytes
    encoding: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    dense: Any = None  # the converter's dense fp32 output before the sparse encodings (what int8 quantizes)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    layout: str  # the artifact's input layout: NCHW or NHWC
    converter: str  # who converts, for error messages
    convert: Callable[[Any, Any], Converted]  # (eval torch model, NCHW sample batch) -> Converted
    versions: Callable[[], dict[str, str]]  # converter package versions, recorded per artifact
    decompose: Callable[[Any], Any] | None = None  # the converter's own decomposition, to locate a failing op


#: format name -> Format, in registration order (importing :mod:`.formats` registers both converters)
FORMATS: Registry[Format] = Registry("export format")


def dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
