"""Artifacts dominated after round 1 get no later latency rounds (edgeprune.bench.settle)."""
from __future__ import annotations

from pathlib import Path

from edgeprune.bench import bench_artifacts
from edgeprune.bench.artifacts import Artifact
from edgeprune.bench.settings import BenchSettings
from edgeprune.bench.settle import settled_after_first
from edgeprune.targets import load_target


def art(name: str, precision: str = "fp32", anchor: bool = False, root: Path = Path("/nonexistent"),
        dense: bool | None = None) -> Artifact:
    return Artifact(root / f"{name}.tflite", name, "tflite", f"{name}.tflite", anchor=anchor, precision=precision,
                    dense_network=dense)


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
    settled = settled_after_first(arts, res, margin=1.5, within=0.075)
    assert set(settled) == {1}
    assert "structured.tflite" in settled[1] and "2.50x faster" in settled[1]
    assert settled_after_first(arts, res, margin=3.0, within=0.075) == {}


def test_an_unmeasured_or_unevaluated_artifact_settles_nothing():
    arts = [art("a"), art("b"), art("c")]
    res = [first(300, 40, 0.98, 10.0), first(100, 20, None, 2.0), {"error": "crashed", "skipped": True}]
    assert settled_after_first(arts, res, margin=1.5, within=0.075) == {}  # b has no accuracy, a has: not comparable


def test_the_same_dense_network_settles_when_no_better_on_anything_but_noise():
    """Unstructured candidates run the dense network once densified: the sparser, no less accurate one settles the
    other unless round 1 timed the other faster beyond the rounds' agreement width; a structured one never."""
    arts = [art("dense", anchor=True, dense=True), art("u70", dense=True), art("u90", dense=True),
            art("u95", dense=True), art("s50", dense=False), art("twin", dense=True)]
    res = [first(400, 40, 0.98, 10.0),
           first(200, 40, 0.98, 10.1),   # settled by u90: larger, as heavy, as accurate, latency 1.06x of it
           first(100, 40, 0.98, 9.5),
           first(50, 40, 0.97, 9.6),     # smaller, but less accurate than u90: kept
           first(300, 40, 0.98, 9.5),    # a structured network: the same-network rule does not apply
           first(100, 40, 0.98, 9.5)]    # u90's twin on every figure: neither settles the other
    settled = settled_after_first(arts, res, margin=1.5, within=0.075)
    assert set(settled) == {1} and "u90.tflite" in settled[1] and "same dense network" in settled[1]
    res[1] = first(200, 40, 0.98, 8.5)  # round 1 timed it 11% faster than u90: more rounds may tell
    assert settled_after_first(arts, res, margin=1.5, within=0.075) == {}
    arts[1] = art("u70", dense=None)  # a loose file: its network is not known
    res[1] = first(200, 40, 0.98, 10.1)
    assert settled_after_first(arts, res, margin=1.5, within=0.075) == {}


def test_run_artifacts_know_which_run_the_dense_network(tmp_path):
    from edgeprune.bench.artifacts import run_artifacts
    from edgeprune.records import ArtifactRecord
    from edgeprune.rundir import RunDir

    rd = RunDir(tmp_path)
    rd.artifacts_dir.mkdir(parents=True)
    for cid, source in (("dense", {"weights": "dense.safetensors"}), ("product-balanced", {"weights": "w"}),
                        ("structured-balanced", {"weights": "w", "structure": "structure.json"})):
        (rd.artifacts_dir / f"{cid}.tflite").write_bytes(b"x")
        ArtifactRecord.from_json({"id": cid, "source": source, "formats": {"tflite": {"file": f"{cid}.tflite"}}},
                                 "t", "fix").write(rd.artifact_json(cid))
    got = {a.candidate: a.dense_network for a in run_artifacts(rd)}
    assert got == {"dense": True, "product-balanced": True, "structured-balanced": False}


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
