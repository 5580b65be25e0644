"""Phase 3 scale-out: wall time of the same candidates with the local executor and with 1 and 2
Ray workers on this machine, plus a projection of a 30-candidate resnet50 run on N GPUs.

Measured here (every figure in scale.json says which):
  - Phase 3 wall time (first job submitted -> last candidate written) of one tiny run
    (test_resnet on digits) with the local executor and with Ray at num_cpus=1 and 2
    (one torch thread per task), Ray's start-up time apart; the load average around each;
  - for resnet50 (32x32 digits): one candidate's fine-tuning cost on 2 batches on this CPU,
    through the same pure function the executors call (scaled to a digits epoch: projected),
    and the size of its weights plus the time to return them from a Ray task and write them
    (per-candidate overhead).
Projected (not measured: no GPU here): the resnet50 run on N GPUs, from a per-candidate GPU
time G that the user measures with one candidate (`--device cuda` prints it), as
waves = ceil(unique candidates / N) x (G + overhead) + Ray start-up.

    python benchmarks/scale.py               # ~4 min on 2 shared cores
    python benchmarks/scale.py --candidates 6 --epochs 2 --skip-resnet50
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import header, save

# One torch thread everywhere, as a Ray CPU task uses (executor.TASK_CPUS): on these 2 shared cores,
# 2 threads per process ran ~10x slower than 1 under load (threads waiting for a busy core).
THREADS = 1
STRATEGIES = ["conservative", "balanced", "aggressive", "interp-0.3", "interp-0.7", "interp-0.9"]


class Timed:
    """Wraps an executor: Phase 3 wall time and time to the first finished candidate."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.seconds = self.first = None

    def run(self, jobs, shared, device, status):
        t0 = time.perf_counter()
        for result in self.inner.run(jobs, shared, device, status):
            self.first = self.first or time.perf_counter() - t0
            yield result  # the driver writes it before asking for the next
        self.seconds = time.perf_counter() - t0


def _phase3(cfg, out: Path, label: str, executor, threads: int, base: Path | None = None) -> dict:
    """Phase 3 of ``cfg`` into ``out`` (a copy of ``base`` without candidates, or from scratch)."""
    import torch

    from edgeprune.prune import run_prune

    if base is not None:
        shutil.copytree(base, out)
        shutil.rmtree(out / "candidates")
    torch.set_num_threads(threads)
    load0 = os.getloadavg()
    timed = Timed(executor)
    res = run_prune(cfg, out, executor=timed)
    return {"executor": label, "candidates": len(res.candidates), "phase3_seconds": round(timed.seconds, 1),
            "first_candidate_seconds": round(timed.first, 1),
            "fine_tune_seconds_sum": round(sum(c["seconds"] for c in res.candidates), 1),
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
            "sha256": {c["id"]: c["sha256"] for c in res.candidates}}


def measure_executors(n_cand: int, epochs: int, workdir: Path) -> tuple[list[dict], dict]:
    import ray

    from edgeprune.prune import PruneConfig
    from edgeprune.prune.executor import LocalExecutor, RayExecutor

    strategies = STRATEGIES[:n_cand]
    cfg = PruneConfig(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=epochs, calib_size=64,
                      strategies=strategies)
    base = workdir / "base"  # dense + Phase 1 here, then Phase 3 with the local executor (timed)
    rows = [_phase3(cfg, base, "local, 1 thread", LocalExecutor(), THREADS)]
    for cpus in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
        start = round(time.perf_counter() - t0, 1)
        try:
            rows.append(_phase3(cfg, workdir / f"ray{cpus}", f"ray, {cpus} worker(s) x 1 thread", RayExecutor(), THREADS,
                                base))
        finally:
            ray.shutdown()
        rows[-1]["ray_start_seconds"] = start
    same = len({tuple(sorted(r["sha256"].items())) for r in rows[1:]}) == 1
    return rows, {"ray_workers_same_files": same, "strategies": strategies, "epochs": epochs}


