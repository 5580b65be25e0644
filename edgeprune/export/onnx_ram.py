"""Sparse ONNX encodings that keep ONNX Runtime's peak RAM within a limit of the dense artifact's.

ORT constant-folds the decode subgraphs at session creation and keeps every
tensor a folded node produced until the folding pass ends (measured: see
:mod:`.sparse_onnx`), so the smallest encodings can peak at 1.2-2.6x the dense
artifact (resnet18, 90-60% sparsity). No session option changes that (arena,
env/device allocators, prepacking, graph-optimisation loop level: measured).
The exporter therefore

1. measures the peak RAM of the unencoded model (what the dense artifact costs;
   weights do not change it, so it is cached per graph structure),
2. picks per tensor the encoding that minimises file bytes + lambda x held
   bytes, lambda the smallest that keeps the held bytes under a budget
   (no budget first: the smallest file),
3. writes it and measures its peak exactly as ``edgeprune bench`` does (its
   worker in a fresh process, VmHWM, ``MALLOC_MMAP_THRESHOLD_`` fixed); over
   ``limit`` x dense, a line through the measured (held, peak) points gives the
   next budget, aimed at ``limit - MARGIN``; once a plan fits, one between it
   and the leanest plan over the limit is tried. The smallest file that fits
   wins; if none did within :data:`ATTEMPTS` tries, only encodings that hold
   nothing are kept. The next artifact of the same graph (a run's candidates)
   starts from the previous one's points.

The record says what was measured and which tensors got a larger encoding than
their smallest, and why.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .onnx_plan import Option, apply, held_bytes, limited, plan, tensor_options, zero_tensor_bytes

#: peak RAM of an encoded artifact / the dense artifact's, at most (issue 11: 1.1)
RAM_LIMIT = 1.1
#: aim this far under the limit when choosing a budget
MARGIN = 0.02
#: accept a try only this far under the limit: the bench measures again, and repeat benches of the
#: same artifacts agreed within 0.2% (benchmarks/repeat.py)
NOISE = 0.01
#: MB of peak RAM per MB held, until two tries give a measured slope
PEAK_PER_HELD = 1.1
ATTEMPTS = 4
MB = 1e6
METHOD = ("measured-on-host at export: edgeprune bench's worker (fresh process, 1 thread, VmHWM after load "
          "and 2 runs minus after importing the runtime, MALLOC_MMAP_THRESHOLD_=131072); the unencoded graph "
          "stands for the dense artifact (same tensors)")


def next_budget(points: list[tuple[float, float]], target_mb: float, limit_mb: float) -> int | None:
    """Held bytes expected to peak at ``target_mb``, from measured (held MB, peak MB) points.

    Between the fullest plan under ``limit_mb`` and the leanest one over it:
    linear interpolation. Only points over: a least-squares line through them
    (peak RAM rose by 0.9-1.1 MB per MB held on resnet18 and deit_tiny), or the
    slope :data:`PEAK_PER_HELD` for one point, kept below the leanest one.
    None without points over the limit (the smallest encodings may fit).
    """
    over = sorted(p for p in points if p[1] > limit_mb)
    if not over:
        return None
    h_o, p_o = over[0]
    under = [p for p in points if p[1] <= limit_mb and p[0] < h_o]
    if under:
        h_u, p_u = max(under)
        if p_o > p_u:
            return int((h_u + (target_mb - p_u) * (h_o - h_u) / (p_o - p_u)) * MB)
    slope = PEAK_PER_HELD
    if len(over) > 1 and np.ptp([h for h, _ in over]) > 0:
        fit = float(np.polyfit([h for h, _ in over], [p for _, p in over], 1)[0])
        slope = fit if fit > 0.3 else slope
    return max(0, int(min(h_o - (p_o - target_mb) / slope, 0.98 * h_o) * MB))


def measure_peak(data: bytes) -> dict:
    """``{"peak_mb", "load_ms"}`` of an ONNX model as the bench worker measures it (a fresh process)."""
    from ..bench.client import run_worker
    from ..bench.settings import Job

    with tempfile.TemporaryDirectory(prefix="edgeprune-ram-") as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(data)
        res = run_worker(Job(path=str(path), threads=1, min_runs=2, target_seconds=0.0, max_seconds=60.0,
                             warmup_runs=0, warmup_seconds=0.0), timeout=600.0)
    if res.get("error"):
        from .failures import ExportFailed

        raise ExportFailed(f"onnx: measuring ONNX Runtime's peak RAM at load failed ({res['error']}).",
                           "Free memory and re-run: this measurement decides which sparse encodings fit the RAM limit.")
    return {"peak_mb": res["peak_ram_mb"], "load_ms": res["load_ms"]}


def structure_key(model) -> str:
    """What the unencoded peak depends on: the nodes and the initializers' names, types and shapes."""
    h = hashlib.sha256()
    for n in model.graph.node:
        h.update(n.SerializeToString())
    for i in model.graph.initializer:
        h.update(f"{i.name}:{i.data_type}:{list(i.dims)};".encode())
    for io in list(model.graph.input) + list(model.graph.output):
        h.update(io.SerializeToString())
    return h.hexdigest()


