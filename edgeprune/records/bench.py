"""``bench/<target>.json`` and its rows: the figures of each artifact, each with its provenance and method."""
from __future__ import annotations

from dataclasses import dataclass

from ..precision import FP32, ArtifactKey
from .base import ABSENT, Record


@dataclass(kw_only=True)
class BenchRow(Record):
    """One artifact's figures on one target (or its ``error``)."""

    FIX = "Re-run 'edgeprune bench' for this target."
    DOC = "## bench/<target>.json"

    artifact: str = ABSENT
    path: str = ABSENT
    candidate: str
    format: str
    precision: str = ABSENT
    mode: str = ABSENT
    runtime: str | None = ABSENT
    runtime_version: str | None = ABSENT
    threads: int | None = ABSENT
    threads_profile: int | None = ABSENT
    memory_settings: dict = ABSENT
    sha256: str | None = ABSENT
    size_bytes: int | None = ABSENT
    gzip_bytes: int | None = ABSENT
    load_ms: float | None = ABSENT
    first_run_ms: float | None = ABSENT
    latency_ms: dict | None = ABSENT
    host_latency_ms: dict | None = ABSENT
    peak_ram_mb: float | None = ABSENT
    peak_ram_rounds_mb: list | None = ABSENT
    resident_ram_mb: float | None = ABSENT
    baseline_ram_mb: float | None = ABSENT
    accuracy: float | None = ABSENT
    n_eval: int | None = ABSENT
    provenance: dict = ABSENT
    methods: dict = ABSENT
    error: str | None = ABSENT
    replaced: dict = ABSENT
    device_log: dict = ABSENT
    imported_from: str = ABSENT

    @property
    def key(self) -> ArtifactKey:
        """(candidate, format, precision): rows of older runs without precision are fp32."""
        return ArtifactKey(str(self.candidate), str(self.format), str(self.get("precision") or FP32))

    @property
    def failed(self) -> bool:
        return bool(self.get("error"))


@dataclass(kw_only=True)
class BenchRecord(Record):
    """``bench/<target>.json``: the session (host, settings, references) and one row per artifact."""

    FIX = "Re-run 'edgeprune bench' for this target."
    DOC = "## bench/<target>.json"
    NESTED = {"rows": BenchRow}

    target: str = ABSENT
    created: str | None = ABSENT
    mode: str = ABSENT
    detected: dict = ABSENT
    host: dict | None = ABSENT
    edgeprune_version: str = ABSENT
    target_profile: dict | None = ABSENT
    settings: dict = ABSENT
    eval: dict | None = ABSENT
    reference: dict = ABSENT
    rows: list
    seconds: float = ABSENT
    resumed: dict = ABSENT
    imports: list = ABSENT
    executor: dict = ABSENT
