"""A bench row from a device log: the log's figures, labelled measured, with method text naming the tool."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from .artifacts import Artifact
from .device import ON_DEVICE
from .devicelogs import BENCHMARK_MODEL, TRTEXEC, DeviceLog
from .rows import base_row, file_facts


@dataclass(frozen=True)
class Match:
    artifact: Artifact
    sha256: str
    how: str



def _fmt(values: dict[str, float], skip: str) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in values.items() if k != skip)


def latency_method(log: DeviceLog, how: str) -> str:
    """The method text of a latency read from ``log``: tool, version, settings and the log's own figures."""
    lat, d = log.latency, log.details
    version = log.version or "version not printed"
    if log.tool == TRTEXEC:
        what = ("'Latency' (H2D + GPU compute + D2H of one query" +
                (f", data transfers {d['data_transfers'].lower()})" if d.get("data_transfers") else ")")
                if d.get("latency_source") == "Latency" else "'Host Latency'")
        head = (f"measured on the device by trtexec (TensorRT {version}) on {log.device or 'a GPU it did not name'}, "
                f"{log.precision or 'unstated-precision'} engine: {lat.statistic} of {lat.runs} queries of {what} = "
                f"{lat.value:.4g} ms ({_fmt(lat.values, lat.statistic)} ms)")
        if d.get("gpu_compute_median_ms") is not None:
            head += f"; GPU compute median {d['gpu_compute_median_ms']:.4g} ms"
        if d.get("times_file"):
            head += f"; from {Path(d['times_file']).name}'s per-query times, which agree with the log's summary"
    else:
        threads = f"{log.threads} threads" if log.threads else "threads not printed (the tool's default)"
        delegates = f", {'/'.join(d['delegates'])} delegate" if d.get("delegates") else ""
        head = (f"measured on the device by TFLite benchmark_model ({version}), {threads}{delegates}: {lat.statistic} "
                f"of {lat.runs} timed runs = {lat.value:.4g} ms ({_fmt(lat.values, lat.statistic)} ms)" +
                ("; benchmark_model printed no median" if lat.statistic == "mean" else ""))
    return f"{head}; log {log.file.name} (sha256 {log.sha256[:12]}...), matched by {how}"


def _tflite_figures(row: dict, log: DeviceLog) -> None:
    """benchmark_model's Init time and peak RSS growth, when printed, replace the host's figures."""
    d, where = log.details, f"on the device ({log.file.name})"
    row["load_ms"], row["first_run_ms"] = d["init_ms"], d.get("first_ms", row.get("first_run_ms"))
    row["provenance"]["load_ms"] = "measured"
    row["methods"]["load_ms"] = f"benchmark_model 'Init' (interpreter, delegates and tensor allocation) {where}"
    for key, label in (("peak_footprint_mb", "Peak memory footprint (MB)"),
                       ("footprint_delta_mb", "Memory footprint delta from the start of the tool (MB)")):
        overall = (d["memory"].get(key) or {}).get("overall")
        if overall:  # 0 means the platform gave no figure
            row["peak_ram_mb"] = overall
            row["provenance"]["peak_ram"] = "measured"
            peak = d.get("peak_rss_mb")
            peak = f"; process peak RSS {peak:.4g} MB by periodic monitoring" if peak else ""
            row["methods"]["peak_ram"] = (f"benchmark_model '{label}' overall: growth of the process's peak RSS "
                                          f"(ru_maxrss) from the tool's start to the end of the timed runs {where}{peak}")
            break


def log_row(base: dict | None, match: Match, log: DeviceLog) -> dict:
    """``base`` (this artifact's current row, same sha256) with the log's figures, or a new row."""
    a = match.artifact
    if base is None:
        facts = file_facts(a)
        row = {**base_row(a, ON_DEVICE), **{k: facts[k] for k in ("sha256", "size_bytes", "gzip_bytes")},
               "provenance": {"size": "measured"},
               "methods": {"size": f"bytes on disk; gzip -6 bytes ({facts['gzip_from']})"},
               "error": None}
    else:
        row = copy.deepcopy(base)
        row.setdefault("provenance", {})
        row.setdefault("methods", {})
        row["replaced"] = {"latency_ms": base.get("latency_ms"), "provenance": base["provenance"].get("latency"),
                           "method": base["methods"].get("latency")}
    row.update(mode=ON_DEVICE, latency_ms=log.latency.record(), imported_from=str(log.file))
    row["provenance"]["latency"] = "measured"
    row["methods"]["latency"] = latency_method(log, match.how)
    if log.tool == BENCHMARK_MODEL:
        _tflite_figures(row, log)
    row["device_log"] = {"tool": log.tool, "version": log.version, "file": str(log.file), "sha256": log.sha256,
                         "model": log.model, "matched_by": match.how, "precision": log.precision,
                         "threads": log.threads, "device": log.device, "details": log.details}
    return row
