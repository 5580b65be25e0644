"""Precision as part of an artifact's identity: file names, row keys and export-record entries.

An artifact is (candidate, format, precision). fp32 keeps the names it always
had (``<id>.onnx``, row key ``<id>.onnx``); int8 puts the precision before the
suffix (``<id>.int8.onnx``, row key ``<id>.int8.onnx``), so a row key is the
artifact's file name and the suffix still names the runtime. In
``artifacts/<id>.json`` fp32 entries stay under ``formats`` and int8 entries
live under ``int8.formats`` (with the calibration and agreement floor they share).
Torch-free: bench, select and ship import it on the device too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)


@dataclass(frozen=True, order=True)
class ArtifactKey:
    """An artifact's identity: the candidate, the format and the precision.

    Its :attr:`name` is the artifact's file name and the selection's row key;
    :attr:`kind` is what calibrates its latency. A new variant (a field here)
    changes names, keys and kinds in this one place. Granularity needs no
    field: a structured candidate has its own id (``structured-<strategy>``).
    """

    candidate: str
    format: str
    precision: str = FP32

    @property
    def name(self) -> str:
        """``dense.onnx``, ``dense.int8.onnx``."""
        return f"{self.candidate}.{self.format}" if self.precision == FP32 else \
            f"{self.candidate}.{self.precision}.{self.format}"

    @property
    def kind(self) -> str:
        """``tflite`` for fp32, ``tflite.int8`` for int8 (a target calibration's ``kind``)."""
        return self.format if self.precision == FP32 else f"{self.format}.{self.precision}"

    @classmethod
    def from_name(cls, name: str) -> "ArtifactKey":
        """The key of a file name: ``x.int8.onnx`` -> (x, onnx, int8); ``x.onnx`` -> (x, onnx, fp32)."""
        stem, _, fmt = name.rpartition(".")
        head, _, tail = stem.rpartition(".")
        if head and tail in PRECISIONS and tail != FP32:
            return cls(head, fmt, tail)
        return cls(stem, fmt, FP32)

    def __str__(self) -> str:
        return self.name


def check_precisions(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"both"``/``None`` -> both; ``"fp32"``, ``"int8"`` or a list of them -> that list."""
    from .errors import EdgepruneError

    if value is None or value == "both":
        return list(PRECISIONS)
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for p in items:
        if p == "both":
            out += [x for x in PRECISIONS if x not in out]
        elif p in PRECISIONS:
            out += [p] if p not in out else []
        else:
            raise EdgepruneError(f"Unknown precision {p!r}.", "Use fp32, int8 or both.")
    return out


def artifact_name(cid: str, fmt: str, precision: str = FP32) -> str:
    """``dense.onnx``, ``dense.int8.onnx`` (:attr:`ArtifactKey.name`)."""
    return ArtifactKey(cid, fmt, precision).name


row_key = artifact_name  # selection rows are keyed by the artifact's file name


def record_entries(record: dict | None) -> dict[tuple[str, str], dict]:
    """``{(format, precision): entry}`` of an ``artifacts/<id>.json`` record (entries may hold ``error``)."""
    out: dict[tuple[str, str], dict] = {}
    if not isinstance(record, dict):
        return out
    for fmt, e in (record.get("formats") or {}).items():
        out[fmt, FP32] = e if isinstance(e, dict) else {"error": "no record"}
    for fmt, e in ((record.get(INT8) or {}).get("formats") or {}).items():
        out[fmt, INT8] = e if isinstance(e, dict) else {"error": "no record"}
    return out


def iter_entries(record: dict | None) -> Iterator[tuple[str, str, dict]]:
    for (fmt, prec), e in record_entries(record).items():
        yield fmt, prec, e


def entry_of(record: dict | None, fmt: str, precision: str = FP32) -> dict | None:
    return record_entries(record).get((fmt, precision))
