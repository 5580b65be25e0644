"""One command per run directory and stage at a time.

Two ``edgeprune bench`` on the same run would both measure (each slowing the
other) and the last writer would win. Every stage that writes into a run holds
``RUN/.locks/<stage>.lock`` (an OS file lock through ``filelock``: it is
released when the process ends, even on ``kill -9``) and writes who holds it to
``RUN/.locks/<stage>.holder.json``. A second command on the same run and stage
refuses at once with the holder's PID and command line.

Also: the stage's stale temps (of killed writers) are cleaned here, under the
lock, and only in a directory that is a run (has ``run.json``).
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .errors import EdgepruneError, write_error
from .runio import RunDir, clean_stale_temps, write_json


#: stage -> (folder relative to the run, final names whose temps are the stage's, recursive)
STAGE_TEMPS: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {
    "prune": [(".", ("run.json", "ranges.json", "strategies.json", "ranges-structured.json", "strategies-structured.json"), False), ("dense", ("*",), True),
              ("data", ("*",), True), ("candidates", ("*",), True)],
    "export": [("artifacts", ("*",), False), ("data", ("calib.npz",), False)],  # calib.npz: int8 calibration
    "bench": [("bench", ("*",), False)],
    "select": [(".", ("selection.json", "selection.failed.json"), False)],
    "ship": [("ship", ("*",), True)],  # also a signature temp inside a bundle
    "build": [(".", ("build.json",), False)],
}


class Busy(EdgepruneError):
    """Another edgeprune command holds this run's stage (exit code 3)."""

    exit_code = 3


def command_line() -> str:
    """How this process was started, as a user would type it."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("edgeprune", "__main__.py"):
        argv[0] = "edgeprune"
    return shlex.join(argv)


def _holder(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def stage_lock(run: str | os.PathLike, stage: str) -> Iterator[None]:
    """Hold ``RUN/.locks/<stage>.lock`` for the block, or raise :class:`Busy` naming the holder."""
    from filelock import FileLock, Timeout

    rd = RunDir(run)
    folder, lock_path, holder = rd.locks_dir, rd.lock_file(stage), rd.lock_holder_json(stage)
    lock = FileLock(str(lock_path), timeout=0, thread_local=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        h = _holder(holder)
        who = (f"'{h.get('command', '?')}' (PID {h.get('pid', '?')}, since {h.get('started', '?')})" if h
               else "another edgeprune command")
        kill = f" (or stop it: kill {h['pid']})" if h.get("pid") else ""
        raise Busy(f"{Path(run)} is busy: {who} is running its {stage} stage.",
                   f"Wait for it to finish{kill}, then re-run.") from None
    except OSError as e:
        raise (write_error(e, lock_path) or e) from None
    try:
        write_json(holder, {"pid": os.getpid(), "command": command_line(), "host": socket.gethostname(),
                            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


@contextlib.contextmanager
def wait_lock(folder: str | os.PathLike, log: Callable[[str], None]) -> Iterator[None]:
    """Hold ``folder/.lock`` (e.g. the shared reference cache), waiting with one message while another has it."""
    from filelock import FileLock, Timeout

    path = Path(folder) / ".lock"
    lock = FileLock(str(path), timeout=0, thread_local=False)
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire()
        except Timeout:
            log(f"waiting for another edgeprune process that holds {path} ...")
            lock.acquire(timeout=-1)
    except OSError as e:
        raise (write_error(e, path) or e) from None
    try:
        yield
    finally:
        lock.release()


def clean_stage_temps(run: str | os.PathLike, stage: str) -> int:
    """Remove ``stage``'s stale temps inside ``run``, only if it is a run directory (has run.json)."""
    rd = RunDir(run)
    if not rd.run_json.is_file():
        return 0
    return sum(clean_stale_temps(rd.root / folder, names, recursive) for folder, names, recursive in STAGE_TEMPS[stage])
