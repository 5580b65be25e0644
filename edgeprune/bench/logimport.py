"""``edgeprune bench RUN --import FILE...``: device measurements into ``RUN/bench/<target>.json``.

A file is an edgeprune bench JSON made on the device (rows matched by sha256,
:func:`.store.plan_import`), a trtexec or TFLite benchmark_model log
(:mod:`.devicelogs`), or the per-iteration JSON of ``trtexec --exportTimes``
(given with the log that names it; :mod:`.exporttimes`). A log is matched to a
run artifact by the file name it prints: ``<id>.onnx|.tflite`` of
``artifacts/``, or ``model.<fmt>`` of ``ship/<target>/``; the sha256 printed in
the log (the bundle README puts a ``sha256sum`` line first), the TFLite file
size and trtexec's input dimensions must then agree with that artifact. The
log's figures replace the row's latency (and for benchmark_model its load time
and peak RAM) as ``measured``; the other figures keep their provenance. Every
file is read and checked before anything is written; each bench file is then
written once, atomically.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from ..errors import EdgepruneError
from ..records import ArtifactRecord, BenchRecord, ManifestRecord, write_document
from ..runio import RunDir, sha256_file
from ..targets import Target, load_target
from .artifacts import Artifact, run_artifacts
from .device import ON_DEVICE
from .devicelogs import BENCHMARK_MODEL, TRTEXEC, DeviceLog, parse_log
from .exporttimes import pair_times
from .logrows import Match, log_row
from .session import Log, log_stderr
from .store import _doc_mode, _key, plan_import

TOOL_RUNTIMES = {TRTEXEC: ("tensorrt",), BENCHMARK_MODEL: ("ai-edge-litert", "tflite-runtime")}
TOOL_NAMES = {TRTEXEC: "trtexec", BENCHMARK_MODEL: "TFLite benchmark_model"}


def read_file(path: Path) -> tuple[str, object]:
    """("bench", None) for an edgeprune JSON, ("times", list) for trtexec --exportTimes, ("log", DeviceLog)."""
    if not path.is_file():
        raise EdgepruneError(f"{path} does not exist.", "Copy the device's bench JSON or tool log here first.")
    data = path.read_bytes()
    if path.suffix.lower() != ".json" and not data.lstrip().startswith(b"{"):
        return "log", parse_log(path, data)
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise EdgepruneError(f"{path} is not readable JSON ({e}).", "Copy the device's file again.") from None
    if isinstance(obj, list):
        return "times", obj
    return "bench", None  # plan_import checks it is an edgeprune bench file


def _refuse(log: DeviceLog, problem: str, fix: str) -> EdgepruneError:
    return EdgepruneError(f"{log.file}: {problem}.", fix)


def _check_target(prof: Target, log: DeviceLog) -> None:
    rc = prof.runtimes.get(log.format)
    if rc is None or rc.runtime not in TOOL_RUNTIMES[log.tool]:
        runs = f"runs {log.format.upper()} with {rc.runtime}" if rc else f"has no {log.format} runtime"
        raise _refuse(log, f"{prof.name} {runs}: a {TOOL_NAMES[log.tool]} log does not measure it",
                      "Import it with the --target it was measured on (see 'edgeprune targets').")


def _shipped(rd: RunDir, target: str, log: DeviceLog, arts: dict[str, Artifact]) -> Artifact:
    """The run artifact that ``ship/<target>/model.<fmt>`` is a copy of."""
    manifest = rd.manifest_json(target)
    try:
        m = ManifestRecord.read(manifest)
        src = rd.recorded(m.source["artifact"])
        shipped_sha = m.sha256
    except (EdgepruneError, KeyError, TypeError):
        raise _refuse(log, f"names {log.model_name}, the name of a ship bundle's model, but {manifest} is missing or "
                           "unreadable", f"Ship first ('edgeprune ship {rd.root} --target {target}'), or import "
                                     "the log of an artifacts/ file.") from None
    a = arts.get(src.name)
    if m.get("file") != log.model_name or a is None or sha256_file(a.path) != shipped_sha:
        raise _refuse(log, f"{rd.ship_dir(target)}/{log.model_name} is not a current artifact of {rd.root} "
                           "(re-exported since it was shipped?)", f"Re-run 'edgeprune ship {rd.root} --target "
                                                                  f"{target}' and measure the new bundle.")
    return a


def match_artifact(rd: RunDir, target: str, log: DeviceLog, arts: dict[str, Artifact]) -> Match:
    """The artifact the log measured, or a one-line refusal saying why none is."""
    name = log.model_name
    if name in arts:
        a, how = arts[name], f"file name {name}"
    elif name == f"model.{log.format}":
        a = _shipped(rd, target, log, arts)
        how = f"file name {name} of ship/{target}/ (a copy of {a.display})"
    else:
        raise _refuse(log, f"measured {log.model!r}, which is neither an artifact of {rd.root} nor its {target} "
                           "bundle's model", f"Import logs of this run's files ({', '.join(sorted(arts))}, or "
                                             f"ship/{target}/model.{log.format}).")
    if a.format != log.format:
        raise _refuse(log, f"{TOOL_NAMES[log.tool]} measures {log.format} files, not {name}", "Check the log.")
    sha = sha256_file(a.path)
    if log.model_sha256 and log.model_sha256 != sha:
        raise _refuse(log, f"the sha256 of {name} in the log ({log.model_sha256[:12]}...) is not that of {a.display} "
                           f"({sha[:12]}...): it measured another model", "Measure the file this run exported or "
                                                                          "shipped, and import that log.")
    size = log.details.get("model_size_mb")
    if size is not None and not math.isclose(float(size), a.path.stat().st_size / 1e6, rel_tol=1e-5, abs_tol=1e-6):
        raise _refuse(log, f"the model it measured has {size} MB, {a.display} {a.path.stat().st_size / 1e6:.6g} MB: "
                           "another model", "Measure the file this run exported or shipped.")
    dims = set((log.details.get("input_dims") or {}).values())
    want = _input_dims(rd, a)
    if dims and want and want not in dims:
        raise _refuse(log, f"trtexec's input was {', '.join(sorted(dims))}, {a.display} takes {want}: another model",
                      "Measure the file this run exported or shipped.")
    how += "; its sha256, printed in the log, matches" if log.model_sha256 else (
        "; by name only: the log carries no sha256 of the file (the bundle README's sha256sum line adds one)")
    return Match(a, sha, how)


def _input_dims(rd: RunDir, a: Artifact) -> str | None:
    try:
        shape = (ArtifactRecord.read(rd.artifact_json(a.candidate)).entry(a.format, a.precision) or {})["input"]["shape"]
        return "x".join(str(int(d)) for d in shape)
    except (EdgepruneError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- the command
def _read_bench(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return BenchRecord.read(path, "Re-run 'edgeprune bench' for that target.").to_json()


def _merge_logs(rd: RunDir, prof: Target, logs: list[DeviceLog], docs: dict[Path, dict],
                touched: dict[tuple[Path, str], Path]) -> list[str]:
    arts = {a.path.name: a for a in run_artifacts(rd) if a.path.is_file() and not a.export_error}
    out = rd.bench_json(prof.name)
    doc = docs.get(out) or _read_bench(out) or {
        "target": prof.name, "created": None, "mode": ON_DEVICE, "host": None, "target_profile": prof.to_json(),
        "rows": []}
    notes = []
    for dl in logs:
        _check_target(prof, dl)
        m = match_artifact(rd, prof.name, dl, arts)
        first = touched.setdefault((out, m.artifact.path.name), dl.file)
        if first != dl.file:
            raise _refuse(dl, f"{first} measures {m.artifact.display} too", "Import one measurement per artifact "
                                                                            "at a time (a later import replaces it).")
        keys = [_key(r) for r in doc["rows"]]
        key = (m.artifact.candidate, m.artifact.format, m.artifact.precision or "fp32")
        i = keys.index(key) if key in keys else None
        base = doc["rows"][i] if i is not None else None
        usable = base is not None and base.get("sha256") == m.sha256 and not base.get("error")
        row = log_row(base if usable else None, m, dl)
        if i is None:
            doc["rows"].append(row)
        else:
            doc["rows"][i] = row
        doc.setdefault("imports", []).append({
            "file": str(dl.file), "sha256": dl.sha256, "tool": dl.tool, "tool_version": dl.version,
            "device": dl.device, "merged": [m.artifact.path.name], "skipped": [],
            "imported": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        tool = " ".join(filter(None, (TOOL_NAMES[dl.tool], dl.version)))
        notes.append(f"{dl.file.name}: {m.artifact.display} latency {dl.latency.value:.4g} ms measured ({tool}), "
                     f"matched by {m.how}")
    doc["mode"] = _doc_mode(doc["rows"])
    docs[out] = doc
    return notes


def import_device_files(run: str | Path, files: list[str | Path], target: str | Target | None = None,
                        log: Log = log_stderr) -> list[Path]:
    """Check every file, then merge them all into the run's bench file(s); return the files written."""
    rd = RunDir(run)
    if not rd.artifacts_dir.is_dir():
        raise EdgepruneError(f"{rd.root} has no artifacts/ directory.",
                             "Give the RUN directory the artifacts came from.")
    paths = [Path(f) for f in files]
    if len({p.resolve() for p in paths}) != len(paths):
        raise EdgepruneError("The same file is given twice.", "List each file once.")
    prof = load_target(target) if target is not None else None
    read = [(p, *read_file(p)) for p in paths]
    docs: dict[Path, dict] = {}
    touched: dict[tuple[Path, str], Path] = {}
    notes = []
    for p, kind, _ in read:
        if kind == "bench":
            out, merged, skipped = plan_import(rd, p, docs)
            if prof is not None and out != rd.bench_json(prof.name):
                raise EdgepruneError(f"{p} was measured for {out.stem}, not {prof.name}.", "Drop --target or fix it.")
            for name in merged:
                touched[(out, name)] = p
            notes.append(f"{p.name}: merged {len(merged)} device row(s)" +
                         (f"; skipped {len(skipped)} not in this run: {', '.join(skipped)}" if skipped else ""))
    logs = [obj for _, kind, obj in read if kind == "log"]
    times = {p.name: (p, obj) for p, kind, obj in read if kind == "times"}
    if logs:
        if prof is None:
            raise EdgepruneError(f"{logs[0].file} is a {TOOL_NAMES[logs[0].tool]} log, which does not say which target "
                                 "profile it was measured on.", "Add --target NAME, e.g. --target jetson-nano.")
        notes += _merge_logs(rd, prof, pair_times(logs, times), docs, touched)
    elif times:
        pair_times([], times)
    for out, doc in docs.items():
        write_document(BenchRecord, out, doc)
    for note in notes:
        log(note)
    return list(docs)
