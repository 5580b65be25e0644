"""Pipeline cost: wall time and peak RAM per stage of the default `edgeprune build`.

Runs `edgeprune build --target TARGET --out OUT` in a fresh process (from scratch
unless --resume), then reads OUT/build.json, which the build writes with each
stage's wall time and its own peak RSS (VmHWM reset before each stage via
/proc/self/clear_refs). Reports the share of wall time spent outside
fine-tuning: export + bench + select + ship, plus prune's own non-training work.

    python benchmarks/pipeline.py                    # raspberry-pi-4, fresh run dir
    python benchmarks/pipeline.py --target jetson-nano   # -> pipeline-jetson-nano.json

    python benchmarks/pipeline.py --name pipeline-both -- --granularity both

The default target writes pipeline.json, any other pipeline-<target>.json (or --name).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header, save


DEFAULT_TARGET = "raspberry-pi-4"


def _artifact_counts(rd, target: str) -> dict:
    """How many artifacts were exported and how many got a bench row of their own, from the run's files."""
    from edgeprune.runio import read_json
    from edgeprune.targets import load_target

    bench = read_json(rd.bench_json(load_target(target).name))
    rows = bench.get("rows", [])
    files = [p for p in rd.artifacts_dir.iterdir() if p.suffix in (".onnx", ".tflite")]
    return {"exported": len(files), "bench_rows": len(rows), "benched": len(rows)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default=DEFAULT_TARGET)
    p.add_argument("--out", help="run directory (default: a fresh temp dir)")
    p.add_argument("--resume", action="store_true", help="keep an existing --out (measures a resumed build)")
    p.add_argument("--name", help="JSON name (default: pipeline, or pipeline-<target> for another target); e.g. "
                   "pipeline-both for a build with -- --granularity both")
    p.add_argument("extra", nargs="*", help="extra arguments for edgeprune build (after --)")
    args = p.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="edgeprune-pipeline-")) / "run"
    if out.exists() and not args.resume:
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "edgeprune", "build", "--target", args.target, "--out", str(out), *args.extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 2):
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    from edgeprune.runio import RunDir, read_json

    rd = RunDir(out)
    build = read_json(out / "build.json")
    cands = [read_json(rd.candidate_json(c)) for c in rd.candidate_ids()]
    dense = read_json(rd.dense_json)
    finetune_s = sum(c["seconds"] for c in cands)
    by_grain: dict[str, dict] = {}
    for c in cands:
        g = by_grain.setdefault(c.get("granularity", "unstructured"), {"candidates": 0, "fine_tune_seconds": 0.0})
        g["candidates"] += 1
        g["fine_tune_seconds"] = round(g["fine_tune_seconds"] + c["seconds"], 1)
    for name, f in (("unstructured", rd.ranges_json), ("structured", rd.ranges_structured_json)):
        if name in by_grain and f.exists():
            by_grain[name]["phase1_seconds"] = read_json(f).get("seconds")
    dense_train_s = dense.get("seconds", 0.0) if dense.get("trained") else 0.0
    stages = {s["stage"]: s for s in build["stages"]}
    total = build["seconds"]
    after_prune = sum(s["seconds"] for n, s in stages.items() if n != "prune")
    doc = {
        **header(sys.argv), "target": args.target, "exit_code": proc.returncode, "wall_seconds": round(wall, 1),
        "build_seconds": total, "stages": build["stages"],
        "training_seconds": {"dense": dense_train_s, "fine_tune": round(finetune_s, 1)},
        # a resumed build did not train (its candidates come from the earlier build): no share to report
        "share_outside_fine_tuning": round(1 - (finetune_s + dense_train_s) / total, 3)
        if total and not args.resume else None,
        "share_export_bench_select_ship": round(after_prune / total, 3) if total else None,
        "candidates": len(cands), "granularity": by_grain, "resumed": args.resume,
        "formats": build.get("formats"), "precisions": build.get("precisions"),
        "skipped_formats": build.get("skipped_formats"), "artifacts": _artifact_counts(rd, args.target),
    }
    print(f"edgeprune build --target {args.target}: {total:.0f} s (exit {proc.returncode})")
    print("| stage | seconds | peak RSS (MB) |\n|---|---|---|")
    for s in build["stages"]:
        print(f"| {s['stage']} | {s['seconds']:.1f} | {s['peak_rss_mb']:.0f} |")
    if not args.resume:
        print(f"dense training {dense_train_s:.0f} s, fine-tuning {finetune_s:.0f} s; outside training: "
              f"{doc['share_outside_fine_tuning']:.0%}; export+bench+select+ship: {doc['share_export_bench_select_ship']:.0%}")
    name = args.name or ("pipeline" if args.target == DEFAULT_TARGET else f"pipeline-{args.target}")
    print(f"wrote {save(name, doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
