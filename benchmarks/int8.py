"""int8 vs fp32: test-accuracy drop of a run's candidates, and host latency in both runtimes.

Accuracy (``--run RUN``, e.g. the default build's ``runs/default``): every
candidate that has an fp32 and an int8 artifact of a format is evaluated on the
run's whole test split (``data/test.npz``) through its own runtime, 1 thread;
the drop is fp32 minus int8 accuracy in percentage points (goal: <= 1 point
for every candidate). Rejected int8 artifacts (agreement below the floor) are
listed with their reason.

Latency (``--models``, ``--sizes``): a random-init timm model (BatchNorm
statistics randomised, 10 classes), dense, exported through edgeprune's own
export pipeline in fp32 and int8 (int8 calibrated on 64 random-normal images:
latency does not depend on the values) at each input size; fp32 and int8 are
timed interleaved in one process (ABBA blocks, median over 15 rounds of the
paired block-time ratio), 1 thread, on this host: a host figure, not a device
one (see edgeprune.bench.estimate for why the ratio does not transfer).

    python benchmarks/int8.py --run runs/default                 # both parts
    python benchmarks/int8.py --no-latency --run runs/default    # accuracy only
    python benchmarks/int8.py --sizes 32                         # latency only, 32 px

Writes benchmarks/int8.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import HERE, header, save

GOAL_POINTS = 1.0


def accuracy_part(run: Path) -> dict:
    from edgeprune.export.prepare import quiet
    from edgeprune.precision import FP32, INT8, entry_of
    from edgeprune.runio import RunDir, read_json
    from edgeprune.runtimes import evaluate, open_runner

    rd = RunDir(run)
    with np.load(rd.test_npz) as d:
        x, y = d["x"], d["y"]
    rows, rejected = [], []
    for meta in sorted(rd.artifacts_dir.glob("*.json")):
        rec = read_json(meta)
        for fmt in rec.get("formats", {}):
            fp, q = entry_of(rec, fmt, FP32), entry_of(rec, fmt, INT8)
            if not fp or "error" in fp or not q:
                continue
            if "error" in q:
                rejected.append({"candidate": rec["id"], "format": fmt, "reason": q["error"]})
                continue
            acc = {}
            for prec, e in ((FP32, fp), (INT8, q)):
                with quiet():
                    runner = open_runner(rd.artifacts_dir / e["file"], threads=1, layout=e.get("layout"))
                acc[prec] = evaluate(runner, x, y)
            rows.append({"candidate": rec["id"], "format": fmt, "accuracy_fp32": acc[FP32], "accuracy_int8": acc[INT8],
                         "drop_points": 100 * (acc[FP32] - acc[INT8]), "n": int(len(y)),
                         "agreement": q["agreement"]["top1_agreement"], "int8_bytes": q["bytes"],
                         "fp32_bytes": fp["bytes"]})
            print(f"{rec['id']:<28} {fmt:<6} fp32 {acc[FP32]:.4f} int8 {acc[INT8]:.4f} "
                  f"drop {rows[-1]['drop_points']:+.2f} pp", file=sys.stderr, flush=True)
    worst = max((r["drop_points"] for r in rows), default=None)
    return {"run": str(run), "test_images": int(len(y)), "rows": rows, "rejected": rejected,
            "worst_drop_points": worst, "goal_points": GOAL_POINTS,
            "goal_met": None if worst is None else worst <= GOAL_POINTS,
            "method": "top-1 on the run's whole test split through each artifact's runtime, 1 thread; measured"}


def latency_part(models: list[str], sizes: list[int]) -> list[dict]:
    import size as size_bench
    import torch

    from edgeprune.export import ParityInputs, Source, export_source, get_format
    from edgeprune.export.calibration import Calibration
    from edgeprune.export.pipeline import Int8Settings
    from edgeprune.models import create_model, randomise_constants, resolve_spec
    from edgeprune.precision import FP32, INT8, entry_of

    rows = []
    for name in models:
        for px in sizes:
            torch.manual_seed(0)
            spec = resolve_spec(name, 10, px)
            model = create_model(spec).eval()
            randomise_constants(model, 0)
            with tempfile.TemporaryDirectory(prefix="edgeprune-int8-") as tmp:
                work = Path(tmp)
                weights = work / "m.safetensors"
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
                rng = np.random.default_rng(1)
                calib = Calibration(rng.standard_normal((64, 3, px, px)).astype(np.float32),
                                    {"file": "random-normal(seed=1, n=64)", "split": "random", "n": 64,
                                     "sha256": f"random-{px}"})
                x = np.random.default_rng(0).standard_normal((8, 3, px, px)).astype(np.float32)
                t0 = time.perf_counter()
                rec = export_source(Source("m", weights, weights.name, spec, [1, 3, px, px], lambda: model),
                                    ["onnx", "tflite"], work, ParityInputs(x, "random-normal(seed=0, n=8)"),
                                    [FP32, INT8], Int8Settings(calib, floor=0.0))
                export_s = time.perf_counter() - t0
                for fmt in ("onnx", "tflite"):
                    fp, q = entry_of(rec, fmt, FP32), entry_of(rec, fmt, INT8)
                    lat = size_bench.latency(work / fp["file"], work / q["file"], get_format(fmt).layout)
                    rows.append({"model": name, "input_px": px, "format": fmt, "runtime": lat["runtime"], "threads": 1,
                                 "fp32_ms": lat["latency_ms_dense"], "int8_ms": lat["latency_ms_encoded"],
                                 "int8_over_fp32": lat["latency_ratio"], "fp32_bytes": fp["bytes"],
                                 "int8_bytes": q["bytes"], "export_s_both_formats_and_precisions": export_s,
                                 "rounds": lat["rounds"], "provenance": "measured-on-host"})
                    r = rows[-1]
                    print(f"{name} {px}px {fmt:<6} fp32 {r['fp32_ms']:.2f} ms, int8 {r['int8_ms']:.2f} ms, "
                          f"int8/fp32 {r['int8_over_fp32']:.3f}", file=sys.stderr, flush=True)
    return rows


def _previous(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _made_by(doc: dict) -> dict:
    return {"command": doc.get("command"), "date": doc.get("date")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a run directory exported with int8 (e.g. runs/default)")
    ap.add_argument("--models", default="resnet18")
    ap.add_argument("--sizes", default="32,224")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--out", default=str(HERE / "int8.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    doc = header(sys.argv)
    prev = _previous(Path(args.out))
    if args.run:
        doc["accuracy"] = accuracy_part(Path(args.run))
    elif prev.get("accuracy"):  # a part not re-run keeps its figures, with the command and date that made them
        doc["accuracy"], doc["accuracy_made_by"] = prev["accuracy"], prev.get("accuracy_made_by") or _made_by(prev)
    if not args.no_latency:
        doc["latency"] = latency_part(args.models.split(","), [int(s) for s in args.sizes.split(",")])
    elif prev.get("latency"):
        doc["latency"], doc["latency_made_by"] = prev["latency"], prev.get("latency_made_by") or _made_by(prev)
    acc = doc.get("accuracy")
    if acc:
        verdict = "no int8 rows" if acc["goal_met"] is None else ("met" if acc["goal_met"] else "NOT met")
        print(f"accuracy drop int8 vs fp32: worst {acc['worst_drop_points']} pp over {len(acc['rows'])} artifacts "
              f"(goal <= {GOAL_POINTS:g} pp: {verdict}); rejected: {len(acc['rejected'])}")
    for r in doc.get("latency", []):
        print(f"{r['model']} {r['input_px']}px {r['format']}: int8/fp32 = {r['int8_over_fp32']:.3f} "
              f"({r['fp32_ms']:.2f} -> {r['int8_ms']:.2f} ms, 1 thread, this host)")
    out = save(Path(args.out).stem, doc) if Path(args.out).parent == HERE else None
    if out is None:
        from edgeprune.runio import write_json

        out = write_json(args.out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
