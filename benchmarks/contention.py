"""Why the bench estimates through an anchor: a contention trace of this host, replayed.

Times three models in one process, in alternating blocks of 0.05 s, for
``--minutes``: an artifact A of a run, the run's dense artifact D (the anchor:
same architecture and size) and the target's reference model R (224 px,
compute-bound), all in the same format and on 1 thread. It then replays pairs
of consecutive benches over the trace (``--bench-seconds`` long, ``--rounds``
rounds of 8 pair blocks each, the anchor also seen in ``--slots`` other
workers' rounds) and reports for each estimator how often the two benches'
estimates of A agree within 15%:

- ``reference ratio``: median over rounds of the median A/R block ratio (the
  bench's estimator before the anchor);
- ``floor ratio``: A's lowest 1st percentile over its rounds / R's;
- ``anchor``: median A/D block ratio x D's lowest floor over the session / R's
  floor (the bench's estimator now; R timed at the start and the end).

    python benchmarks/contention.py RUN                  # onnx, 6 minutes
    python benchmarks/contention.py RUN --format tflite --minutes 10
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _common import header, save

BLOCK_SECONDS = 0.05
PAIR_BLOCKS = 8


def record(paths: list[Path], layouts: list[str | None], seconds: float) -> list[list[np.ndarray]]:
    """Call times (ms) per model per block, the models in turn: [[A block 0, A block 1, ...], [D ...], [R ...]]."""
    from edgeprune.bench.measure import time_calls
    from edgeprune.runtimes import open_runner

    calls = []
    for path, layout in zip(paths, layouts):
        r = open_runner(path, 1, layout)
        x = r.example_input()
        calls.append(lambda r=r, x=x: r.invoke_raw(x))
    for fn in calls:
        time_calls(fn, 3, 0.2, 5, 10**6)
    blocks: list[list[np.ndarray]] = [[] for _ in calls]
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for k, fn in enumerate(calls):
            blocks[k].append(np.asarray(time_calls(fn, 3, BLOCK_SECONDS, 1.0, 10**6)))
    return blocks


def _floor(blocks: list[np.ndarray]) -> float:
    from edgeprune.bench.measure import floor_ms

    return floor_ms(np.concatenate(blocks))


def estimates(A, D, R, start: int, length: int, rounds: int, slots: int, rng) -> dict[str, float]:
    """The three estimators' figures (up to the common device factor) for one bench over blocks [start, start+length)."""
    at = [start + k * length // rounds for k in range(rounds)]
    rnd = [range(i, i + PAIR_BLOCKS) for i in at]
    ratio = lambda X: float(np.median([np.median([np.median(A[j]) / np.median(X[j]) for j in r]) for r in rnd]))
    r_floor = min(_floor(R[start:start + PAIR_BLOCKS]), _floor(R[start + length - PAIR_BLOCKS:start + length]))
    d_slots = rng.integers(start, start + length - PAIR_BLOCKS, slots)
    d_floor = min(_floor(D[i:i + PAIR_BLOCKS]) for i in d_slots)
    a_floor = min(_floor(A[r.start:r.stop]) for r in rnd)
    r_floor_rounds = min(_floor(R[r.start:r.stop]) for r in rnd)
    return {"reference ratio": ratio(R), "floor ratio": a_floor / r_floor_rounds,
            "anchor": ratio(D) * d_floor / r_floor}


def replay(blocks, step: float, bench_seconds: float, rounds: int, slots: int, limit: float = 0.15) -> dict:
    """Pairs of consecutive benches over the trace (``step`` seconds per turn of the three models)."""
    A, D, R = blocks
    length = int(bench_seconds / step)
    rng = np.random.default_rng(0)
    diffs: dict[str, list[float]] = {}
    for start in range(0, len(A) - 2 * length, max(1, length // 40)):
        one = estimates(A, D, R, start, length, rounds, slots, rng)
        two = estimates(A, D, R, start + length, length, rounds, slots, rng)
        for k in one:
            diffs.setdefault(k, []).append(abs(one[k] / two[k] - 1))
    return {k: {"pairs": len(v), "within_15pct": float(np.mean(np.asarray(v) <= limit)),
                "within_10pct": float(np.mean(np.asarray(v) <= 0.10)), "mean": float(np.mean(v)),
                "p95": float(np.percentile(v, 95)), "worst": float(np.max(v))} for k, v in diffs.items()}


def windows(blocks, step: float, seconds: float = 20.0) -> list[dict]:
    """Per window of the trace: A's median and floor, D's median, R's median and floor (ms)."""
    n = int(seconds / step)
    out = []
    for i in range(0, len(blocks[0]) - n + 1, n):
        a, d, r = (np.concatenate(b[i:i + n]) for b in blocks)
        out.append({"t": round(i * step), "a_median": float(np.median(a)), "a_floor": _floor([a]),
                    "d_median": float(np.median(d)), "r_median": float(np.median(r)), "r_floor": _floor([r])})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run directory with exported artifacts (dense and at least one candidate)")
    p.add_argument("--format", default="onnx", choices=["onnx", "tflite"])
    p.add_argument("--target", default="raspberry-pi-4")
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--bench-seconds", type=float, default=120.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--slots", type=int, default=30, help="rounds of other workers that also time the anchor")
    args = p.parse_args(argv)

    from edgeprune.bench.reference import ensure_reference
    from edgeprune.bench.artifacts import run_artifacts
    from edgeprune.runio import RunDir
    from edgeprune.targets import load_target

    run = Path(args.run)
    arts = [a for a in run_artifacts(RunDir(run)) if a.format == args.format and not a.export_error]
    dense = next((a for a in arts if a.candidate == "dense"), None)
    other = next((a for a in arts if a.candidate != "dense"), None)
    if dense is None or other is None:
        sys.exit(f"error: {run} has no dense and candidate {args.format} artifacts; run 'edgeprune export' first.")
    cal = load_target(args.target).calibrations(args.format)[0]
    ref = ensure_reference(cal, lambda s: print(s, file=sys.stderr))
    print(f"recording {args.minutes:g} min: {other.display}, {dense.display}, {Path(ref).name}", file=sys.stderr)
    t = time.perf_counter()
    blocks = record([other.path, dense.path, Path(ref)], [other.layout, dense.layout, None], args.minutes * 60)
    step = (time.perf_counter() - t) / len(blocks[0])  # seconds per turn (one block of each model)
    doc = {**header(sys.argv), "format": args.format, "artifact": other.display, "anchor": dense.display,
           "reference": f"{cal.model}@{cal.input_size}", "minutes": args.minutes, "bench_seconds": args.bench_seconds,
           "rounds": args.rounds, "slots": args.slots, "pair_blocks": PAIR_BLOCKS, "block_seconds": BLOCK_SECONDS,
           "seconds_per_turn": step, "estimators": replay(blocks, step, args.bench_seconds, args.rounds, args.slots),
           "windows": windows(blocks, step)}
    path = save("contention", doc)
    for k, v in doc["estimators"].items():
        print(f"{k:16s} within 15%: {v['within_15pct']:.1%} of {v['pairs']} bench pairs (mean {v['mean']:.1%}, "
              f"worst {v['worst']:.1%})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
