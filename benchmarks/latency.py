"""Latency: dense vs unstructured-pruned artifacts, ONNX Runtime vs LiteRT (XNNPACK), 1 and 2 threads.

Everything is a ratio measured in one run on this machine, each figure the median
of interleaved rounds (dense, pruned, dense, pruned, ...) in fresh worker
processes (edgeprune.bench.worker, the same code the bench stage runs).
Weights are random-init timm models (constant tensors re-randomised so no branch
folds away) with random unstructured masks: latency
does not depend on the weight values, only on shapes and on whether a runtime
exploits zeros. Reads "no speed-up" where the pruned/dense ratio is within 5% or
within the run-to-run spread of the same artifact's round medians, if larger.

    python benchmarks/latency.py                       # resnet18 @32 and @224, 90% sparse
    python benchmarks/latency.py --model mobilenetv3_small_100 --sizes 224
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import header, save

NO_SPEEDUP_BAND = 0.05


def make_checkpoints(model: str, size: int, sparsity: float, out: Path) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    from edgeprune.models import create_model, randomise_constants, resolve_spec
    from edgeprune.prune.layers import discover, prunable

    torch.manual_seed(0)
    net = create_model(resolve_spec(model, 10, size))
    randomise_constants(net)  # timm's zero-init residual norms would let the exporters fold branches away
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    pruned = dict(sd)
    g = torch.Generator().manual_seed(0)
    for layer in prunable(discover(net)):
        w = sd[layer.name]
        pruned[layer.name] = (w * (torch.rand(w.shape, generator=g) >= sparsity)).contiguous()
    dense_ck, pruned_ck = out / f"{model}-{size}-dense.safetensors", out / f"{model}-{size}-pruned.safetensors"
    save_file(sd, str(dense_ck))
    save_file(pruned, str(pruned_ck))
    return dense_ck, pruned_ck


def measure_pair(dense: Path, pruned: Path, threads: int, rounds: int) -> dict:
    from edgeprune.bench.client import run_worker
    from edgeprune.bench.settings import Job

    med = {"dense": [], "pruned": []}
    for _ in range(rounds):
        for name, path in (("dense", dense), ("pruned", pruned)):
            res = run_worker(Job(str(path), threads=threads, min_runs=20, target_seconds=1.5, max_seconds=120.0,
                                     warmup_seconds=0.3), timeout=300)
            if res.get("error"):
                raise RuntimeError(f"{path.name}: {res['error']}")
            med[name].append(res["latency_ms"]["median"])
    d, p = statistics.median(med["dense"]), statistics.median(med["pruned"])
    ratio = p / d
    # run-to-run noise: how far the same artifact's round medians spread
    noise = max(max(v) / min(v) - 1 for v in med.values())
    band = max(NO_SPEEDUP_BAND, noise)
    verdict = "no speed-up" if abs(ratio - 1) <= band else ("faster" if ratio < 1 else "slower")
    return {"dense_ms": d, "pruned_ms": p, "pruned_over_dense": ratio, "rounds": rounds, "round_medians": med,
            "noise": noise, "verdict": f"{verdict} (noise +-{noise:.0%})"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append")
    p.add_argument("--sizes", default="32,224")
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    from edgeprune.export import export_model

    models = args.model or ["resnet18"]
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model in models:
            for size in (int(s) for s in args.sizes.split(",")):
                dense_ck, pruned_ck = make_checkpoints(model, size, args.sparsity, tmp)
                for ck in (dense_ck, pruned_ck):
                    export_model(model, ck, [1, 3, size, size], tmp, formats=["onnx", "tflite"])
                for threads in (int(t) for t in args.threads.split(",")):
                    per_fmt = {}
                    for fmt in ("onnx", "tflite"):
                        r = measure_pair(tmp / f"{dense_ck.stem}.{fmt}", tmp / f"{pruned_ck.stem}.{fmt}", threads, args.rounds)
                        per_fmt[fmt] = r
                        rows.append({"model": model, "input": size, "threads": threads, "format": fmt,
                                     "runtime": "onnxruntime" if fmt == "onnx" else "ai-edge-litert (XNNPACK)",
                                     "sparsity": args.sparsity, **r})
                    rows.append({"model": model, "input": size, "threads": threads, "format": "litert/ort",
                                 "dense_litert_over_ort": per_fmt["tflite"]["dense_ms"] / per_fmt["onnx"]["dense_ms"],
                                 "pruned_litert_over_ort": per_fmt["tflite"]["pruned_ms"] / per_fmt["onnx"]["pruned_ms"]})
    lines = ["| model | input | threads | runtime | dense ms | pruned ms | pruned/dense | reading |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["format"] == "litert/ort":
            lines.append(f"| {r['model']} | {r['input']} | {r['threads']} | LiteRT / ORT | "
                         f"{r['dense_litert_over_ort']:.2f}x | {r['pruned_litert_over_ort']:.2f}x | | dense / pruned ratio of runtimes |")
        else:
            lines.append(f"| {r['model']} | {r['input']} | {r['threads']} | {r['runtime']} | {r['dense_ms']:.2f} | "
                         f"{r['pruned_ms']:.2f} | {r['pruned_over_dense']:.2f} | {r['verdict']} |")
    md = "\n".join(lines)
    doc = {**header(sys.argv), "seconds": round(time.perf_counter() - t0, 1), "no_speedup_band": NO_SPEEDUP_BAND,
           "note": "unstructured sparsity: both runtimes densify pruned weights at load (ORT constant-folds the decode "
                   "subgraph, LiteRT's DENSIFY/XNNPACK unpack static sparse weights), so dense kernels run; "
                   "only channel pruning or XNNPACK's sparse path (fp32 1x1 convs, >= 2/3 zeros, specific stem/head) could be faster",
           "rows": rows, "markdown": md}
    print(md)
    print(f"\nwrote {save('latency', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
