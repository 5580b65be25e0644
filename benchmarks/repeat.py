"""Bench repeatability: two consecutive `edgeprune bench RUN --target T` on the same run.

Issue 4 asks that the median latency of the same artifact agree within 15% and
peak RAM within 10% between two consecutive benches. This runs the bench twice
on a copy of RUN (so RUN's own bench file is untouched) and reports, per
artifact, the relative difference of the reported latency (the target estimate
off the device), of the host median and of peak RAM.

    python benchmarks/repeat.py RUN                    # raspberry-pi-4
    python benchmarks/repeat.py RUN --target jetson-nano
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header, save


def _diff(a: float | None, b: float | None) -> float | None:
    return abs(a / b - 1) if a and b else None


def compare(first: dict, second: dict) -> list[dict]:
    """Per artifact: relative differences between two bench documents."""
    other = {r["artifact"]: r for r in second["rows"]}
    rows = []
    for r in first["rows"]:
        s = other.get(r["artifact"])
        if s is None or r.get("error") or s.get("error"):
            continue
        host_a, host_b = r.get("host_latency_ms") or r["latency_ms"], s.get("host_latency_ms") or s["latency_ms"]
        rows.append({"artifact": r["artifact"],
                     "latency_ms": [r["latency_ms"]["median"], s["latency_ms"]["median"]],
                     "latency_diff": _diff(r["latency_ms"]["median"], s["latency_ms"]["median"]),
                     "host_median_diff": _diff(host_a["median"], host_b["median"]),
                     "peak_ram_diff": _diff(r["peak_ram_mb"], s["peak_ram_mb"]),
                     "paired_ratios": [host_a.get("paired_ratios"), host_b.get("paired_ratios")],
                     "rounds": [len(host_a.get("round_medians", [])), len(host_b.get("round_medians", []))]})
    return rows


def summary(rows: list[dict], limit: float = 0.15) -> dict:
    lat = [r["latency_diff"] for r in rows]
    host = [r["host_median_diff"] for r in rows]
    ram = [r["peak_ram_diff"] for r in rows]
    return {"artifacts": len(rows), "latency_within_15pct": sum(d <= limit for d in lat),
            "latency_worst": max(lat), "latency_mean": statistics.fmean(lat),
            "host_median_within_15pct": sum(d <= limit for d in host), "host_median_worst": max(host),
            "peak_ram_worst": max(ram)}


def main(argv: list[str] | None = None) -> int:
    import json

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run directory with exported artifacts")
    p.add_argument("--target", default="raspberry-pi-4")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(args.run, run, ignore=shutil.ignore_patterns("bench", "ship"))
        docs, seconds = [], []
        for _ in range(2):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "edgeprune", "bench", str(run), "--target", args.target], check=True,
                           stdout=subprocess.DEVNULL)
            seconds.append(round(time.perf_counter() - t, 1))
            docs.append(json.loads((run / "bench" / f"{args.target}.json").read_text()))
    rows = compare(*docs)
    anchors = {f: [d["reference"][f].get("anchor") for d in docs] for f in docs[0].get("reference", {})}
    doc = {**header(sys.argv), "target": args.target, "bench_seconds": seconds, "summary": summary(rows),
           "settings": docs[0]["settings"], "anchors": anchors, "rows": rows}
    path = save("repeat", doc)
    s = doc["summary"]
    print(f"latency within 15%: {s['latency_within_15pct']}/{s['artifacts']} (worst {s['latency_worst']:.1%}); "
          f"host medians within 15%: {s['host_median_within_15pct']}/{s['artifacts']}; "
          f"peak RAM worst {s['peak_ram_worst']:.2%}; bench {seconds[0]} s and {seconds[1]} s\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