def measure_resnet50(workdir: Path, steps: int = 1) -> dict:
    """One resnet50 candidate through phase3_candidate (the function Ray tasks run), on ``steps``
    batches of the training split (one epoch of ``steps`` steps), then scaled to a full epoch."""
    import ray
    import torch

    from edgeprune.data import load_dataset
    from edgeprune.models import create_model, resolve_spec
    from edgeprune.prune import PruneConfig, calibration, prunable_layers, scores
    from edgeprune.prune.candidate import cpu_state, phase3_candidate, write_candidate
    from edgeprune.prune.executor import CandidateJob, Shared
    from edgeprune.runio import RunDir

    torch.set_num_threads(THREADS)
    cfg = PruneConfig(model="resnet50", data="digits", finetune_epochs=1, patience=1, calib_size=64)
    full = load_dataset("digits")
    n = steps * cfg.batch_size
    data = replace(full, x_train=full.x_train[:n], y_train=full.y_train[:n], x_val=full.x_val[:128],
                   y_val=full.y_val[:128], x_test=full.x_test[:128], y_test=full.y_test[:128])
    spec = resolve_spec("resnet50", data.num_classes, 32)
    torch.manual_seed(0)
    model = create_model(spec).eval()
    from safetensors.torch import save

    dense = save(cpu_state(model))
    pl = prunable_layers(model)
    t0 = time.perf_counter()
    product = scores("product", model, calibration(data, cfg), pl)
    score_s = time.perf_counter() - t0
    plan = {l.name: 0.8 for l in pl}
    job = CandidateJob("product-uniform-80", "product", "uniform", plan, [], "bench")
    t0 = time.perf_counter()
    cand, weights = phase3_candidate(job, product, Shared(spec, dense, data, pl, cfg), "cpu", progress=False)
    cand_s = time.perf_counter() - t0
    ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING")
    try:  # the path a candidate takes: a task returns the bytes, the driver fetches them (worker warmed up first)
        echo = ray.remote(lambda b: b)
        ray.get(echo.remote(b""))
        ref = ray.put(weights)
        trips = []
        for _ in range(3):  # min of 3: on this shared VM Ray's memory monitor once killed and retried the task
            t0 = time.perf_counter()
            back = ray.get(echo.remote(ref))
            trips.append(round(time.perf_counter() - t0, 2))
        transfer_s = min(trips)
    finally:
        ray.shutdown()
    t0 = time.perf_counter()
    write_candidate(RunDir(workdir / "r50"), cand, back)
    write_s = time.perf_counter() - t0
    full_steps = len(full.y_train) // cfg.batch_size
    return {"model": "resnet50 (timm, 32x32 input, 10 classes)", "threads": THREADS, "steps_measured": steps,
            "candidate_seconds": round(cand_s, 1), "fine_tune_seconds": cand["seconds"],
            "digits_steps_per_epoch": full_steps,
            "projected_epoch_seconds": round(cand["seconds"] / steps * full_steps, 1),  # validation counted per step: an upper bound
            "product_scores_seconds": round(score_s, 1),
            "weights_mb": round(len(weights) / 1e6, 1), "object_store_roundtrip_seconds": round(transfer_s, 2),
            "object_store_roundtrips": trips,
            "write_seconds": round(write_s, 2)}


