"""Records the prune stage writes: run.json, ranges(-structured).json, strategies(-structured).json, candidate.json."""
from __future__ import annotations

from dataclasses import dataclass

from .base import ABSENT, Record

UNSTRUCTURED, STRUCTURED = "unstructured", "structured"
#: the dense baseline's id (as a candidate, an artifact and a selection row)
DENSE = "dense"


@dataclass(kw_only=True)
class RunRecord(Record):
    """``run.json``: config, data info, model spec, dense accuracy, versions."""

    FIX = "Run 'edgeprune prune' on this run first."
    DOC = "## run.json"

    edgeprune_version: str = ABSENT
    created: str = ABSENT
    seed: int = ABSENT
    config: dict = ABSENT
    model: dict
    data: dict
    dense: dict
    versions: dict = ABSENT
    device: dict = ABSENT


@dataclass(kw_only=True)
class RangesRecord(Record):
    """``ranges.json``: Phase 1 per-layer sparsity ranges (unstructured), cached under ``dense_sha256`` + ``calib``."""

    FIX = "Delete it and re-run 'edgeprune prune': it is recomputed."
    DOC = "## ranges.json"

    dense_sha256: str = ABSENT
    calib: dict = ABSENT
    baselines: list = ABSENT
    skipped: dict = ABSENT
    global_targets: list = ABSENT
    criteria: dict = ABSENT
    seconds: float = ABSENT
    rules: str = ABSENT
    layers: list = ABSENT


@dataclass(kw_only=True)
class StructuredRangesRecord(Record):
    """``ranges-structured.json``: channel groups and their ranges, or why the family cannot be pruned so."""

    FIX = RangesRecord.FIX
    DOC = "### ranges-structured.json"

    dense_sha256: str = ABSENT
    schema: int = ABSENT
    granularity: str = ABSENT
    calib: dict = ABSENT
    baselines: list = ABSENT
    skipped: dict = ABSENT
    criteria: dict = ABSENT
    global_targets: list = ABSENT
    targets_measure: str = ABSENT
    achieved: dict = ABSENT
    normaliser: str = ABSENT
    rules: str = ABSENT
    seconds: float = ABSENT
    dense_counts: dict = ABSENT
    groups: list = ABSENT
    layers: list = ABSENT
    param_model: dict = ABSENT
    unsupported: dict = ABSENT
    fallback: str = ABSENT


@dataclass(kw_only=True)
class StrategiesRecord(Record):
    """``strategies.json`` / ``strategies-structured.json``: Phase 2 plans per strategy and the merged twins."""

    FIX = "Re-run 'edgeprune prune': it is rewritten."
    DOC = "## strategies.json"

    strategies: dict
    merged: dict = ABSENT
    granularity: str = ABSENT


@dataclass(kw_only=True)
class CandidateRecord(Record):
    """``candidates/<id>/candidate.json``: one pruned, fine-tuned candidate (see docs for structured fields)."""

    FIX = "Re-run 'edgeprune prune' with the same options: it rebuilds the candidate."
    DOC = "## candidates/<id>/candidate.json"

    id: str = ABSENT  # always written; tests' hand-made files may lack it (the folder name is the id)
    granularity: str = ABSENT
    signal: str | None = ABSENT
    strategy: str = ABSENT
    merged: list = ABSENT
    schedule: dict = ABSENT
    planned: dict = ABSENT
    measured: dict = ABSENT
    channels: dict = ABSENT
    global_sparsity: float = ABSENT
    planned_global_sparsity: float = ABSENT
    params: dict = ABSENT
    prunable_params: dict = ABSENT
    macs: dict = ABSENT
    layers: dict = ABSENT
    val_accuracy: float | None = ABSENT
    test_accuracy: float | None = ABSENT
    epochs: int = ABSENT
    best_epoch: int | None = ABSENT
    steps: list = ABSENT
    seconds: float = ABSENT
    recipe: dict = ABSENT
    weights: str = ABSENT
    structure: str = ABSENT
    key: str = ABSENT
    device: str = ABSENT
    calib: dict = ABSENT
    sha256: str = ABSENT
    structure_sha256: str = ABSENT
    round_trip_max_abs_diff: float = ABSENT

    @property
    def kind(self) -> str:
        """``unstructured`` or ``structured`` (runs older than granularity: unstructured)."""
        return self.get("granularity", UNSTRUCTURED)


def granularity_of(cid: str, candidate: CandidateRecord | None) -> str | None:
    """``dense``, ``unstructured`` or ``structured`` of an id; None when its candidate.json is unreadable."""
    if cid == DENSE:
        return DENSE
    return None if candidate is None else candidate.kind


