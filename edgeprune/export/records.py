"""The artifact record ``<id>.json``: what makes an entry current, assembling and writing it, failures.

fp32 entries live under ``formats``, int8 ones under ``int8.formats`` with the
calibration and agreement floor they share (:mod:`..precision`). An entry is
current while its weights' sha256, the exporter (edgeprune version, schema),
the input shape and its file's sha256 are unchanged; int8 entries also need
the same calibration images and agreement floor. The record is rewritten after
each artifact; if that write fails, the artifact's new file is removed again
(never a file without a record).
"""
from __future__ import annotations

from pathlib import Path

from ..log import info
from .. import __version__
from ..errors import WriteFailed
from ..precision import FP32, INT8, PRECISIONS, record_entries
from ..records import ArtifactRecord, write_document
from ..runio import sha256_file
from .failures import ExportFailed
from .formats import FORMATS

#: bump when converters or encodings change what they write (invalidates caches)
#: 2: RAM-limited ONNX encodings (ScatterElements, columns8), relative parity; ONNX delta4 encoding (int8 branch)
#: 3: both of the above, and int8 sparse ONNX encoded under the same RAM limit
#: 4: TFLite convs with no dimension <= 256 split along output channels (uint8 CSR indices), sparse tensors
#:    without their (DENSIFY output's) quantization copy
#: 5: TFLite table vectors written once (shared int64 zero points)
EXPORT_SCHEMA = 5

#: how to leave failed formats out, on the command the user ran ({ok}: the formats that worked)
SKIP_HINT = "pass --formats {ok}"


def _log(msg: str) -> None:
    info(msg)


def exporter() -> dict:
    return {"edgeprune": __version__, "schema": EXPORT_SCHEMA}


def is_current(prev: dict | None, input_shape: list[int], sha: str) -> bool:
    return bool(prev) and (prev.get("source") or {}).get("sha256") == sha and prev.get("exporter") == exporter() \
        and prev.get("input_shape") == list(input_shape)


def read_record(path: Path) -> dict | None:
    """The previous record as a document (None when missing or invalid: it is rewritten)."""
    rec = ArtifactRecord.read_or_none(path)
    return None if rec is None else rec.to_json()


def int8_is_current(prev: dict | None, int8) -> bool:
    """int8 entries also depend on the calibration images and the agreement floor (``int8``: Int8Settings)."""
    rec = (prev or {}).get(INT8) or {}
    return int8 is not None and (rec.get("calibration") or {}).get("sha256") == int8.calibration.sha256 \
        and rec.get("agreement_floor") == int8.floor


def cached_entry(entry: dict | None, out_dir: Path) -> dict | None:
    """``entry`` if its file is on disk unchanged (or it is an int8 rejection, a cached verdict)."""
    if not entry:
        return None
    if entry.get("rejected"):
        return entry
    if "error" in entry:
        return None
    path = out_dir / str(entry.get("file", ""))
    if path.is_file() and sha256_file(path) == entry.get("sha256"):
        return entry
    return None


def assemble(base: dict, entries: dict[tuple[str, str], dict], int8_header: dict, floor8: int | None) -> dict:
    """The record: ``base`` (id, source, model, sizes, exporter), fp32 ``formats``, and the ``int8`` section."""
    record = dict(base, formats={f: entries[f, FP32] for f in FORMATS if (f, FP32) in entries})
    if any(p == INT8 for _, p in entries):
        record[INT8] = {**int8_header, "floor_bytes": floor8,
                        "formats": {f: entries[f, INT8] for f in FORMATS if (f, INT8) in entries}}
    return record


def write_record(json_path: Path, record: dict, new_file: Path | None) -> None:
    """Write ``<id>.json``; if that fails, remove the artifact's new file so none stays unrecorded."""
    try:
        write_document(ArtifactRecord, json_path, record)
    except WriteFailed:
        if new_file is not None:
            new_file.unlink(missing_ok=True)
        raise


def raise_failures(records: dict[str, dict], formats: list[str], where: str, skip_hint: str = SKIP_HINT,
                   precisions: list[str] | tuple[str, ...] = PRECISIONS) -> None:
    """One line for the artifacts asked for in this call that failed (int8 rejections are results, not failures).

    The advice ends with how to leave the failed formats out (``skip_hint``), or
    int8 (``--precision fp32``) when only int8 artifacts failed.
    """
    asked = [(cid, f, p, e) for cid, r in records.items() for (f, p), e in record_entries(r).items()
             if f in formats and p in precisions]
    for _, _, _, e in asked:
        if e.get("rejected"):
            _log(f"export: {e['error']}")
    errors = [(cid, f, p, e["error"]) for cid, f, p, e in asked if "error" in e and not e.get("rejected")]
    if not errors:
        return
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    rest = "The others are written; details" if len(errors) < len(asked) else "Details"
    failed = {f for _, f, _, _ in errors}
    ok = [f for f in formats if f not in failed]
    if FP32 in precisions and all(p == INT8 for _, _, p, _ in errors):
        skip = " To leave int8 out, pass --precision fp32."
    else:
        skip = f" To leave {', '.join(sorted(failed))} out, {skip_hint.replace('{ok}', ','.join(ok))}." if ok else ""
    raise ExportFailed(f"{len(errors)} of {len(asked)} artifacts failed; first: {errors[0][3]}{more}",
                       f"{rest} in {where}.{skip}")
