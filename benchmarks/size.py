"""Artifact size vs dense vs the information floor, encoded-vs-dense latency and peak RAM.

For each model and sparsity: random unstructured masks on every conv/linear
weight (rank >= 2) of a random-init timm model at 32x32 (10 classes), exported
through edgeprune's own export pipeline (parity-checked) to ONNX and TFLite.
Reports dense fp32 bytes, artifact bytes, gzip bytes, the floor, the ratio,
ONNX Runtime / LiteRT latency of the encoded artifact against the dense
artifact of the same model (measured interleaved in one process, 1 thread),
and the peak RAM and load time of both as ``edgeprune bench`` measures them
(its worker, a fresh process per artifact; int8 rows against the dense int8 artifact).
int8 rows (``--precisions``) are the export stage's int8 artifacts, each against
its own floor (nnz(int8) x 1 B + positions' entropy), calibrated on 64
random-normal images; the agreement floor is off (0) because a random-init
model's predictions mean nothing: this benchmark measures bytes.

BatchNorm statistics are randomised before export: timm zero-initialises the
last BN of each residual block, which after BN folding would turn whole convs
into zeros and flatter the ratios.

    python benchmarks/size.py                       # resnet18, vgg11 at 50/70/90/95 %
    python benchmarks/size.py --models resnet18 --sparsities 0.9 --precisions int8

Writes benchmarks/size.json (next to RESULTS.md).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NOTE = ("random-init timm models at 32x32, 10 classes, BatchNorm statistics randomised; random unstructured masks "
        "on every rank>=2 weight; artifacts from edgeprune's export pipeline (parity-checked on 16 random inputs); "
        "latency: 1 thread, encoded vs dense artifact of the same model, median over 15 ABBA-interleaved rounds of the "
        "paired block-time ratio; load_ms = session/interpreter creation (includes ORT's one-time decode); peak RAM: "
        "edgeprune bench's worker, a fresh process per artifact, 1 thread, VmHWM after load and runs minus after "
        "importing the runtime, MALLOC_MMAP_THRESHOLD_=131072, median of 2 processes (its load_ms is that process's)")


def make_model(name: str, seed: int = 0):
    import torch

    from edgeprune.models import create_model, randomise_constants, resolve_spec

    torch.manual_seed(seed)
    spec = resolve_spec(name, 10, 32)
    model = create_model(spec).eval()
    randomise_constants(model, seed)
    return spec, model


def masked_state(model, sparsity: float, seed: int = 0) -> dict:
    import torch

    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if sparsity > 0 and k.endswith("weight") and v.dim() >= 2:
            v = v * (torch.rand(v.shape, generator=gen) >= sparsity)
        sd[k] = v.contiguous()
    return sd


def int8_settings():
    from edgeprune.export import Int8Settings
    from edgeprune.export.calibration import Calibration

    x = np.random.default_rng(1).standard_normal((64, 3, 32, 32)).astype(np.float32)
    return Int8Settings(Calibration(x, {"file": "random-normal(seed=1, n=64)", "split": "random", "n": 64,
                                        "sha256": "random-normal-seed1-64"}), floor=0.0)


def export(spec, model, state: dict, sid: str, work: Path, formats: list[str], precisions: list[str]) -> dict:
    """Run edgeprune's export pipeline on ``state``; returns the ``<id>.json`` record (failed entries hold
    ``error``: they become error rows, the others are measured)."""
    from safetensors.torch import save_file

    from edgeprune.export import ParityInputs, Source, export_source
    from edgeprune.precision import record_entries

    weights = work / f"{sid}.safetensors"
    save_file(state, str(weights))

    def load():
        model.load_state_dict(state)
        return model.eval()

    x = np.random.default_rng(0).standard_normal((16, 3, 32, 32)).astype(np.float32)
    source = Source(sid, weights, weights.name, spec, [1, 3, 32, 32], load)
    record = export_source(source, formats, work, ParityInputs(x, "random-normal(seed=0, n=16)"), precisions,
                           int8_settings() if "int8" in precisions else None)
    for (f, p), e in record_entries(record).items():
        if "error" in e:
            print(f"export of {sid} {f}/{p} failed: {e['error']}", file=sys.stderr, flush=True)
    return record


def timed_open(path: Path, layout: str):
    from edgeprune.export.prepare import quiet
    from edgeprune.runtimes import open_runner

    t0 = time.perf_counter()
    with quiet():
        runner = open_runner(path, threads=1, layout=layout)
    return runner, (time.perf_counter() - t0) * 1e3


def latency(dense_path: Path, enc_path: Path, layout: str, rounds: int = 15, block_s: float = 0.2) -> dict:
    """Interleaved timing of two artifacts in one process (ABBA order per round).

    ``latency_ratio`` is the median over rounds of encoded/dense block times:
    pairing adjacent blocks cancels load drift from other processes on the host.
    """
    dense, load_dense = timed_open(dense_path, layout)
    enc, load_enc = timed_open(enc_path, layout)
    x = dense.example_input()
    for r in (dense, enc):
        r.invoke_raw(x)
    t0 = time.perf_counter()
    dense.invoke_raw(x)
    iters = max(3, int(block_s / max(time.perf_counter() - t0, 1e-5)))
    times: dict[str, list[float]] = {"dense": [], "encoded": []}
    ratios = []
    for i in range(rounds):
        order = [("dense", dense), ("encoded", enc)][:: 1 if i % 2 == 0 else -1]
        block = {}
        for key, runner in order:
            t0 = time.perf_counter()
            for _ in range(iters):
                runner.invoke_raw(x)
            block[key] = (time.perf_counter() - t0) / iters * 1e3
            times[key].append(block[key])
        ratios.append(block["encoded"] / block["dense"])
    return {"runtime": dense.runtime, "latency_ms_dense": statistics.median(times["dense"]),
            "latency_ms_encoded": statistics.median(times["encoded"]), "latency_ratio": statistics.median(ratios),
            "latency_ratio_of_min": min(times["encoded"]) / min(times["dense"]),
            "load_ms_dense": load_dense, "load_ms_encoded": load_enc, "iters_per_block": iters, "rounds": rounds}


def peak_ram(path: Path, layout: str, repeats: int = 2) -> dict:
    """Peak RAM (MB over the imported runtime) and load time of ``path``, as ``edgeprune bench`` measures them."""
    from edgeprune.bench.client import run_worker
    from edgeprune.bench.settings import Job

    runs = [run_worker(Job(path=str(path), threads=1, layout=layout, min_runs=5, target_seconds=0.1, max_seconds=120.0,
                           warmup_runs=1, warmup_seconds=0.0), timeout=600.0) for _ in range(repeats)]
    bad = [r["error"] for r in runs if r.get("error")]
    if bad:
        raise SystemExit(f"peak RAM of {path.name}: {bad[0]}")
    return {"peak_ram_mb": statistics.median(r["peak_ram_mb"] for r in runs),
            "peak_ram_mb_runs": [r["peak_ram_mb"] for r in runs], "load_ms": statistics.median(r["load_ms"] for r in runs)}


def _ok(rec: dict, f: str, prec: str) -> bool:
    from edgeprune.precision import entry_of

    e = entry_of(rec, f, prec)
    return bool(e) and "error" not in e


def run(models: list[str], sparsities: list[float], formats: list[str], precisions: list[str],
        save=lambda doc: None) -> dict:
    from edgeprune.export import get_format
    from edgeprune.precision import entry_of

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeprune-size-") as tmp:
        for name in models:
            work = Path(tmp) / name
            work.mkdir(parents=True)
            spec, model = make_model(name)
            print(f"[{name}] dense export ...", file=sys.stderr, flush=True)
            dense_rec = export(spec, model, masked_state(model, 0.0), "dense", work, formats, precisions)
            dense_ram = {(f, p): peak_ram(work / entry_of(dense_rec, f, p)["file"], get_format(f).layout)
                         for f in formats for p in precisions if _ok(dense_rec, f, p)}
            for s in sparsities:
                sid = f"s{int(round(s * 100))}"
                print(f"[{name}] {sid} export ...", file=sys.stderr, flush=True)
                rec = export(spec, model, masked_state(model, s), sid, work, formats, precisions)
                for f in formats:
                    for prec in precisions:
                        if not (_ok(rec, f, prec) and _ok(dense_rec, f, prec)):
                            bad = entry_of(rec, f, prec) if not _ok(rec, f, prec) else entry_of(dense_rec, f, prec)
                            rows.append({"model": name, "sparsity": s, "format": f, "precision": prec,
                                         "error": (bad or {}).get("error", "not exported")})
                            print(f"{name} {s:.2f} {f} {prec}: {rows[-1]['error']}", file=sys.stderr, flush=True)
                            continue
                        rows.append(_row(name, s, f, prec, rec, dense_rec, work, get_format(f).layout,
                                         dense_ram[f, prec]))
                        print(_fmt_row(rows[-1]), file=sys.stderr, flush=True)
                for f in formats:  # keep the temp dir small for vgg11
                    for prec in precisions:
                        if _ok(rec, f, prec):
                            (work / entry_of(rec, f, prec)["file"]).unlink()
            del model
            save(_doc(rows, precisions, dense_rec))  # a later model's crash keeps this one's rows
    return _doc(rows, precisions, dense_rec)


def _doc(rows: list[dict], precisions: list[str], dense_rec: dict) -> dict:
    return {"benchmark": "size", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/size.py " + " ".join(sys.argv[1:]), "note": NOTE,
            "host": {"machine": platform.machine(), "cpu": _cpu_name(), "cores": os.cpu_count(),
                     "python": platform.python_version()},
            "precisions": precisions,
            "versions": {k: v for e in dense_rec["formats"].values() if "error" not in e
                         for k, v in {**e["converter"], e["parity"]["runtime"]: e["parity"]["version"]}.items()},
            "rows": rows}


def _row(name: str, s: float, f: str, prec: str, rec: dict, dense_rec: dict, work: Path, layout: str,
         dram: dict) -> dict:
    """One size row: the artifact against its own floor (int8: nnz(int8) x 1 B + positions' entropy), and its
    peak RAM against the dense artifact of the same precision (``dram``)."""
    from edgeprune.precision import entry_of

    entry, dense_entry = entry_of(rec, f, prec), entry_of(dense_rec, f, prec)
    floor = rec["floor_bytes"] if prec == "fp32" else rec["int8"]["floor_bytes"]
    lat = latency(work / dense_entry["file"], work / entry["file"], layout)
    ram = peak_ram(work / entry["file"], layout)
    fidelity = ({"parity_max_abs_diff": entry["parity"]["max_abs_diff"]} if prec == "fp32" else
                {"int8_max_abs_logit_error": entry["agreement"]["max_abs_logit_error"],
                 "int8_top1_agreement_random_inputs": entry["agreement"]["top1_agreement"]})
    return {"model": name, "sparsity": s, "measured_sparsity": rec["sparsity"], "format": f, "precision": prec,
            "dense_bytes": rec["dense_bytes"], "dense_artifact_bytes": dense_entry["bytes"],
            "artifact_bytes": entry["bytes"], "gzip_bytes": entry["gzip_bytes"], "floor_bytes": floor,
            "ratio_to_floor": entry["bytes"] / floor, "gzip_ratio_to_floor": entry["gzip_bytes"] / floor,
            "encoding": entry["encoding"], **fidelity, **lat,
            "peak_ram_mb_dense": dram["peak_ram_mb"], "peak_ram_mb_encoded": ram["peak_ram_mb"],
            "peak_ram_ratio": ram["peak_ram_mb"] / dram["peak_ram_mb"],
            "peak_ram_mb_runs": {"dense": dram["peak_ram_mb_runs"], "encoded": ram["peak_ram_mb_runs"]},
            "worker_load_ms_dense": dram["load_ms"], "worker_load_ms_encoded": ram["load_ms"],
            "export_ram": {k: entry["ram"][k] for k in ("ratio", "limit", "why", "attempts")}
            if entry.get("ram") else None}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


HEADER = (f"{'model':<9} {'sp':>4} {'fmt':<6} {'prec':<4} {'runtime':<14} {'dense MB':>8} {'artifact MB':>11} "
          f"{'gzip MB':>8} {'floor MB':>8} {'ratio':>6} {'lat ms dense/enc':>17} {'enc/dense':>9} "
          f"{'load ms dense/enc':>17} {'RAM MB dense/enc':>17} {'RAM x':>6}")


def _fmt_row(r: dict) -> str:
    lat = f"{r['latency_ms_dense']:.2f}/{r['latency_ms_encoded']:.2f}"
    load = f"{r['worker_load_ms_dense']:.0f}/{r['worker_load_ms_encoded']:.0f}"
    ram = f"{r['peak_ram_mb_dense']:.1f}/{r['peak_ram_mb_encoded']:.1f}"
    return (f"{r['model']:<9} {r['sparsity']:>4.2f} {r['format']:<6} {r.get('precision', 'fp32'):<4} "
            f"{r['runtime']:<14} {r['dense_bytes'] / 1e6:>8.2f} "
            f"{r['artifact_bytes'] / 1e6:>11.2f} {r['gzip_bytes'] / 1e6:>8.2f} {r['floor_bytes'] / 1e6:>8.2f} "
            f"{r['ratio_to_floor']:>6.3f} {lat:>17} {r['latency_ratio']:>9.3f} {load:>17} {ram:>17} "
            f"{r['peak_ram_ratio']:>6.3f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,vgg11")
    ap.add_argument("--sparsities", default="0.5,0.7,0.9,0.95")
    ap.add_argument("--formats", default="onnx,tflite")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--out", default=str(HERE / "size.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from edgeprune.runio import write_json

    out = Path(args.out)
    doc = run(args.models.split(","), [float(s) for s in args.sparsities.split(",")], args.formats.split(","),
              args.precisions.split(","), save=lambda d: write_json(out, d))
    print(NOTE)
    print(HEADER)
    for r in doc["rows"]:
        print(_fmt_row(r) if "error" not in r else f"{r['model']:<9} {r['sparsity']:>4.2f} {r['format']:<6} "
              f"{r['precision']:<4} error: {r['error']}")
    write_json(out, doc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
