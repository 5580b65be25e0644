"""``artifacts/<id>.json``: what ``edgeprune export`` wrote for one candidate, per format and precision.

fp32 entries live under ``formats``, int8 ones under ``int8.formats`` with the
calibration and agreement floor they share (:mod:`edgeprune.precision`). An
entry is a format's record or ``{"error": "one line"}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..precision import FP32, INT8, record_entries
from .base import ABSENT, Record


@dataclass(kw_only=True)
class ArtifactRecord(Record):
    """One candidate's exported artifacts."""

    FIX = "Re-run 'edgeprune export' on this run: it rewrites the record."
    DOC = "## artifacts/<id>.json"

    id: str = ABSENT
    source: dict = ABSENT
    model: dict = ABSENT
    input_shape: list = ABSENT
    dense_bytes: int | None = ABSENT
    floor_bytes: int | None = ABSENT
    sparsity: float | None = ABSENT
    exporter: dict = ABSENT
    formats: dict
    int8: dict = ABSENT

    def entries(self) -> dict[tuple[str, str], dict]:
        """``{(format, precision): entry}`` (an entry may hold ``error``; a non-object is 'no record')."""
        return record_entries({"formats": self.formats, INT8: self.get(INT8)})

    def iter_entries(self) -> Iterator[tuple[str, str, dict]]:
        for (fmt, prec), e in self.entries().items():
            yield fmt, prec, e

    def entry(self, fmt: str, precision: str = FP32) -> dict | None:
        """The entry of (format, precision), None if the record has none."""
        return self.entries().get((fmt, precision))

    @property
    def source_sha256(self) -> str | None:
        return (self.get("source") or {}).get("sha256")

    @property
    def calibration(self) -> dict:
        """The int8 calibration record (empty without int8 artifacts)."""
        return (self.get(INT8) or {}).get("calibration") or {}
