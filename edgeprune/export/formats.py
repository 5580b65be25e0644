"""The format registry: one :class:`Format` per artifact type, looked up by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


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


def _onnx() -> Format:
    from . import onnx_format

    return Format("onnx", ".onnx", "NCHW", "the ONNX exporter (torch.onnx, dynamo)", onnx_format.convert,
                  onnx_format.versions, onnx_format.decompose)


def _tflite() -> Format:
    from . import tflite_format

    return Format("tflite", ".tflite", "NHWC", "litert-torch", tflite_format.convert, tflite_format.versions)


#: format name -> factory (modules import lazily: the package root stays torch-free)
FORMATS: dict[str, Callable[[], Format]] = {"onnx": _onnx, "tflite": _tflite}


def get_format(name: str) -> Format:
    from ..errors import EdgepruneError

    if name not in FORMATS:
        raise EdgepruneError(f"Unknown export format {name!r}.", f"Use one or more of: {', '.join(FORMATS)}.")
    return FORMATS[name]()


def dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
