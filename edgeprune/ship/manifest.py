"""The bundle manifest: names, the accuracy tolerance and file hashing.

Shared by ``ship`` (writes) and ``verify`` (reads, on the device), so it
imports nothing beyond the standard library and ``runio``.
"""
from __future__ import annotations

from pathlib import Path

from ..runio import sha256_file

MANIFEST = "manifest.json"
EVAL_FILE = "eval.npz"
README = "README.md"
REPORT = "report.html"
SCHEMA = "edgeprune.ship/1"

# verify: with the runtime (name and version) that shipped the bundle the
# accuracy on eval.npz must match exactly; another runtime or version may flip
# predictions whose top-2 logits are nearly equal, so it may differ by at most
# max(TOLERANCE_OTHER_RUNTIME, 1/n) (one image, or 1 percentage point).
TOLERANCE_OTHER_RUNTIME = 0.01


def tolerance(n: int, same_runtime: bool) -> float:
    """Allowed |accuracy difference| on an eval set of ``n`` images."""
    return 0.0 if same_runtime else max(TOLERANCE_OTHER_RUNTIME, 1.0 / max(n, 1))


def tolerance_doc(n: int) -> dict:
    return {"same_runtime": tolerance(n, True), "other_runtime": tolerance(n, False),
            "rule": "exact with the same runtime name and version; otherwise at most max(0.01, 1/n)"}


def file_entries(bundle: Path, names: list[str]) -> dict[str, dict]:
    """``{name: {sha256, bytes}}`` for files inside ``bundle``."""
    return {n: {"sha256": sha256_file(bundle / n), "bytes": (bundle / n).stat().st_size} for n in names}


def safe_name(bundle: Path, name: str) -> Path | None:
    """The path of a manifest file name if it stays inside ``bundle``, else None."""
    if not name or Path(name).is_absolute() or Path(name).name != name:
        return None
    return bundle / name
