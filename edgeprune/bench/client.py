"""The worker client: one :class:`~.settings.Job` measured in a fresh interpreter (:mod:`.worker`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Callable

from .settings import Job

Measure = Callable[[Job, int], dict]  # (job, round) -> worker result; a journal may answer from saved results

# glibc adapts its mmap threshold to freed blocks, which made ONNX Runtime's peak RSS
# for the same file vary by up to 30% between runs; a fixed threshold makes it repeat
# to ~0.1%. Recorded in every row's memory_settings; use the same on the device.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def run_worker(job: Job, timeout: float) -> dict:
    """Measure in a fresh interpreter; a crash or hang becomes an ``error``, never an exception."""
    cmd = [sys.executable, "-m", "edgeprune.bench.worker"]
    try:
        proc = subprocess.run(cmd, input=json.dumps(job.to_json()), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **MALLOC_ENV})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    why = f"signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    tail = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"error": f"worker crashed ({why})" + (f": {tail[-1][:200]}" if tail else "")}
