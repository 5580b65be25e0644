"""``trtexec --exportTimes`` files: a log's latency recomputed from the per-query times of the same run."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from ..errors import EdgepruneError
from .devicelogs import TRTEXEC, DeviceLog, Timing, _fail


def percentile(sorted_values: list[float], pct: float) -> float:
    """trtexec's findPercentile: the value at index all-1-int((1-pct/100)*all) of the ascending list."""
    n = len(sorted_values)
    return sorted_values[max(n - 1 - int((1 - pct / 100) * n), 0)]


def with_times(log: DeviceLog, path: Path, entries: list) -> DeviceLog:
    """``log`` with its latency recomputed from trtexec's --exportTimes JSON (checked against the summary)."""
    fix = "Import the times file written by the same trtexec run as the log."
    if not entries or not all(isinstance(e, dict) and isinstance(e.get("latencyMs"), (int, float)) for e in entries):
        raise _fail(path, "is not a trtexec --exportTimes file (a list of {'latencyMs': ...})", fix)
    warm, runs = log.details.get("warmup_queries") or 0, log.latency.runs
    if runs is not None and len(entries) == runs + warm:
        entries = entries[warm:]  # TensorRT 8.x exports the warm-up queries too
    elif runs is not None and len(entries) != runs:
        raise _fail(path, f"holds {len(entries)} queries, but {log.file.name} timed {runs} (+{warm} warm-up): "
                          "another run", fix)
    vals = sorted(float(e["latencyMs"]) for e in entries)
    n = len(vals)
    median = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    if not math.isclose(median, log.latency.values["median"], rel_tol=2e-3, abs_tol=1e-3):
        raise _fail(path, f"median latency {median:.6g} ms differs from {log.file.name}'s summary "
                          f"({log.latency.values['median']:.6g} ms): another run", fix)
    values = {k: float(f"{v:.6g}") for k, v in {  # 6 significant digits, as trtexec prints and exports them
        "median": median, "mean": sum(vals) / n, "min": vals[0], "max": vals[-1],
        **{f"p{p}": percentile(vals, p) for p in (90, 95, 99)}}.items()}
    details = dict(log.details, times_file=str(path), times_queries=n)
    return replace(log, latency=Timing(values, n, "median"), details=details)



def pair_times(logs: list[DeviceLog], times: dict[str, tuple[Path, list]]) -> list[DeviceLog]:
    out = []
    for dl in logs:
        name = Path(str(dl.details.get("export_times") or "")).name
        pair = times.pop(name, None) if dl.tool == TRTEXEC and name else None
        out.append(with_times(dl, *pair) if pair else dl)
    if times:
        path = next(iter(times.values()))[0]
        raise EdgepruneError(f"{path}: a trtexec --exportTimes file that no imported trtexec log names.",
                             "Import it together with the log of the same run (its --exportTimes= names this file).")
    return out
