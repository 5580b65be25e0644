"""Writing the selection: the last good ``selection.json`` survives a select that finds nothing."""
from __future__ import annotations

from ..locks import clean_stage_temps, stage_lock
from ..records import SelectionRecord, write_document
from ..runio import RunDir


def write_selection(rd: RunDir, doc: dict) -> str:
    """Write ``doc`` under the select lock; returns a note for the user ('' when a choice was written).

    With a choice it becomes ``selection.json`` and an older ``selection.failed.json``
    goes; without one it is written to ``selection.failed.json`` and ``selection.json``
    (the last good choice, which ship uses) is kept.
    """
    with stage_lock(rd.root, "select"):
        clean_stage_temps(rd.root, "select")
        if doc.get("choice") is not None:
            write_document(SelectionRecord, rd.selection_json, doc)
            rd.selection_failed_json.unlink(missing_ok=True)
            return ""
        write_document(SelectionRecord, rd.selection_failed_json, doc)
    last = SelectionRecord.read_or_none(rd.selection_json)
    kept = (last.get("choice") or {}).get("key") if last is not None else None
    where = f"This attempt is in {rd.selection_failed_json.name}"
    if kept:
        return f" {where}; {rd.selection_json.name} keeps the last good choice ({kept} for {last.target})."
    return f" {where}."
