"""The artifacts to bench: those ``edgeprune export`` recorded in a run, or files given on the command line."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgepruneError
from ..precision import FP32, ArtifactKey, artifact_name
from ..records import DENSE, ArtifactRecord
from ..rundir import RunDir
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
    # the run's dense network (the dense model or an unstructured candidate, which every runtime on our targets
    # densifies at load), as opposed to a structured candidate's smaller network; None: not known (a loose file)
    dense_network: bool | None = None

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
    record = ArtifactRecord.read_or_none(p.with_name(f"{cid}.json"))
    if record is not None:
        layout = (record.entry(fmt, precision) or {}).get("layout")
    return Artifact(p, cid, fmt, p.name, layout, precision=precision)


def run_artifacts(rd: RunDir) -> list[Artifact]:
    """Every (candidate, format, precision) that ``edgeprune export`` recorded in ``RUN/artifacts/<id>.json``."""
    out: list[Artifact] = []
    root = rd.root
    for cid in rd.artifact_ids():
        meta = rd.artifact_json(cid)
        try:
            record = ArtifactRecord.read(meta)
        except EdgepruneError as e:
            bad = f"{meta.relative_to(root)} is unreadable ({e.problem.removeprefix(str(meta)).strip(' :')}); " \
                  "re-run 'edgeprune export'"
            out += [Artifact(p, cid, p.suffix[1:], str(p.relative_to(root)), export_error=bad,
                             precision=_split_name(p)[1])
                    for p in sorted(rd.artifacts_dir.glob(f"{cid}.*"))
                    if p.suffix in RUNTIMES and _split_name(p)[0] == cid]
            continue
        for (fmt, precision), rec in sorted(record.entries().items()):
            path = rd.artifact_file(str(rec.get("file", artifact_name(cid, fmt, precision))))
            display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            err = rec.get("error")
            if err is None and not path.is_file():
                err = f"{display} is missing; re-run 'edgeprune export'"
            out.append(Artifact(path, cid, fmt, display, rec.get("layout"), rec.get("sha256"),
                                f"export: {err}" if err and rec.get("error") else err, rec.get("gzip_bytes"),
                                anchor=cid == DENSE,
                                precision=precision, dense_network=not (record.get("source") or {}).get("structure")))
    return out
