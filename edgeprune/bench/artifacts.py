"""The artifacts to bench: those ``edgeprune export`` recorded in a run, or files given on the command line."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgepruneError
from ..precision import FP32, ArtifactKey, artifact_name, entry_of, record_entries
from ..runtimes import RUNTIMES


@dataclass(frozen=True)
class Artifact:
    """One file to bench (or a format that failed to export)."""

    path: Path
    candidate: str
    format: str
    display: str  # how the row names the file (relative to the run, or as given)
    layout: str | None = None
    expected_sha256: str | None = None
    export_error: str | None = None
    recorded_gzip: int | None = None  # gzip bytes in the export record (valid while the sha256 matches)
    anchor: bool = False  # the run's dense artifact: the others of its format are timed against it (host estimate)
    precision: str = FP32  # part of the artifact's identity: fp32 | int8

    @property
    def key(self) -> ArtifactKey:
        return ArtifactKey(self.candidate, self.format, self.precision)

    @property
    def kind(self) -> str:
        """What calibrates its latency: the format, or ``<format>.int8``."""
        return self.key.kind


def _split_name(p: Path) -> tuple[str, str]:
    """``x.int8.onnx`` -> (``x``, ``int8``); ``x.onnx`` -> (``x``, ``fp32``)."""
    key = ArtifactKey.from_name(p.name)
    return key.candidate, key.precision


def artifact_from_file(path: str | os.PathLike) -> Artifact:
    """An artifact given on the command line (its sibling ``<id>.json`` supplies the layout if present)."""
    p = Path(path)
    if p.suffix not in RUNTIMES:
        raise EdgepruneError(f"{p}: not an artifact ({p.suffix or 'no suffix'}).",
                             f"Give files ending in {', '.join(RUNTIMES)}.")
    if not p.is_file():
        raise EdgepruneError(f"{p} does not exist.", "Check the path.")
    fmt = p.suffix.lstrip(".")
    cid, precision = _split_name(p)
    layout = None
    meta = p.with_name(f"{cid}.json")
    if meta.is_file():
        try:
            layout = (entry_of(json.loads(meta.read_text()), fmt, precision) or {}).get("layout")
        except (ValueError, TypeError, AttributeError):
            layout = None
    return Artifact(p, cid, fmt, p.name, layout, precision=precision)


def run_artifacts(artifacts_dir: Path, root: Path) -> list[Artifact]:
    """Every (candidate, format, precision) that ``edgeprune export`` recorded in ``RUN/artifacts/<id>.json``."""
    out: list[Artifact] = []
    for meta in sorted(artifacts_dir.glob("*.json")):
        if meta.name.startswith("."):
            continue
        cid = meta.stem
        try:
            record = json.loads(meta.read_text())
            if not isinstance(record["formats"], dict):
                raise TypeError("formats is not a table")
        except (ValueError, KeyError, TypeError) as e:
            bad = f"{meta.relative_to(root)} is unreadable ({type(e).__name__}); re-run 'edgeprune export'"
            out += [Artifact(p, cid, p.suffix[1:], str(p.relative_to(root)), export_error=bad,
                             precision=_split_name(p)[1])
                    for p in sorted(artifacts_dir.glob(f"{cid}.*")) if p.suffix in RUNTIMES and _split_name(p)[0] == cid]
            continue
        for (fmt, precision), rec in sorted(record_entries(record).items()):
            path = artifacts_dir / str(rec.get("file", artifact_name(cid, fmt, precision)))
            display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            err = rec.get("error")
            if err is None and not path.is_file():
                err = f"{display} is missing; re-run 'edgeprune export'"
            out.append(Artifact(path, cid, fmt, display, rec.get("layout"), rec.get("sha256"),
                                f"export: {err}" if err and rec.get("error") else err, rec.get("gzip_bytes"),
                                anchor=cid == "dense",  # export.pipeline.DENSE_ID (not imported: it needs torch)
                                precision=precision))
    return out
