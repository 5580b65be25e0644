"""Entry point of the per-artifact subprocess: ``python -m edgeprune.bench.worker``.

Reads a JSON :class:`~edgeprune.bench.settings.Job` on stdin and writes one
JSON result line on stdout. Runtimes print from C to fd 1, so the real stdout
is kept aside for the result and fd 1 goes to stderr. Nothing imports this
module; the orchestrator only runs it.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .measure import measure
from .settings import Job


def main() -> int:
    # Runtimes print to fd 1 from C; keep the real stdout for the one JSON result.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = Job.from_json(json.load(sys.stdin))
    if not Path(job.path).is_file():
        result = {"error": f"load: {job.path} does not exist."}
    else:
        result = measure(job)
    with os.fdopen(result_fd, "w") as f:
        f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
