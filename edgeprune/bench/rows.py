"""Bench rows: the figures of one artifact, each with its provenance and the method text that says how."""
from __future__ import annotations

from ..runio import gzip_size, sha256_file
from ..targets import Target
from .artifacts import Artifact
from .client import MALLOC_ENV
from .device import HOST_ESTIMATE, ON_DEVICE
from .estimate import estimate_latency, is_anchor_file, method_text


PROVENANCE: dict[str, dict[str, str]] = {
    ON_DEVICE: {"size": "measured", "load_ms": "measured", "latency": "measured", "peak_ram": "measured",
                "accuracy": "measured"},
    HOST_ESTIMATE: {"size": "measured", "load_ms": "measured-on-host", "latency": "estimated",
                    "peak_ram": "measured-on-host", "accuracy": "measured"},
}


# provenance key -> the row field it labels
FIGURES = {"size": "size_bytes", "load_ms": "load_ms", "latency": "latency_ms", "peak_ram": "peak_ram_mb",
           "accuracy": "accuracy"}


def _methods(res: dict, mode: str, eval_name: str | None) -> dict[str, str]:
    rt, lat = res.get("runtime", "?"), res.get("latency_ms") or {}
    where = "on this device" if mode == ON_DEVICE else "on the host, not the target"
    settings = ", ".join(f"{k}={v}" for k, v in (res.get("memory_settings") or {}).items())
    m = {
        "size": "bytes on disk; gzip -6 bytes",
        "load_ms": f"wall time to open the file in {rt} (session/interpreter creation), fresh process, {where}",
        "latency": f"median over {len(lat.get('round_medians', [0]))} round(s) of timed runs after warm-up "
                   f"({lat.get('runs', 0)} runs in all), one fresh process per round, {res.get('threads')} threads, "
                   f"input {res.get('input_shape')}, {where}" + _agreement(lat),
        "peak_ram": f"peak RSS (VmHWM) after load + {lat.get('runs', 0)} runs minus the peak after importing {rt} "
                    f"({res.get('baseline_ram_mb', 0):.0f} MB), fresh process, {where}; {settings}",
    }
    if res.get("accuracy") is not None:
        m["accuracy"] = f"top-1 on {eval_name} ({res.get('n_eval')} images) through {rt}"
    return m


def _agreement(lat: dict) -> str:
    if lat.get("settled"):
        return f"; {lat['settled']}"
    if "stable" not in lat:
        return ""
    return (f"; a majority of rounds agree within {lat['agree_within']:.1%}" if lat["stable"] else
            "; rounds still disagreed after the last extra round (the machine was busy): a noisy figure")


def base_row(a: Artifact, mode: str) -> dict:
    return {"artifact": a.path.name, "path": a.display, "candidate": a.candidate, "format": a.format,
            "precision": a.precision, "mode": mode}


def file_facts(a: Artifact) -> dict:
    """sha256, bytes and gzip bytes; gzip of a big file takes seconds, so the export record's figure is reused."""
    sha = sha256_file(a.path)
    reuse = a.recorded_gzip is not None and sha == a.expected_sha256
    return {"sha256": sha, "size_bytes": a.path.stat().st_size,
            "gzip_bytes": a.recorded_gzip if reuse else gzip_size(a.path),
            "gzip_from": "export record (same sha256)" if reuse else "computed"}


def make_row(a: Artifact, res: dict, mode: str, profile_threads: int, eval_name: str | None,
             min_runs: int = 0) -> dict:
    """A bench row from the worker's result (latency still as measured here)."""
    row = base_row(a, mode)
    row.update({"runtime": res.get("runtime"), "runtime_version": res.get("runtime_version"),
                "threads": res.get("threads"), "threads_profile": profile_threads,
                "memory_settings": {**(res.get("memory_settings") or {}), **MALLOC_ENV}})
    facts = res["file"]
    row.update({k: facts[k] for k in ("sha256", "size_bytes", "gzip_bytes")})
    lat = res.get("latency_ms")
    row.update({"load_ms": res.get("load_ms"), "first_run_ms": res.get("first_run_ms"),
                "latency_ms": lat, "peak_ram_mb": res.get("peak_ram_mb"),
                "peak_ram_rounds_mb": res.get("peak_ram_rounds_mb"),
                "resident_ram_mb": res.get("resident_ram_mb"), "baseline_ram_mb": res.get("baseline_ram_mb"),
                "accuracy": res.get("accuracy"), "n_eval": res.get("n_eval")})
    row["provenance"] = {k: (v if row[FIGURES[k]] is not None else "not-measured")
                         for k, v in PROVENANCE[mode].items()}
    row["methods"] = _methods(res, mode, eval_name)
    row["methods"]["size"] += f" ({facts['gzip_from']})"
    if lat and lat["runs"] < min_runs:
        row["methods"]["latency"] += " (time box hit before the minimum number of runs)"
    row["error"] = res.get("error")
    return row


def apply_estimate(row: dict, entry: dict | None, reason: str, target: Target, file: str | None = None) -> None:
    """Turn a host-measured row into a target estimate (or mark latency unavailable)."""
    host = row.get("latency_ms")
    row["host_latency_ms"] = host
    if host is None:
        return
    if entry is None or entry.get("scale") is None:
        row["latency_ms"] = None
        row["provenance"]["latency"] = "unavailable"
        row["methods"]["latency"] = f"not estimated: {reason}"
        return
    row["latency_ms"] = estimate_latency(host, entry, file)
    # the anchor's estimate comes from its floor, so whether its round medians agreed says nothing about it
    row["methods"]["latency"] = method_text(entry, target, host, file) + ("" if is_anchor_file(entry, file) else
                                                                          _agreement(host))


def no_estimate_reason(target: Target, fmt: str, entries: dict[str, dict]) -> str:
    if fmt not in target.runtimes:
        return f"{target.name} has no {fmt} runtime in its profile, so this format does not run there"
    fix = "; measure on the device and use 'edgeprune bench RUN --import FILE'"
    if fmt not in entries:
        return f"the {target.name} profile has no published {fmt} latency to calibrate with" + fix
    return (entries[fmt].get("error") or "the reference failed") + fix
