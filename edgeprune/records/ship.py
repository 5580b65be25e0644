"""``ship/<target>/manifest.json``: every file of the bundle with its sha256, and how to feed and check the model."""
from __future__ import annotations

from dataclasses import dataclass

from .base import ABSENT, Record


@dataclass(kw_only=True)
class ManifestRecord(Record):
    """The ship bundle's manifest (schema ``edgeprune.ship/1``)."""

    FIX = "Re-run 'edgeprune ship'."
    DOC = "## ship/<target>/"

    schema: str = ABSENT
    created: str = ABSENT
    format: str = ABSENT
    precision: str = ABSENT
    file: str = ABSENT
    sha256: str = ABSENT
    size_bytes: int = ABSENT
    gzip_bytes: int = ABSENT
    input: dict = ABSENT
    output: dict = ABSENT
    labels: list = ABSENT
    metrics: dict = ABSENT
    bench: dict = ABSENT
    target: dict = ABSENT
    candidate: dict = ABSENT
    selection: dict = ABSENT
    source: dict = ABSENT
    precision_notes: dict = ABSENT
    versions: dict = ABSENT
    eval: dict = ABSENT
    device_bench: dict = ABSENT
    cache_key: str = ABSENT
    files: dict = ABSENT
