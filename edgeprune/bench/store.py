"""Bench files: writing with device rows kept, ``--import`` merging, and the summary table.

Device-measured numbers always win: re-running the host bench keeps an
imported on-device row for the same artifact (same sha256), and importing a
device file replaces the host estimate of the artifact it measured.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EdgepruneError
from ..records import BenchRecord, write_document
from ..runio import RunDir, sha256_file
from .device import HOST_ESTIMATE, ON_DEVICE
from .artifacts import run_artifacts
from .session import Log, log_stderr


def _key(row: dict) -> tuple[str, str, str]:
    return str(row.get("candidate")), str(row.get("format")), str(row.get("precision") or "fp32")


def _doc_mode(rows: list[dict]) -> str:
    modes = {r.get("mode") for r in rows if r.get("mode")}
    return modes.pop() if len(modes) == 1 else ("mixed" if modes else HOST_ESTIMATE)


def keep_device_rows(old: dict | None, new: dict) -> dict:
    """``new`` with each host row replaced by an on-device row of ``old`` for the same file."""
    if not old or new.get("mode") == ON_DEVICE:
        return new
    device = {(_key(r), r.get("sha256")): r for r in old.get("rows", []) if r.get("mode") == ON_DEVICE}
    rows = [device.get((_key(r), r.get("sha256")), r) for r in new["rows"]]
    kept = sum(1 for a, b in zip(rows, new["rows"]) if a is not b)
    out = dict(new, rows=rows, mode=_doc_mode(rows))
    if kept:
        out["imports"] = old.get("imports", [])
    return out


def write_bench(path: Path, doc: dict) -> Path:
    """Write ``doc`` atomically, keeping device rows already in ``path``."""
    old = BenchRecord.read_or_none(path)  # an unreadable old file has nothing worth keeping
    return write_document(BenchRecord, path, keep_device_rows(old and old.to_json(), doc))


# ---------------------------------------------------------------- --import
def _read_device_doc(file: Path) -> dict:
    if not file.is_file():
        raise EdgepruneError(f"{file} does not exist.", "Copy the device's bench JSON here first.")
    try:
        doc = BenchRecord.read(file, "Copy the device's bench JSON again.").to_json()
    except EdgepruneError as e:
        if "is not readable JSON" in e.problem:
            raise
        doc = {}
    if not isinstance(doc.get("rows"), list) or not doc.get("target"):
        raise EdgepruneError(f"{file} is not an edgeprune bench file (needs 'target' and 'rows').",
                             "Make it on the device with: edgeprune bench FILE... --target NAME --on-device --out FILE")
    return doc


def plan_import(rd: RunDir, file: Path, docs: dict[Path, dict]) -> tuple[Path, list[str], list[str]]:
    """Merge the device bench JSON ``file`` into the bench document it targets, in ``docs`` (nothing is written).

    Device rows are matched to the run's artifacts by sha256 (file names may
    differ on the device) and replace the row of that artifact and target.
    ``docs`` maps bench paths to documents already planned (read on first use).
    Returns the bench path, the merged and the skipped artifact names.
    """
    if not rd.artifacts_dir.is_dir():
        raise EdgepruneError(f"{rd.root} has no artifacts/ directory.", "Give the RUN directory the artifacts came from.")
    dev = _read_device_doc(file)
    rows = [r for r in dev["rows"] if isinstance(r, dict) and r.get("mode", dev.get("mode")) == ON_DEVICE]
    if not rows:
        raise EdgepruneError(f"{file} holds no rows measured on the device (mode {dev.get('mode')!r}).",
                             "Bench on the device with --on-device, then import that file.")
    by_sha = {sha256_file(a.path): a for a in run_artifacts(rd) if a.path.is_file()}
    out = rd.bench_json(str(dev["target"]))
    current: dict[str, Any] = docs.get(out) or (BenchRecord.read(out).to_json() if out.is_file() else {
        "target": dev["target"], "created": dev.get("created"), "mode": ON_DEVICE, "host": None,
        "target_profile": dev.get("target_profile"), "rows": []})
    merged, skipped = [], []
    for r in rows:
        a = by_sha.get(r.get("sha256"))
        if a is None:
            skipped.append(str(r.get("artifact")))
            continue
        new = dict(r, candidate=a.candidate, format=a.format, precision=a.precision, artifact=a.path.name,
                   path=a.display, mode=ON_DEVICE,
                   imported_from=str(file), device_host=dev.get("host"))
        keys = [_key(x) for x in current["rows"]]
        if _key(new) in keys:
            current["rows"][keys.index(_key(new))] = new
        else:
            current["rows"].append(new)
        merged.append(a.path.name)
    if not merged:
        raise EdgepruneError(f"None of the {len(rows)} rows in {file} matches an artifact of {rd.root} (by sha256).",
                             "Import into the run whose artifacts were copied to the device.")
    current["mode"] = _doc_mode(current["rows"])
    current.setdefault("imports", []).append({
        "file": str(file), "sha256": sha256_file(file), "device_created": dev.get("created"),
        "device_host": dev.get("host"), "merged": merged, "skipped": skipped,
        "imported": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    docs[out] = current
    return out, merged, skipped


def import_bench(run: str | Path, file: str | Path, log: Log = log_stderr) -> Path:
    """Merge a bench JSON measured on the device into ``RUN/bench/<target>.json`` (see :func:`plan_import`)."""
    docs: dict[Path, dict] = {}
    out, merged, skipped = plan_import(RunDir(run), Path(file), docs)
    write_document(BenchRecord, out, docs[out])
    log(f"merged {len(merged)} device row(s) into {out}" +
        (f"; skipped {len(skipped)} not in this run: {', '.join(skipped)}" if skipped else ""))
    return out


# ---------------------------------------------------------------- summary
def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_summary(doc: dict) -> str:
    """The bench file as a table (one line per row)."""
    head = ("candidate", "format", "precision", "size MB", "latency ms (band)", "peak RAM MB", "accuracy", "latency is", "error")
    lines = [head]
    for r in doc.get("rows", []):
        lat = r.get("latency_ms") or {}
        band = f" ({lat['low']:.3g}-{lat['high']:.3g})" if "low" in lat else ""
        size = r.get("size_bytes")
        lines.append((r.get("candidate", "?"), r.get("format", "?"), r.get("precision") or "fp32",
                      _num(size and size / 1e6, ".3f"),
                      _num(lat.get(lat.get("statistic") or "median"), ".3g") + band, _num(r.get("peak_ram_mb"), ".1f"),
                      _num(r.get("accuracy"), ".4f"), (r.get("provenance") or {}).get("latency", "-"),
                      (r.get("error") or "")[:60]))
    widths = [max(len(str(x[i])) for x in lines) for i in range(len(head))]
    text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(x, widths)).rstrip() for x in lines)
    return f"{doc.get('target')} ({doc.get('mode')}):\n{text}"