_DENSE_PEAKS: dict[str, dict] = {}  # structure key -> the unencoded graph's measurement
_POINTS: dict[str, list[tuple[float, float]]] = {}  # structure key -> (held MB, peak MB) of the last artifact's tries


@dataclass
class _Try:
    chosen: dict[str, Option]
    held: int
    nbytes: int
    model: object  # the encoded ModelProto
    counts: dict[str, int]
    got: dict  # measure()'s result


def encode_within_ram(model, limit: float | None = RAM_LIMIT,
                      measure: Callable[[bytes], dict] = measure_peak) -> tuple[dict[str, int], dict | None]:
    """Encode ``model`` in place under the RAM limit; returns (encoding counts, ram record or None).

    ``limit=None`` takes the smallest encodings without measuring.
    """
    from onnx import ModelProto

    tensors = tensor_options(model)
    smallest = plan(tensors, None)
    if limit is None or all(o.enc is None for o in smallest.values()):
        return apply(model, {k: (o.name, o.enc) for k, o in smallest.items()}), None
    key = structure_key(model)
    if key not in _DENSE_PEAKS:
        _DENSE_PEAKS[key] = measure(model.SerializeToString())
    dense = _DENSE_PEAKS[key]["peak_mb"]
    zero_bytes = zero_tensor_bytes(tensors)
    limit_mb, target = (limit - NOISE) * dense, (limit - MARGIN) * dense
    tries: list[_Try] = []

    def attempt(budget: int | None) -> _Try:
        chosen = plan(tensors, budget)
        held = held_bytes(chosen, zero_bytes)
        for t in tries:
            if t.held == held:  # the same plan: measured already
                return t
        trial = ModelProto()
        trial.CopyFrom(model)
        counts = apply(trial, {k: (o.name, o.enc) for k, o in chosen.items()})
        tries.append(_Try(chosen, held, sum(o.nbytes for o in chosen.values()), trial, counts,
                          measure(trial.SerializeToString())))
        return tries[-1]

    def best() -> _Try | None:
        ok = [t for t in tries if t.got["peak_mb"] <= limit_mb]
        return min(ok, key=lambda t: t.nbytes) if ok else None

    # candidates of one run share the structure: the first try starts from what the previous one measured
    budget = next_budget(_POINTS.get(key, []), target, limit_mb)
    start = None if budget is None else "the previous artifact of this graph peaked over the limit along the same line"
    own, skipped = sum(o.held for o in plan(tensors, budget).values()) / MB, []
    if own > limit_mb:  # all of it is resident at once, on top of the decoded weights: over without measuring
        weights = sum(min(o.nbytes for o in opts if o.enc is None) for opts in tensors.values()) / MB
        skipped = [{"held_bytes": int(own * MB), "peak_mb": None, "skipped": "its held bytes alone exceed the limit"}]
        budget = int(max(0.0, target - weights) * MB)
        start = start or f"the smallest encodings would hold {own:.0f} MB at once, over the {limit_mb:.0f} MB limit"
    attempt(budget)
    for _ in range(ATTEMPTS - 1):
        points = [(t.held / MB, t.got["peak_mb"]) for t in tries]
        b, budget = best(), next_budget(points, target, limit_mb)
        if b is not None and (b.got["peak_mb"] >= target - 2 * MARGIN * dense or budget is None or budget <= b.held):
            break  # close enough to the target, the smallest encodings fit, or no room between fit and over
        attempt(budget)
    _POINTS[key] = [(t.held / MB, t.got["peak_mb"]) for t in tries]
    final = best() or attempt(0)  # holding nothing peaks as the dense graph does, within noise
    model.CopyFrom(final.model)
    peak = final.got["peak_mb"]
    ratio = peak / dense if dense > 0 else None
    stored_larger = limited(final.chosen, tensors)
    start = start or f"the smallest encodings peaked at {tries[0].got['peak_mb'] / dense:.2f}x the dense graph"
    why = (f"{len(stored_larger)} tensor(s) stored larger than their smallest encoding, to hold fewer bytes while ONNX "
           f"Runtime folds the decode at load: {start}" if stored_larger else "the smallest encodings are within the limit")
    return final.counts, {
        "peak_mb": round(peak, 2), "load_ms": round(final.got["load_ms"], 1), "dense_peak_mb": round(dense, 2),
        "dense_load_ms": round(_DENSE_PEAKS[key]["load_ms"], 1), "ratio": round(ratio, 4) if ratio else None,
        "limit": limit, "within_limit": bool(ratio is not None and ratio <= limit), "held_bytes": final.held,
        "attempts": skipped + [{"held_bytes": t.held, "bytes": t.nbytes, "peak_mb": round(t.got["peak_mb"], 2)}
                               for t in tries],
        "why": why, "limited": stored_larger, "method": METHOD}
