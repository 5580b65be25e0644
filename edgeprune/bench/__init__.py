"""Bench: size, load time, latency, peak RAM and accuracy of artifacts through their runtimes.

``bench_run(RUN, target)`` writes ``RUN/bench/<target>.json`` (docs/run-directory.md);
``bench_files(paths, target)`` benches loose files (e.g. on the device);
``import_bench(RUN, file)`` merges a device-made file into the run;
``import_device_files(RUN, files, target)`` also takes trtexec and TFLite
benchmark_model logs (:mod:`edgeprune.bench.logimport`);
``bench_run_ray(RUN, target)`` benches on the board that joined a Ray cluster
with the resource ``target`` (:mod:`edgeprune.bench.remote`).

Every artifact is measured in a fresh subprocess (:mod:`edgeprune.bench.worker`);
each result is journaled as it arrives, so an interrupted bench resumes
(:mod:`edgeprune.bench.journal`). One bench per run at a time (:mod:`edgeprune.locks`).
Off the device, latency is estimated through reference models
(:mod:`edgeprune.bench.estimate`). Torch-free: only building a missing
reference model on the host imports torch.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import EdgepruneError
from ..locks import clean_stage_temps, stage_lock
from ..records import BenchRecord
from ..runio import RunDir
from ..targets import Target, load_target
from .device import HOST_ESTIMATE, ON_DEVICE, detect, host_info
from .remote import bench_run_ray
from .journal import Journal, journal_path
from .artifacts import Artifact, artifact_from_file, run_artifacts
from .client import run_worker
from .session import Log, bench_artifacts, log_stderr
from .settings import BenchSettings
from .store import format_summary, write_bench
from .store import import_bench as _import_bench
from .logimport import import_device_files as _import_device_files

__all__ = ["bench_is_current", "bench_run", "bench_run_ray", "bench_files", "import_bench", "import_device_files", "bench_artifacts",
           "BenchSettings", "Artifact", "BenchFailed", "failed_rows", "format_summary", "detect", "host_info", "HOST_ESTIMATE", "ON_DEVICE"]


class BenchFailed(EdgepruneError):
    """Some artifacts could not be measured; the bench file holds the rows of the others."""


def failed_rows(doc: dict) -> list[dict]:
    """Rows the bench could not measure (load, run or crash errors; a file that changed since export).

    Rows of formats whose export failed are not counted: ``edgeprune export``
    already failed on them, and the bench had no file to measure.
    """
    return [r for r in doc.get("rows", []) if r.get("error") and not str(r["error"]).startswith("export: ")]


def _raise_failed(doc: dict, out: Path) -> None:
    bad = failed_rows(doc)
    if bad:
        more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
        raise BenchFailed(f"{len(bad)} of {len(doc['rows'])} artifacts failed in the bench; first: "
                          f"{bad[0].get('path') or bad[0].get('artifact')}: {str(bad[0]['error']).rstrip('.')}{more}.",
                          f"The other rows are in {out}; re-export the failed files and bench again.")


def _only(artifacts: list[Artifact], formats: list[str] | None, candidates: list[str] | None = None) -> list[Artifact]:
    return [a for a in artifacts if (formats is None or a.format in formats)
            and (candidates is None or a.candidate in candidates)]


def bench_run(run: str | os.PathLike, target: str | Target, on_device: bool | None = None,
              settings: BenchSettings | None = None, log: Log = log_stderr, echo: bool = True,
              formats: list[str] | None = None, candidates: list[str] | None = None) -> Path:
    """Bench every exported artifact of ``run`` (of ``formats`` and ``candidates``, default all) for ``target``.

    Writes and returns ``RUN/bench/<target>.json``; raises :class:`BenchFailed`
    after writing it when an artifact could not be measured.
    """
    rd = RunDir(run)
    if not rd.root.is_dir():
        raise EdgepruneError(f"Run directory {rd.root} does not exist.", "Check the RUN path.")
    prof = load_target(target)
    artifacts = _only(run_artifacts(rd), formats, candidates)
    if not artifacts:
        what = f"no exported {'/'.join(formats)} artifacts" if formats else "no exported artifacts"
        raise EdgepruneError(f"{rd.artifacts_dir} holds {what} (<id>.json).", f"Run 'edgeprune export {run}' first.")
    eval_npz = rd.test_npz if rd.test_npz.is_file() else None
    if eval_npz is None:
        log(f"warning: {rd.test_npz} is missing; accuracy is not measured.")
    with stage_lock(rd.root, "bench"):
        clean_stage_temps(rd.root, "bench")
        out = _measure_and_write(artifacts, prof, on_device, eval_npz, "data/test.npz", settings, log,
                                 rd.bench_json(prof.name))
    return _report(out, echo, log)


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
    written = _measure_and_write(artifacts, prof, on_device, npz, npz.name if npz else None, settings, log, dest)
    return _report(written, echo, log)


def _report(written: Path, echo: bool, log: Log) -> Path:
    """The summary table on stdout (``echo``), then :class:`BenchFailed` if an artifact could not be measured."""
    doc = BenchRecord.read(written).to_json()
    if echo:
        print(format_summary(doc))
        log(f"wrote {written} in {doc['seconds']:.0f} s")
    _raise_failed(doc, written)
    return written


def _measure_and_write(artifacts: list[Artifact], prof: Target, on_device: bool | None, eval_npz: Path | None,
                       eval_name: str | None, settings: BenchSettings | None, log: Log, dest: Path) -> Path:
    """Measure (resuming from the journal beside ``dest``), write ``dest``, then drop the journal."""
    timeout = (settings or BenchSettings()).timeout_seconds
    journal = Journal(journal_path(dest), lambda job: run_worker(job, timeout))
    if journal.saved:
        log(f"resuming: {len(journal.saved)} result(s) of an interrupted bench in {journal.path}")
    doc = bench_artifacts(artifacts, prof, on_device, eval_npz, eval_name, settings, log, measure=journal.measure)
    if journal.reused:
        doc["resumed"] = {"results": journal.reused, "from": journal.path.name,
                          "note": "worker results measured before an interruption were reused (same files, "
                                  "settings, machine and version); the reference models were measured in this session"}
    written = write_bench(dest, doc)
    journal.finish()
    return written


def import_bench(run: str | os.PathLike, file: str | os.PathLike, log: Log = log_stderr) -> Path:
    """Merge a bench JSON measured on the device into ``RUN/bench/<target>.json`` (under the bench lock)."""
    with stage_lock(RunDir(run).root, "bench"):
        return _import_bench(run, file, log)


def import_device_files(run: str | os.PathLike, files: list[str | os.PathLike], target: str | Target | None = None,
                        log: Log = log_stderr) -> list[Path]:
    """Merge device bench JSON and trtexec / benchmark_model logs into the run (under the bench lock)."""
    with stage_lock(RunDir(run).root, "bench"):
        return _import_device_files(run, files, target=target, log=log)


def bench_is_current(run: str | os.PathLike, target: str | Target, formats: list[str] | None = None,
                     candidates: list[str] | None = None) -> bool:
    """True when ``RUN/bench/<target>.json`` already measured every current artifact (of ``formats``).

    Rows are matched by the sha256 the export stage recorded, so a re-exported
    artifact makes the bench stale. ``edgeprune build`` uses this to resume.
    """
    rd = RunDir(run)
    prof = load_target(target)
    path = rd.bench_json(prof.name)
    if not path.is_file() or not rd.artifacts_dir.is_dir():
        return False
    bench = BenchRecord.read_or_none(path)
    if bench is None:
        return False
    rows = bench.to_json()["rows"]
    failed = {id(r) for r in failed_rows({"rows": rows})}  # a failed artifact is benched again
    have = {(r.get("candidate"), r.get("format"), r.get("precision") or "fp32", r.get("sha256"))
            for r in rows if id(r) not in failed}
    current = _only(run_artifacts(rd), formats, candidates)
    want = {(a.candidate, a.format, a.precision, a.expected_sha256) for a in current}
    return bool(want) and want <= have
