"""Bench results kept as they are measured, so an interrupted bench resumes.

Every worker result (one artifact, one round) is appended as a JSON line to a
journal beside the bench file (``bench/<target>.partial.jsonl``) the moment it
arrives. Its key is everything that changes the measurement: the job (file,
threads, layout, timing settings, partner), the sha256 of the artifact, of the
partner and of the eval set, the machine (host name and architecture) and
edgeprune's version. A re-run (after
Ctrl-C or ``kill -9``) reuses a result with the same key instead of measuring
it again; a changed file or setting simply does not match. Failed results are
not kept (they are retried). The journal goes once the bench file is written.
A truncated last line (a kill mid-write) is ignored.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Callable

from .. import __version__
from ..errors import write_error
from ..runio import sha256_file, sha256_json
from .settings import Job

SUFFIX = ".partial.jsonl"


def journal_path(bench_file: Path) -> Path:
    """``bench/<target>.json`` -> ``bench/<target>.partial.jsonl``."""
    return bench_file.with_name(bench_file.stem + SUFFIX)


class Journal:
    """Worker results by key, read from and appended to one JSON-lines file."""

    def __init__(self, path: Path, run: Callable[[Job], dict]):
        self.path, self._run = Path(path), run
        self.machine = {"node": platform.node(), "machine": platform.machine()}
        self._sha: dict[str, str | None] = {}
        self.reused = 0
        self.saved: dict[str, dict] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.saved[entry["key"]] = entry["result"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill

    def _file_sha(self, path: str | None) -> str | None:
        if path is None:
            return None
        if path not in self._sha:
            self._sha[path] = sha256_file(path) if Path(path).is_file() else None
        return self._sha[path]

    def key(self, job: Job, rnd: int) -> str:
        files = ("path", "reference", "eval_npz")  # by content, so a re-run from another folder matches too
        settings = {k: v for k, v in job.to_json().items() if k not in files}
        return sha256_json({"job": settings, "round": rnd, "machine": self.machine, "edgeprune": __version__,
                            "sha256": [self._file_sha(getattr(job, k)) for k in files]})

    def measure(self, job: Job, rnd: int) -> dict:
        """The saved result of this job and round, else a fresh measurement (saved unless it failed)."""
        key = self.key(job, rnd)
        if key in self.saved:
            self.reused += 1
            return self.saved[key]
        res = self._run(job)
        if not res.get("error"):
            self._append(key, res)
        return res

    def _append(self, key: str, res: dict) -> None:
        self.saved[key] = res
        line = json.dumps({"key": key, "result": res}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise (write_error(e, self.path) or e) from None

    def finish(self) -> None:
        """The bench file is written: the journal has served its purpose."""
        self.path.unlink(missing_ok=True)