def project(r50: dict, startup: float, candidates: int = 27, gpus=(1, 2, 4, 8, 16, 27), epochs: int = 12) -> dict:
    """Waves of candidates on N GPUs; G (GPU seconds per candidate) is the user's to measure."""
    overhead = r50["object_store_roundtrip_seconds"] + r50["write_seconds"]
    cpu_candidate = r50["projected_epoch_seconds"] * epochs
    rows = [{"gpus": n, "waves": math.ceil(candidates / n),
             "wall": f"{math.ceil(candidates / n)} x (G + {overhead:.1f} s) + {startup:.0f} s"} for n in gpus]
    return {"unique_candidates": candidates, "per_candidate_overhead_seconds": round(overhead, 2),
            "cpu_candidate_seconds": round(cpu_candidate), "cpu_epochs": epochs,
            "cpu_serial_hours": round(candidates * (cpu_candidate + overhead) / 3600, 1),
            "ray_start_seconds": startup, "rows": rows,
            "note": ("30 = 10 strategies x 3 signals; balanced = interp-0.5, so 27 are computed. Dense training, "
                     "Phase 1 and the signals run once on the driver before Phase 3 and are not in this figure. "
                     "G is one candidate's fine-tuning on one GPU: not measured here (no GPU); measure it with "
                     "'edgeprune prune --device cuda --strategies conservative' (candidate.json 'seconds'). "
                     "Overhead (object-store round trip + write of the weights) and Ray start-up are measured here.")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=int, default=4, help="strategies of the tiny run (<= 6)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--skip-resnet50", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    workdir = Path(tempfile.mkdtemp(prefix="edgeprune-scale-"))
    t0 = time.perf_counter()
    try:
        rows, info = measure_executors(args.candidates, args.epochs, workdir)
        doc = {**header(sys.argv), "cores": os.cpu_count(), "tiny_run": info, "rows": rows}
        if not args.skip_resnet50:
            doc["resnet50"] = measure_resnet50(workdir)
            doc["projection"] = project(doc["resnet50"], rows[-1]["ray_start_seconds"])
        doc["seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(doc))
    save("scale", doc)
    return 0


def render(d: dict) -> str:
    t = d["tiny_run"]
    out = [f"Phase 3 on {d['cores']} cores, test_resnet on digits, {len(t['strategies'])} strategies, "
           f"<= {t['epochs']} fine-tuning epochs (measured; load average = 1/5/15-minute run-queue length, "
           f"this machine is shared):", "",
           "| executor | candidates | Phase 3 s | first candidate s | sum of fine-tune s | Ray start s | load before -> after |",
           "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        out.append(f"| {r['executor']} | {r['candidates']} | {r['phase3_seconds']:.1f} | {r['first_candidate_seconds']:.1f} | "
                   f"{r['fine_tune_seconds_sum']:.1f} | {r.get('ray_start_seconds', '-')} | "
                   f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
    out.append(f"\nRay with 1 and 2 workers wrote byte-identical candidates: {t['ray_workers_same_files']}.")
    if "resnet50" in d:
        r = d["resnet50"]
        pr = d["projection"]
        out += ["", f"resnet50, one candidate on this CPU ({r['threads']} threads): {r['steps_measured']} steps of 128 "
                f"plus validation took {r['fine_tune_seconds']:.0f} s of fine-tuning, {r['candidate_seconds']:.0f} s in all "
                f"(measured), so a digits epoch ({r['digits_steps_per_epoch']} steps) takes at most about "
                f"{r['projected_epoch_seconds']:.0f} s (projected); product scores {r['product_scores_seconds']:.0f} s; "
                f"weights {r['weights_mb']:.0f} MB, task-to-driver object-store round trip "
                f"{r['object_store_roundtrip_seconds']:.2f} s (min of {r['object_store_roundtrips']}), write {r['write_seconds']:.2f} s (measured). "
                f"At {pr['cpu_epochs']} epochs a candidate is ~{pr['cpu_candidate_seconds'] / 60:.0f} min here and the "
                f"{pr['unique_candidates']} candidates ~{pr['cpu_serial_hours']} h one after another (projected).", "",
                "Projection, 30-candidate resnet50 run on N GPUs (projected; G measured by the user):", "",
                "| GPUs | waves | Phase 3 wall time |", "|---|---|---|"]
        out += [f"| {row['gpus']} | {row['waves']} | {row['wall']} |" for row in d["projection"]["rows"]]
        out += ["", d["projection"]["note"]]
    out.append(f"\nWhole script: {d['seconds']:.0f} s.")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
