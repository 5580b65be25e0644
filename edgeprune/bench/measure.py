"""Measure one artifact in this process. This is the code that runs on the device.

:mod:`edgeprune.bench.worker` calls :func:`measure` in a fresh interpreter per
artifact. It needs numpy and the artifact's runtime only (through
:mod:`edgeprune.runtimes`): no torch, no timm.

The order of the steps is what makes the RAM figure mean something:
import the runtime -> read the peak RSS (baseline) -> load the artifact, warm
up, time it -> read the peak RSS again. The difference is the memory the
model costs on top of the runtime itself. Accuracy runs after that, so the
eval set never counts as model memory, and the paired timing with a partner
model (off the device) last of all.
"""
from __future__ import annotations

import resource
import sys
import time
from typing import Any, Callable

import numpy as np

from ..errors import EdgepruneError
from ..runtimes import Runner, evaluate, import_runtime, open_runner
from .settings import Job

MB = 1e6  # bench reports MB = 10^6 bytes, like the select stage


# ---------------------------------------------------------------- memory
def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """The kernel's peak resident set (VmHWM); ru_maxrss where /proc is absent."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else peak_rss_bytes()


# ---------------------------------------------------------------- timing
def time_calls(fn: Callable[[], Any], min_runs: int, target_seconds: float, max_seconds: float,
               max_runs: int) -> list[float]:
    """Call ``fn`` at least ``min_runs`` times and until ``target_seconds`` have passed.

    ``max_seconds`` is the hard time box: a model too slow for ``min_runs``
    within it stops early (the caller sees ``runs`` < ``min_runs``).
    """
    times: list[float] = []
    clock = time.perf_counter
    start = clock()
    while len(times) < max_runs:
        elapsed = clock() - start
        if elapsed >= max_seconds or (len(times) >= min_runs and elapsed >= target_seconds):
            break
        t = clock()
        fn()
        times.append((clock() - t) * 1e3)
    return times


def time_paired(fn_a: Callable[[], Any], fn_b: Callable[[], Any], blocks: int, block_seconds: float,
                max_seconds: float) -> dict:
    """Alternate timed blocks of ``fn_a`` and ``fn_b`` (A B A B ...); return the median per-block ratio.

    Both sides of a pair run within ~``2 * block_seconds`` of each other, so
    whatever slows both alike (clock changes, throttling, and, when B is a
    model of the same architecture and size, contention for cache and memory
    bandwidth) cancels in their ratio. Also returns B's :func:`floor_ms` over
    all its calls. Each block has at least 3 calls.
    """
    ratios, a_ms, b_ms, b_calls = [], [], [], []
    per_block = max_seconds / max(1, 2 * blocks)
    for _ in range(blocks):
        a = time_calls(fn_a, 3, block_seconds, per_block, 100_000)
        b = time_calls(fn_b, 3, block_seconds, per_block, 100_000)
        a_ms.append(float(np.median(a)))
        b_ms.append(float(np.median(b)))
        ratios.append(a_ms[-1] / b_ms[-1])
        b_calls += b
    return {"ratio": float(np.median(ratios)), "ratios": ratios, "artifact_ms": a_ms, "reference_ms": b_ms,
            "reference_floor_ms": floor_ms(b_calls), "reference_runs": len(b_calls)}


FLOOR_PERCENTILE = 1.0


def floor_ms(times_ms: "list[float] | np.ndarray") -> float:
    """The fast end of a set of call times: their 1st percentile.

    On a shared host, other tenants only ever add time to a call (contention
    for cache and memory bandwidth, preemption), so the middle of the
    distribution measures the neighbours as much as the model, and the fast
    end measures the model. A device runs one model alone, near its floor.
    """
    return float(np.percentile(np.asarray(times_ms, dtype=np.float64), FLOOR_PERCENTILE))


def summarize(times_ms: list[float]) -> dict:
    a = np.asarray(times_ms, dtype=np.float64)
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "min": float(a.min()),
            "floor": floor_ms(a), "mean": float(a.mean()), "runs": int(a.size), "seconds": float(a.sum() / 1e3)}


# ---------------------------------------------------------------- accuracy
def _nchw_input_shape(runner: Runner) -> list[int]:
    s = list(runner.input_shape)
    return [s[0], s[3], s[1], s[2]] if runner.layout == "NHWC" and len(s) == 4 else s


def eval_accuracy(runner: Runner, npz: str, chunk: int) -> tuple[float, int]:
    """Top-1 accuracy on an ``.npz`` with ``x`` (NCHW float32) and ``y`` (labels)."""
    with np.load(npz) as data:
        if "x" not in data or "y" not in data:
            raise EdgepruneError(f"{npz} lacks arrays 'x' and 'y'.", "Use the run's data/test.npz.")
        x, y = data["x"], data["y"]
    want = _nchw_input_shape(runner)[1:]
    if len(want) != x.ndim - 1 or any(w > 0 and w != g for w, g in zip(want, x.shape[1:])):
        raise EdgepruneError(f"eval set images are {list(x.shape[1:])} (CHW) but the artifact takes {want}.",
                             "Use the eval set of the run that produced the artifact.")
    correct = 0.0
    for i in range(0, len(y), chunk):
        correct += evaluate(runner, x[i:i + chunk], y[i:i + chunk]) * len(y[i:i + chunk])
    return (correct / len(y) if len(y) else float("nan")), int(len(y))


# ---------------------------------------------------------------- one artifact
def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if isinstance(e, EdgepruneError) else f"{type(e).__name__}: {text}"[:300]


def measure(job: Job) -> dict:
    """Load, time and evaluate ``job.path``; failures become ``error`` (the figures so far are kept)."""
    out: dict[str, Any] = {"error": None}
    phase = "import runtime"
    try:
        out["runtime"], out["runtime_version"] = import_runtime(job.path)
        base_peak, base_rss = peak_rss_bytes(), rss_bytes()
        out["baseline_ram_mb"] = base_peak / MB

        phase = "load"
        t = time.perf_counter()
        runner = open_runner(job.path, job.threads, job.layout)
        out["load_ms"] = (time.perf_counter() - t) * 1e3
        out.update(threads=runner.threads, memory_settings=runner.memory_settings, layout=runner.layout,
                   input_shape=runner.input_shape)

        phase = "latency"
        x = runner.example_input()
        t = time.perf_counter()
        runner.invoke_raw(x)
        out["first_run_ms"] = (time.perf_counter() - t) * 1e3
        time_calls(lambda: runner.invoke_raw(x), job.warmup_runs, job.warmup_seconds, job.max_seconds, job.max_runs)
        times = time_calls(lambda: runner.invoke_raw(x), job.min_runs, job.target_seconds, job.max_seconds,
                           job.max_runs)
        out["latency_ms"] = summarize(times)
        out["peak_ram_mb"] = (peak_rss_bytes() - base_peak) / MB
        out["resident_ram_mb"] = (rss_bytes() - base_rss) / MB

        if job.eval_npz:
            phase = "accuracy"
            out["accuracy"], out["n_eval"] = eval_accuracy(runner, job.eval_npz, job.eval_chunk)

        if job.reference:
            phase = "paired reference"
            ref = open_runner(job.reference, job.threads, job.reference_layout)
            xr = ref.example_input()
            time_calls(lambda: ref.invoke_raw(xr), job.warmup_runs, job.warmup_seconds, job.max_seconds, job.max_runs)
            out["paired"] = dict(time_paired(lambda: runner.invoke_raw(x), lambda: ref.invoke_raw(xr), job.pair_blocks,
                                             job.pair_block_seconds, job.max_seconds), reference=job.reference)
    except Exception as e:  # one artifact's failure must not stop the others
        out["error"] = f"{phase}: {_one_line(e)}"
    return out
