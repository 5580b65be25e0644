"""Plain-file storage: atomic writes, JSON, hashes and the run-directory layout.

The run directory is the database. Every stage reads and writes the files
named by :class:`RunDir`; nothing else is shared between stages. All writes go
to a temporary sibling first and are renamed into place, so a killed process
never leaves a half-written file under a final name. Torch-free on purpose.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

JSON_INDENT = 2


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file + rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-ordered-as-given JSON."""
    return atomic_write_text(path, json.dumps(obj, indent=JSON_INDENT, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(o: Any) -> Any:
    # numpy scalars/arrays without importing numpy at module load
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` on success.

    On any exception the temp file is removed and ``path`` is untouched.
    ``suffix`` keeps a file extension some writers insist on (e.g. ``.onnx``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=(suffix if suffix is not None else final.suffix) + ".tmp",
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp directory; it replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any) -> str:
    """Stable hash of a JSON-able object (used as a cache key)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, default=_json_default).encode())


def gzip_size(path: str | os.PathLike, level: int = 9) -> int:
    """Bytes of ``path`` after gzip -9 (what a firmware OTA update would move)."""
    import gzip

    return len(gzip.compress(Path(path).read_bytes(), compresslevel=level, mtime=0))


def clean_stale_temps(directory: str | os.PathLike) -> int:
    """Remove ``.*.tmp`` leftovers of killed runs below ``directory``."""
    n = 0
    root = Path(directory)
    if not root.exists():
        return 0
    for p in root.rglob(".*.tmp"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


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
        return self.candidate_dir(cid) / "candidate.json"

    def candidate_weights(self, cid: str) -> Path:
        return self.candidate_dir(cid) / "model.safetensors"

    def candidate_structure(self, cid: str) -> Path:
        """Channel plan of a structured candidate (absent for unstructured ones)."""
        return self.candidate_dir(cid) / "structure.json"

    def candidate_ids(self) -> list[str]:
        """Finished candidates (those whose candidate.json exists), sorted."""
        if not self.candidates_dir.exists():
            return []
        return sorted(p.parent.name for p in self.candidates_dir.glob("*/candidate.json"))

    # export stage
    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    def artifact(self, cid: str, fmt: str) -> Path:
        return self.artifacts_dir / f"{cid}.{fmt}"

    def artifact_json(self, cid: str) -> Path:
        return self.artifacts_dir / f"{cid}.json"

    # bench / select / ship
    def bench_json(self, target: str) -> Path:
        return self.root / "bench" / f"{target}.json"

    @property
    def selection_json(self) -> Path:
        return self.root / "selection.json"

    def ship_dir(self, target: str) -> Path:
        return self.root / "ship" / target
