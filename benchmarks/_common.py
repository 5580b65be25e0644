"""Shared helpers for the benchmark scripts: machine facts and result files."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def header(cmd: list[str]) -> dict:
    return {"command": " ".join(["python", *cmd]), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine()}


def save(name: str, doc: dict) -> Path:
    from edgeprune.runio import write_json

    return write_json(HERE / f"{name}.json", doc)
