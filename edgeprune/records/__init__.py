"""Typed records of every JSON file one stage writes and another stage (or a user) reads.

Each record is a dataclass over the file's top-level keys (docs/run-directory.md
lists them; tests/test_records.py keeps the two in step) with one reader that
validates (:meth:`Record.read`) and one writer (:meth:`Record.write`,
:func:`write_document`). Unknown keys round-trip in ``extra``. Stdlib only.
"""
from __future__ import annotations

from .base import ABSENT, Record, write_document
from .bench import BenchRecord, BenchRow
from .export import ArtifactRecord
from .prune import (DENSE, STRUCTURED, UNSTRUCTURED, CandidateRecord, RangesRecord, RunRecord, StrategiesRecord,
                    StructuredRangesRecord, granularity_of)
from .select import BuildRecord, SelectionRecord
from .ship import ManifestRecord

#: every record kind (tests load each from a fixture run and check it against the docs)
RECORDS: tuple[type[Record], ...] = (RunRecord, RangesRecord, StructuredRangesRecord, StrategiesRecord,
                                     CandidateRecord, ArtifactRecord, BenchRecord, BenchRow, SelectionRecord,
                                     BuildRecord, ManifestRecord)

__all__ = ["ABSENT", "DENSE", "RECORDS", "STRUCTURED", "UNSTRUCTURED", "ArtifactRecord", "BenchRecord", "BenchRow",
           "BuildRecord", "CandidateRecord", "ManifestRecord", "RangesRecord", "Record", "RunRecord",
           "SelectionRecord", "StrategiesRecord", "StructuredRangesRecord", "granularity_of", "write_document"]
