"""Artifacts dominated after round 1 get no later latency rounds (edgeprune.bench.settle)."""
from __future__ import annotations

from pathlib import Path

from edgeprune.bench import bench_artifacts
from edgeprune.bench.artifacts import Artifact
from edgeprune.bench.settings import BenchSettings
from edgeprune.bench.settle import settled_after_first
from edgeprune.targets import load_target


def art(name: str, precision: str = "fp32", anchor: bool = False, root: Path = Path("/nonexistent")) -> Artifact:
    return Artifact(root / f"{name}.tflite", name, "tflite", f"{name}.tflite", anchor=anchor, precision=precision)


def first(size: int, ram: float, acc: float | None, ms: float) -> dict:
    return {"file": {"size_bytes": size}, "peak_ram_mb": ram, "accuracy": acc,
            "latency_ms": {"median": ms}}


def test_only_an_artifact_beaten_on_every_figure_and_by_the_margin_is_settled():
    arts = [art("dense", anchor=True), art("unstructured"), art("structured"), art("accurate"), art("close"),
            art("q", "int8")]
    res = [first(400, 40, 0.98, 10.0),   # the anchor: never settled, though "structured" beats it
           first(300, 40, 0.98, 10.0),   # beaten by "structured" on every figure, 2.5x faster
           first(100, 20, 0.985, 4.0),
           first(500, 50, 0.99, 6.0),    # larger and heavier, but more accurate than everything: kept
           first(200, 30, 0.98, 5.0),    # "structured" is faster by only 1.25x: kept
           first(50, 10, 0.99, 1.0)]     # int8: another latency scale, compared only with int8 rows
    settled = settled_after_first(arts, res, margin=1.5)
    assert set(settled) == {1}
    assert "structured.tflite" in settled[1] and "2.50x faster" in settled[1]
    assert settled_after_first(arts, res, margin=3.0) == {}


def test_an_unmeasured_or_unevaluated_artifact_settles_nothing():
    arts = [art("a"), art("b"), art("c")]
    res = [first(300, 40, 0.98, 10.0), first(100, 20, None, 2.0), {"error": "crashed", "skipped": True}]
    assert settled_after_first(arts, res, margin=1.5) == {}  # b has no accuracy, a has: not comparable


def test_session_skips_later_rounds_of_settled_artifacts_and_says_why(tmp_path):
    """The whole session with a fake worker: the dominated artifact is timed once, the others every round."""
    arts = []
    for name, size in (("dense", 400), ("slow", 300), ("fast", 100)):
        (tmp_path / f"{name}.tflite").write_bytes(b"x" * size)
        arts.append(art(name, anchor=name == "dense", root=tmp_path))
    figures = {"dense": (40.0, 0.98, 10.0), "slow": (40.0, 0.98, 10.0), "fast": (20.0, 0.99, 3.0)}
    calls: dict[str, int] = {}

    def measure(job, rnd):
        name = Path(job.path).stem
        calls[name] = calls.get(name, 0) + 1
        ram, acc, ms = figures[name]
        stats = {"median": ms, "p90": ms, "min": ms, "mean": ms, "runs": 10, "seconds": 0.1, "floor": ms}
        return {"latency_ms": stats, "peak_ram_mb": ram, "load_ms": 1.0, "runtime": "fake", "threads": 1,
                **({"accuracy": acc, "n_eval": 100} if rnd == 0 else {})}

    settings = BenchSettings(rounds=3, max_rounds=3)
    doc = bench_artifacts(arts, load_target("raspberry-pi-4"), on_device=True, settings=settings,
                          log=lambda m: None, measure=measure)
    assert calls == {"dense": 3, "slow": 1, "fast": 3}
    rows = {r["candidate"]: r for r in doc["rows"]}
    assert "dominated after round 1 by fast.tflite" in rows["slow"]["methods"]["latency"]
    assert rows["slow"]["latency_ms"]["settled"] and "settled" not in rows["fast"]["latency_ms"]
    off = bench_artifacts(arts, load_target("raspberry-pi-4"), on_device=True, log=lambda m: None, measure=measure,
                          settings=BenchSettings(rounds=3, max_rounds=3, settle_margin=0))
    assert all(len(r["latency_ms"]["round_medians"]) == 3 for r in off["rows"])
