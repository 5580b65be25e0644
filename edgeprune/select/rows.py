"""Bench JSON rows -> selection rows, preferring device-measured figures.

A bench file may hold several rows for one (candidate, format, precision): a host
estimate and, after ``edgeprune bench --import``, a row measured on the device.
For each objective the figure with the best provenance wins
(measured > measured-on-host > estimated > unlabelled); its label and method
travel with it, with its uncertainty (:func:`.noise.figure_noise`). Only rows
for the same artifact (sha256) are merged.
"""
from __future__ import annotations

from ..precision import ArtifactKey
from ..records import ABSENT, BenchRecord, BenchRow
from .core import PROVENANCE_RANK, Figure, Row
from .noise import figure_noise

MB = 1e6  # size budgets are in 10^6 bytes

# objective -> (bench provenance key, how to read the value from a bench row)
_FIELDS = {
    "accuracy": ("accuracy", lambda r: r.get("accuracy")),
    "size_mb": ("size", lambda r: None if r.get("size_bytes") is None else r.size_bytes / MB),
    "latency_ms": ("latency", lambda r: latency_value(r.get("latency_ms"))),
    "peak_ram_mb": ("peak_ram", lambda r: r.get("peak_ram_mb")),
}
_CARRY = ("artifact", "sha256", "size_bytes", "gzip_bytes", "runtime", "runtime_version", "threads", "threads_profile",
          "n_eval", "latency_ms", "memory_settings")


def latency_value(lat: dict | None) -> float | None:
    """The figure a latency record is compared by: its ``statistic`` (median unless a tool printed only a mean)."""
    lat = lat or {}
    return lat.get(lat.get("statistic") or "median")


def _figure(row: BenchRow, objective: str) -> Figure | None:
    prov_key, read = _FIELDS[objective]
    value = read(row)
    if value is None:
        return None
    prov = (row.get("provenance") or {}).get(prov_key, "unknown")
    method = (row.get("methods") or {}).get(prov_key)
    if method is None and objective == "accuracy" and row.get("n_eval"):
        method = f"top-1 on {row.n_eval} test images through {row.get('runtime', 'the runtime')}"
    if method is None and objective == "size_mb":
        method = "bytes of the artifact file / 10^6"
    # figures of one provenance and format in one bench share an estimate's band (one host -> device scale)
    basis = f"{prov}:{row.get('format')}"
    return Figure(float(value), prov, method, basis=basis, **figure_noise(row, objective, float(value)))


def _rank(fig: Figure) -> int:
    return PROVENANCE_RANK.get(fig.provenance, len(PROVENANCE_RANK))


def rows_from_bench(bench: BenchRecord | dict) -> list[Row]:
    """One :class:`Row` per (candidate, format, precision) in a bench file (or its document)."""
    if not isinstance(bench, BenchRecord):
        bench = BenchRecord.from_json(bench, "the bench document")
    groups: dict[ArtifactKey, list[BenchRow]] = {}
    for r in bench.rows:
        groups.setdefault(r.key, []).append(r)
    out = []
    for key, group in groups.items():
        cand, fmt, prec = key.candidate, key.format, key.precision
        latest_sha = group[-1].get("sha256")
        group = [r for r in group if r.get("sha256") == latest_sha]
        ok = [r for r in group if not r.get("error")]
        if not ok:
            out.append(Row(cand, fmt, error=str(group[-1].error), info=_info(group[-1], bench), precision=prec))
            continue
        figures: dict[str, Figure] = {}
        source: dict[str, BenchRow] = {}
        for obj in _FIELDS:
            for r in ok:  # later rows win ties: an imported device row is appended after the estimate
                fig = _figure(r, obj)
                if fig is not None and (obj not in figures or _rank(fig) <= _rank(figures[obj])):
                    figures[obj], source[obj] = fig, r
        info = _info(source.get("latency_ms", ok[-1]), bench)
        why = {obj: (ok[-1].get("methods") or {}).get(_FIELDS[obj][0]) for obj in _FIELDS if obj not in figures}
        if any(why.values()):
            info["missing"] = {obj: w for obj, w in why.items() if w}
        out.append(Row(cand, fmt, figures, info=info, precision=prec))
    return out


def _info(r: BenchRow, bench: BenchRecord) -> dict:
    info = {k: r.get(k) for k in _CARRY if r.get(k, ABSENT) is not ABSENT}
    info["bench_mode"] = r.get("mode", bench.get("mode"))
    return info
