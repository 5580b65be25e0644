"""Bench: size, load time, latency, peak RAM and accuracy of artifacts through their runtimes.

``bench_run(RUN, target)`` writes ``RUN/bench/<target>.json`` (docs/run-directory.md);
``bench_files(paths, target)`` benches loose files (e.g. on the device);
``import_bench(RUN, file)`` merges a device-made file into the run.

Every artifact is measured in a fresh subprocess (:mod:`edgeprune.bench.worker`).
Off the device, latency is estimated through reference models
(:mod:`edgeprune.bench.estimate`). Torch-free: only building a missing
reference model on the host imports torch.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import EdgepruneError
from ..runio import RunDir, read_json
from ..targets import Target, load_target
from .device import HOST_ESTIMATE, ON_DEVICE, detect, host_info
from .session import Artifact, BenchSettings, Log, artifact_from_file, bench_artifacts, log_stderr, run_artifacts
from .store import format_summary, import_bench, write_bench

__all__ = ["bench_is_current", "bench_run", "bench_files", "import_bench", "bench_artifacts", "BenchSettings", "Artifact",
           "format_summary", "detect", "host_info", "HOST_ESTIMATE", "ON_DEVICE"]


def bench_run(run: str | os.PathLike, target: str | Target, on_device: bool | None = None,
              settings: BenchSettings | None = None, log: Log = log_stderr, echo: bool = True) -> Path:
    """Bench every exported artifact of ``run`` for ``target``; write and return ``RUN/bench/<target>.json``."""
    rd = RunDir(run)
    if not rd.root.is_dir():
        raise EdgepruneError(f"Run directory {rd.root} does not exist.", "Check the RUN path.")
    prof = load_target(target)
    artifacts = run_artifacts(rd.artifacts_dir, rd.root) if rd.artifacts_dir.is_dir() else []
    if not artifacts:
        raise EdgepruneError(f"{rd.artifacts_dir} holds no exported artifacts (<id>.json).",
                             f"Run 'edgeprune export {run}' first.")
    eval_npz = rd.test_npz if rd.test_npz.is_file() else None
    if eval_npz is None:
        log(f"warning: {rd.test_npz} is missing; accuracy is not measured.")
    doc = bench_artifacts(artifacts, prof, on_device, eval_npz, "data/test.npz", settings, log)
    out = write_bench(rd.bench_json(prof.name), doc)
    if echo:
        print(format_summary(read_json(out)))
        log(f"wrote {out} in {doc['seconds']:.0f} s")
    return out


def bench_files(paths: list[str | os.PathLike], target: str | Target, on_device: bool | None = None,
                eval_npz: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                settings: BenchSettings | None = None, log: Log = log_stderr, echo: bool = True) -> Path:
    """Bench loose artifact files; write the JSON to ``out`` (default ``bench-<target>.json`` here)."""
    prof = load_target(target)
    artifacts = [artifact_from_file(p) for p in paths]
    names = [a.path.resolve() for a in artifacts]
    if len(set(names)) != len(names):
        raise EdgepruneError("The same artifact is given twice.", "List each file once.")
    npz = Path(eval_npz) if eval_npz else None
    if npz is not None and not npz.is_file():
        raise EdgepruneError(f"Eval set {npz} does not exist.", "Give the .npz with x, y (a ship bundle's eval.npz or RUN/data/test.npz).")
    dest = Path(out) if out else Path(f"bench-{prof.name}.json")
    doc = bench_artifacts(artifacts, prof, on_device, npz, npz.name if npz else None, settings, log)
    written = write_bench(dest, doc)
    if echo:
        print(format_summary(doc))
        log(f"wrote {written} in {doc['seconds']:.0f} s")
    return written


def bench_is_current(run: str | os.PathLike, target: str | Target) -> bool:
    """True when ``RUN/bench/<target>.json`` already measured every current artifact.

    Rows are matched by the sha256 the export stage recorded, so a re-exported
    artifact makes the bench stale. ``edgeprune build`` uses this to resume.
    """
    rd = RunDir(run)
    prof = load_target(target)
    path = rd.bench_json(prof.name)
    if not path.is_file() or not rd.artifacts_dir.is_dir():
        return False
    try:
        rows = read_json(path).get("rows", [])
    except ValueError:
        return False
    have = {(r.get("candidate"), r.get("format"), r.get("precision") or "fp32", r.get("sha256")) for r in rows}
    want = {(a.candidate, a.format, a.precision, a.expected_sha256) for a in run_artifacts(rd.artifacts_dir, rd.root)}
    return bool(want) and want <= have
