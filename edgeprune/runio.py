"""Plain-file storage: atomic writes, JSON, hashes; re-exports the run-directory layout.

The run directory is the database. Every stage reads and writes the files
named by :class:`RunDir` (edgeprune.rundir, re-exported here); nothing else is
shared between stages. All writes go to a temporary sibling first and are
renamed into place, so a killed process never leaves a half-written file under
a final name. Torch-free on purpose.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import EdgepruneError, write_error
from .rundir import RunDir

__all__ = ["JSON_INDENT", "TEMP_MARK", "RunDir", "atomic_dir", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "clean_stale_temps", "gzip_size", "make_dir", "read_json", "read_json_object", "sha256_bytes", "sha256_file",
           "sha256_json", "temp_glob", "write_json"]  # RunDir lives in rundir.py; stages import it from here

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


#: every temp file or folder edgeprune writes carries this marker in its name; only those are ever cleaned up
TEMP_MARK = "edgeprune-"


def temp_glob(name: str = "*") -> str:
    """Glob for edgeprune's temps of the final name ``name`` (``.NAME.edgeprune-XXXX[.ext].tmp``)."""
    return f".{name}.{TEMP_MARK}*.tmp"


def _disk_error(e: BaseException, final: Path, tmp: Path | None = None, creating: bool = False) -> BaseException:
    """``e`` as a one-line WriteFailed when the disk refused the write (full, read-only...), else ``e``.

    Permission errors count only while creating the temp or renaming it: inside the
    writer's block they may come from reading some other file.
    """
    if isinstance(e, OSError) and (creating or e.errno in _SPACE_ERRNOS):
        where = e.filename if e.filename and e.filename != str(tmp) and not creating else final
        return write_error(e, where) or e
    return e


_SPACE_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path next to ``path``; rename it onto ``path`` on success.

    On any exception the temp file is removed and ``path`` is untouched. A disk
    that is full or read-only raises a one-line :class:`WriteFailed` naming
    ``path``. ``suffix`` keeps a file extension some writers insist on (e.g. ``.onnx``).
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.{TEMP_MARK}",
                                    suffix=(suffix if suffix is not None else final.suffix) + ".tmp", dir=final.parent)
        os.close(fd)
    except OSError as e:
        raise _disk_error(e, final, creating=True) from None
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        err = _disk_error(e, final, tmp)
        if err is e:
            raise
        raise err from None


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp directory; it replaces ``path`` only if the block succeeds.

    The old ``path`` is moved aside first and restored if the final rename fails.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{TEMP_MARK}", suffix=".tmp", dir=final.parent))
    except OSError as e:
        raise _disk_error(e, final, creating=True) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_dir(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        err = _disk_error(e, final, tmp)
        if err is e:
            raise
        raise err from None


def make_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p path``; a full or read-only disk is a one-line WriteFailed."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _disk_error(e, p, creating=True) from None
    return p


def _swap_dir(new: Path, final: Path) -> None:
    if not final.exists():
        os.replace(new, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.{TEMP_MARK}", suffix=".old.tmp", dir=final.parent))
    os.replace(final, old)  # onto the empty temp folder
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


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


GZIP_LEVEL = 6


def gzip_size(path: str | os.PathLike, level: int = GZIP_LEVEL) -> int:
    """Bytes of ``path`` after gzip at gzip's default level 6 (what a firmware OTA update would move).

    -9 took 5x the time on a 15 MB ONNX file for 0.4% fewer bytes, and every
    artifact of a build is measured: -6 is what ``gzip`` does by default.
    """
    import gzip

    return len(gzip.compress(Path(path).read_bytes(), compresslevel=level, mtime=0))


def clean_stale_temps(directory: str | os.PathLike, names: tuple[str, ...] = ("*",), recursive: bool = False) -> int:
    """Remove temps that killed edgeprune writers left in ``directory``; returns how many.

    Only names carrying :data:`TEMP_MARK` for the final ``names`` are touched
    (``recursive``: in sub-folders too). Callers hold the stage's lock and call
    this only after their inputs are validated, inside a run directory or
    edgeprune's own cache (never a user's folder).
    """
    root = Path(directory)
    if not root.is_dir():
        return 0
    found = {p for name in names for p in (root.rglob if recursive else root.glob)(temp_glob(name))}
    n = 0
    for p in sorted(found, key=lambda p: len(p.parts)):  # a temp folder before anything inside it
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink(missing_ok=True)
        else:
            continue  # went with its temp folder
        n += 1
    return n


def read_json_object(path: str | os.PathLike, fix: str) -> dict:
    """``path``'s JSON object; a missing, unreadable or non-object file is a one-line error with ``fix``."""
    p = Path(path)
    if not p.is_file():
        raise EdgepruneError(f"{p} does not exist.", fix)
    try:
        doc = read_json(p)
    except (OSError, ValueError) as e:
        raise EdgepruneError(f"{p} is not readable JSON ({e}).", fix) from None
    if not isinstance(doc, dict):
        raise EdgepruneError(f"{p} holds a JSON {type(doc).__name__}, not an object.", fix)
    return doc
