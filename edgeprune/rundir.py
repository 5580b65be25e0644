"""The run-directory layout: every path inside a run is built here (see docs/run-directory.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .precision import FP32, ArtifactKey

#: file names inside a candidate's folder (writers fill a temp folder with them, then rename it into place)
CANDIDATE_FILE, WEIGHTS_FILE, STRUCTURE_FILE = "candidate.json", "model.safetensors", "structure.json"


@dataclass(frozen=True)
class RunDir:
    """Stable names inside a run directory (see docs/run-directory.md)."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    # prune stage
    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def dense_dir(self) -> Path:
        return self.root / "dense"

    @property
    def dense_weights(self) -> Path:
        return self.dense_dir / "model.safetensors"

    @property
    def dense_json(self) -> Path:
        return self.dense_dir / "dense.json"

    @property
    def test_npz(self) -> Path:
        return self.root / "data" / "test.npz"

    @property
    def calib_npz(self) -> Path:
        """int8 calibration images from the training split (written by export)."""
        return self.root / "data" / "calib.npz"

    @property
    def ranges_json(self) -> Path:
        return self.root / "ranges.json"

    @property
    def strategies_json(self) -> Path:
        return self.root / "strategies.json"

    @property
    def ranges_structured_json(self) -> Path:
        return self.root / "ranges-structured.json"

    @property
    def strategies_structured_json(self) -> Path:
        return self.root / "strategies-structured.json"

    @property
    def candidates_dir(self) -> Path:
        return self.root / "candidates"

    def candidate_dir(self, cid: str) -> Path:
        return self.candidates_dir / cid

    def candidate_json(self, cid: str) -> Path:
        return self.candidate_dir(cid) / CANDIDATE_FILE

    def candidate_weights(self, cid: str, recorded: str | None = None) -> Path:
        """The candidate's weights (``recorded``: the name its candidate.json gives, if any)."""
        return self.candidate_dir(cid) / (recorded or WEIGHTS_FILE)

    def candidate_structure(self, cid: str, recorded: str | None = None) -> Path:
        """Channel plan of a structured candidate (absent for unstructured ones)."""
        return self.candidate_dir(cid) / (recorded or STRUCTURE_FILE)

    def candidate_ids(self) -> list[str]:
        """Finished candidates (those whose candidate.json exists), sorted."""
        if not self.candidates_dir.exists():
            return []
        return sorted(p.parent.name for p in self.candidates_dir.glob(f"*/{CANDIDATE_FILE}")
                      if not p.parent.name.startswith("."))  # not a temp folder of a killed prune

    # export stage
    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    def artifact(self, cid: str, fmt: str, precision: str = FP32) -> Path:
        return self.artifacts_dir / ArtifactKey(cid, fmt, precision).name

    def artifact_file(self, name: str) -> Path:
        """An artifact by the file name its record gives (``entry["file"]``)."""
        return self.artifacts_dir / name

    def artifact_json(self, cid: str) -> Path:
        return self.artifacts_dir / f"{cid}.json"

    def artifact_ids(self) -> list[str]:
        """Ids with an export record (``artifacts/<id>.json``), sorted; temps of a killed export are not."""
        if not self.artifacts_dir.is_dir():
            return []
        return sorted(p.stem for p in self.artifacts_dir.glob("*.json") if not p.name.startswith("."))

    def recorded(self, relative: str | os.PathLike) -> Path:
        """A path one record gives relative to the run (e.g. selection.json's ``bench.file``)."""
        return self.root / relative

    # bench / select / ship
    @property
    def bench_dir(self) -> Path:
        return self.root / "bench"

    def bench_json(self, target: str) -> Path:
        return self.bench_dir / f"{target}.json"

    @property
    def selection_json(self) -> Path:
        return self.root / "selection.json"

    @property
    def selection_failed_json(self) -> Path:
        """The last select that found nothing feasible (selection.json keeps the last good one)."""
        return self.root / "selection.failed.json"

    def ship_dir(self, target: str) -> Path:
        return self.root / "ship" / target

    def manifest_json(self, target: str) -> Path:
        """The ship bundle's manifest."""
        return self.ship_dir(target) / "manifest.json"

    # locks and build
    @property
    def locks_dir(self) -> Path:
        return self.root / ".locks"

    def lock_file(self, stage: str) -> Path:
        return self.locks_dir / f"{stage}.lock"

    def lock_holder_json(self, stage: str) -> Path:
        """PID, command line, host and start of the command holding ``stage``'s lock."""
        return self.locks_dir / f"{stage}.holder.json"

    @property
    def build_json(self) -> Path:
        return self.root / "build.json"

    @property
    def screen_json(self) -> Path:
        return self.root / "screen.json"
