"""Bench stage: per-artifact subprocess measurement, host estimates, device rows, import/merge.

Artifacts are exported here from a fake run (tiny timm model at 32x32) with
torch.onnx and litert_torch directly, so these tests do not depend on the
export stage. Measurement settings are shortened; the logic is the same.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from conftest import make_fake_run
from edgeprune.bench import BenchFailed, BenchSettings, bench_files, bench_is_current, bench_run, import_bench
from edgeprune.bench.client import run_worker
from edgeprune.bench.device import HOST_ESTIMATE, ON_DEVICE, detect, resolve_mode
from edgeprune.bench.estimate import HostReference, calibrate, estimate_latency
from edgeprune.bench.measure import time_calls
from edgeprune.bench.settings import Job
from edgeprune.bench.store import keep_device_rows
from edgeprune.errors import EdgepruneError
from edgeprune.runio import RunDir, read_json, sha256_file, write_json
from edgeprune.targets import load_target

# settle_margin=0: every artifact gets every round, so round counts below do not depend on measured RAM
# (settling after round 1 is tested in test_bench_settle.py)
FAST = BenchSettings(rounds=2, max_rounds=2, min_runs=20, target_seconds=0.2, warmup_seconds=0.05, pair_blocks=4,
                     pair_block_seconds=0.02, timeout_seconds=300, settle_margin=0)
QUIET = dict(log=lambda s: None, echo=False)
REPO = Path(__file__).resolve().parents[1]

# A user profile whose references are tiny, so the host-estimate path runs in seconds.
TINY_PROFILE = """
schema = 1
name = "tiny-board"
title = "Test board"
family = "other"
preferred_format = "tflite"
[hardware]
cpu = "Test core"
cpu_arch = "aarch64"
cpu_cores = 4
cpu_clock_ghz = 1.0
accelerator = "none"
ram_gb = [1]
storage = "microSD"
source = "test fixture"
[runtimes.onnx]
runtime = "onnxruntime"
threads = 4
[runtimes.tflite]
runtime = "ai-edge-litert"
threads = 4
[budgets]
max_size_mb = 10
max_ram_mb = 100
max_latency_ms = 50
min_accuracy = 0.0
source = "test fixture"
[[calibration]]
format = "onnx"
model = "test_resnet"
input_size = 32
runtime = "test"
published_latency_ms = 5.0
source = "test fixture"
error_band = 0.4
"""


# ---------------------------------------------------------------- fixtures
def export_artifacts(root: Path, formats=("onnx", "tflite")) -> Path:
    """What ``edgeprune export`` records, minimally: artifacts/<id>.{onnx,tflite,json}."""
    import litert_torch
    import torch

    from edgeprune.models import ModelSpec, build

    rd = RunDir(root)
    run = read_json(rd.run_json)
    shape = run["data"]["input_shape"]
    for cid in ["dense"] + rd.candidate_ids():
        weights = rd.dense_weights if cid == "dense" else rd.candidate_weights(cid)
        model = build(ModelSpec.from_json(run["model"]), weights)
        x = torch.zeros(shape)
        recs = {}
        for fmt in formats:
            p = rd.artifact(cid, fmt)
            p.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "onnx":
                torch.onnx.export(model, (x,), str(p), opset_version=18, dynamo=False,
                                  input_names=["input"], output_names=["logits"])
            else:
                litert_torch.convert(model, (x,)).export(str(p))
            recs[fmt] = {"file": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size, "layout": "NCHW",
                         "input": {"name": "input", "shape": shape, "dtype": "float32"}}
        write_json(rd.artifact_json(cid), {"id": cid, "model": run["model"], "formats": recs})
    return root


@pytest.fixture(scope="session")
def art_run(tmp_path_factory) -> Path:
    """A run with dense + one candidate exported to ONNX and TFLite (read-only)."""
    root = make_fake_run(tmp_path_factory.mktemp("bench_run") / "run", sparsities=(0.9,))
    return export_artifacts(root)


@pytest.fixture
def run_copy(art_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(art_run, dst)
    return dst


@pytest.fixture(scope="session")
def ref_cache(tmp_path_factory) -> Path:
    """A reference cache for the tiny profile, built once (with torch) and reused."""
    cache = tmp_path_factory.mktemp("ref_cache")
    old = os.environ.get("EDGEPRUNE_CACHE")
    os.environ["EDGEPRUNE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("EDGEPRUNE_CACHE", None)
    else:
        os.environ["EDGEPRUNE_CACHE"] = old


@pytest.fixture
def tiny_profile(tmp_path) -> Path:
    p = tmp_path / "tiny-board.toml"
    p.write_text(TINY_PROFILE)
    return p


def _row(doc: dict, cand: str, fmt: str) -> dict:
    return next(r for r in doc["rows"] if r["candidate"] == cand and r["format"] == fmt)


# ---------------------------------------------------------------- the worker
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_worker_measures_size_latency_ram_and_runtime_accuracy(art_run, fmt):
    from edgeprune.runtimes import evaluate, open_runner

    rd = RunDir(art_run)
    path = rd.artifact("dense", fmt)
    res = run_worker(Job(str(path), threads=1, eval_npz=str(rd.test_npz), target_seconds=0.2), timeout=300)
    assert res["error"] is None
    lat = res["latency_ms"]
    assert lat["runs"] >= 20 and 0 < lat["min"] <= lat["median"] <= lat["p90"]
    assert res["load_ms"] > 0 and res["peak_ram_mb"] > 0 and res["threads"] == 1
    if fmt == "onnx":
        assert res["memory_settings"]["enable_cpu_mem_arena"] is False
    data = np.load(rd.test_npz)
    expected = evaluate(open_runner(path, threads=1), data["x"], data["y"])
    assert res["accuracy"] == pytest.approx(expected) and res["n_eval"] == len(data["y"])


def test_threads_are_the_profiles_capped_by_the_machine():
    from edgeprune.bench.session import threads_to_use

    assert threads_to_use(4, 8, ON_DEVICE) == 4 and threads_to_use(6, 4, ON_DEVICE) == 4
    assert threads_to_use(4, 8, HOST_ESTIMATE) == 4 and threads_to_use(4, 2, HOST_ESTIMATE) == 1
    assert threads_to_use(4, 1, HOST_ESTIMATE) == 1


def test_rounds_combine_to_a_robust_median():
    from edgeprune.bench.rounds import combine_rounds

    rounds = [{"median": m, "p90": m * 2, "min": m / 2, "mean": m, "runs": 10, "seconds": m / 100} for m in (1, 9, 2)]
    c = combine_rounds(rounds)
    assert c["median"] == 2 and c["p90"] == 4 and c["min"] == 0.5 and c["runs"] == 30 and c["round_medians"] == [1, 9, 2]
    assert FAST.job(Path("a.onnx"), 1).min_runs * FAST.rounds >= FAST.min_runs


def test_a_job_alone_times_with_the_session_defaults():
    """BenchSettings is the one source of the timing defaults: a Job built without them (a benchmark script,
    onnx_ram) gets the same ones."""
    shared = {f.name for f in fields(Job)} & {f.name for f in fields(BenchSettings)}
    assert shared == {"min_runs", "target_seconds", "max_seconds", "warmup_runs", "warmup_seconds", "pair_blocks",
                      "pair_block_seconds"}
    job, settings = Job("a.onnx"), BenchSettings()
    assert {k: getattr(job, k) for k in shared} == {k: getattr(settings, k) for k in shared}


def test_a_median_is_stable_only_when_a_majority_of_rounds_agree():
    from edgeprune.bench.rounds import latency_is_stable

    assert latency_is_stable([0.545, 0.542, 0.558], agree=3, within=0.075)
    assert not latency_is_stable([0.489, 1.132, 0.624], agree=3, within=0.075)  # a burst spoiled a round
    assert not latency_is_stable([0.50, 0.51], agree=3, within=0.075)  # too few rounds to call it
    # a majority of agreeing rounds outvotes two bursts
    assert latency_is_stable([0.50, 0.51, 1.1, 0.52, 0.95], agree=3, within=0.075)
    assert not latency_is_stable([0.50, 0.51, 1.1, 0.95, 1.3, 0.52], agree=3, within=0.075)
    assert not latency_is_stable([], agree=3, within=0.075)


def test_extra_rounds_go_only_to_artifacts_whose_rounds_disagree():
    from edgeprune.bench.rounds import rounds_todo

    s = BenchSettings(rounds=3, max_rounds=5, agree=3, stable_within=0.05)
    medians = [[1.0, 1.01, 0.99], [1.0, 2.0, 1.4], [], [1.0]]  # stable, bursty, not measurable, first rounds
    assert rounds_todo(1, medians, s) == [0, 1, 3] and rounds_todo(2, medians, s) == [0, 1, 3]
    assert rounds_todo(3, medians, s) == [1, 3]
    assert rounds_todo(5, medians, s) == []  # max_rounds reached


def test_session_adds_rounds_until_max_when_rounds_never_agree(art_run, tmp_path):
    noisy = BenchSettings(rounds=1, max_rounds=3, extra_time=100, agree=3, stable_within=0.0, min_runs=5,
                          target_seconds=0.05, warmup_seconds=0.02, timeout_seconds=300)  # within 0%: never stable
    rd = RunDir(art_run)

    def rounds(settings: BenchSettings) -> dict:
        out = bench_files([rd.artifact("dense", "onnx")], "raspberry-pi-4", on_device=True, out=tmp_path / "b.json",
                          settings=settings, **QUIET)
        return read_json(out)["rows"][0]

    row = rounds(noisy)
    assert len(row["latency_ms"]["round_medians"]) == 3 and row["latency_ms"]["stable"] is False
    assert "a noisy figure" in row["methods"]["latency"]
    # extra rounds get a time budget relative to the fixed rounds: with none, one extra round at most
    assert len(rounds(replace(noisy, extra_time=0))["latency_ms"]["round_medians"]) == 2


def test_paired_timing_cancels_drift_of_the_machine():
    """The host slows down 3x half-way through: absolute times move, the paired ratio does not."""
    import time

    from edgeprune.bench.measure import time_paired

    start = time.perf_counter()

    def slow() -> float:  # 1x for the first 0.15 s, then 3x
        return 1.0 if time.perf_counter() - start < 0.15 else 3.0

    res = time_paired(lambda: time.sleep(0.002 * slow()), lambda: time.sleep(0.001 * slow()), blocks=6,
                      block_seconds=0.025, max_seconds=10)
    assert len(res["ratios"]) == 6 and max(res["artifact_ms"]) > 2 * min(res["artifact_ms"])
    assert res["ratio"] == pytest.approx(2.0, rel=0.25)


def test_floor_ignores_time_that_contention_adds():
    """Neighbours add time to some calls (here to 60% of them, up to 2x): the median moves, the floor does not."""
    from edgeprune.bench.measure import floor_ms, summarize

    rng = np.random.default_rng(0)
    quiet = list(1.0 + 0.01 * rng.random(1000))
    busy = [t * (1 + rng.random()) if rng.random() < 0.6 else t for t in quiet]
    assert summarize(busy)["median"] > 1.1 * summarize(quiet)["median"]
    assert floor_ms(busy) == pytest.approx(floor_ms(quiet), rel=0.01) == summarize(quiet)["floor"]


def test_estimate_chains_artifact_to_anchor_to_reference():
    from edgeprune.bench.estimate import anchor_estimate

    entry = {"file": "ref.onnx", "scale": 10.0, "error_band": 0.4, "device_reference_ms": 50.0, "host_floor_ms": 10.0}
    host = {"median": 1.0, "p90": 2.0, "min": 0.5, "runs": 30}
    assert estimate_latency(host, entry)["median"] == pytest.approx(10.0)  # no pairing: the session scale
    by_ref = estimate_latency(dict(host, paired_ratio=0.1, paired_ratios=[0.1], paired_reference="ref.onnx"), entry)
    assert by_ref["median"] == pytest.approx(5.0) and by_ref["p90"] == pytest.approx(10.0)
    # the anchor: its lowest floor of the session over the reference's floor, times the reference's device latency
    entry["anchor"] = anchor_estimate("dense.onnx", "artifacts/dense.onnx", [2.5, 2.0, 3.0], entry)
    assert entry["anchor"]["floor_ratio"] == pytest.approx(0.2) and entry["anchor"]["estimate_ms"] == pytest.approx(10)
    assert estimate_latency(dict(host, median=2.6), entry, "dense.onnx")["median"] == pytest.approx(10.0)
    by_anchor = dict(host, paired_ratio=0.5, paired_ratios=[0.5], paired_reference="dense.onnx")
    assert estimate_latency(by_anchor, entry, "cand.onnx")["median"] == pytest.approx(5.0)
    # a pairing with a file the session did not calibrate falls back to the session scale
    assert estimate_latency(dict(by_anchor, paired_reference="other.onnx"), entry)["median"] == pytest.approx(10.0)


def test_time_box_stops_slow_models_before_min_runs():
    import time

    times = time_calls(lambda: time.sleep(0.05), min_runs=20, target_seconds=0.1, max_seconds=0.3, max_runs=1000)
    assert 3 <= len(times) < 20


def test_peak_ram_is_real_and_grows_with_the_model(tmp_path):
    """A dense model with 4x the weights shows a correspondingly larger peak RAM."""
    import torch

    def export(width: int) -> tuple[Path, float]:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, width), torch.nn.ReLU(),
                                  torch.nn.Linear(width, 10)).eval()
        p = tmp_path / f"mlp{width}.onnx"
        torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(p), opset_version=18, dynamo=False)
        return p, sum(q.numel() for q in net.parameters()) * 4 / 1e6

    small, small_mb = export(1024)    # ~12.6 MB of weights
    big, big_mb = export(4096)        # ~50 MB
    ram = {}
    for name, p in (("small", small), ("big", big)):
        runs = [run_worker(FAST.job(p, threads=1), timeout=300) for _ in range(2)]
        assert all(r["error"] is None for r in runs)
        ram[name] = [r["peak_ram_mb"] for r in runs]
        assert abs(ram[name][0] / ram[name][1] - 1) < 0.10, "peak RAM of one artifact must repeat within 10%"
    assert min(ram["big"]) - max(ram["small"]) > 0.75 * (big_mb - small_mb)
    for name, mb in (("small", small_mb), ("big", big_mb)):  # weights + runtime overhead, not a multiple of it
        assert mb * 0.9 < ram[name][0] < 3 * mb + 40


# ---------------------------------------------------------------- host estimate
def test_bench_run_host_estimate_scales_by_reference(run_copy, ref_cache, tiny_profile):
    out = bench_run(run_copy, str(tiny_profile), settings=FAST, **QUIET)
    assert out == RunDir(run_copy).bench_json("tiny-board")
    doc = read_json(out)
    assert doc["mode"] == HOST_ESTIMATE and doc["detected"]["on_target"] is False
    assert {k for k in ("machine", "cpu", "cores")} <= set(doc["host"])
    ref = doc["reference"]["onnx"]
    assert ref["scale"] == pytest.approx(5.0 / ref["host_latency_ms"])
    assert len(ref["host_latency_runs_ms"]) == 2  # the start and the end of the session
    assert set(doc["reference"]) == {"onnx"}
    anchor = ref["anchor"]
    assert anchor["artifact"] == "artifacts/dense.onnx" and Path(anchor["file"]) == run_copy / anchor["artifact"]
    # the anchor's floors: its own rounds plus its blocks in the other onnx worker's rounds
    assert anchor["floors"] == 2 * FAST.rounds and anchor["reference_host_floor_ms"] == ref["host_floor_ms"]
    assert anchor["estimate_ms"] == pytest.approx(anchor["host_floor_ms"] / ref["host_floor_ms"] * 5.0)
    assert len(doc["rows"]) == 4
    for r in doc["rows"]:
        assert r["error"] is None
        assert r["threads_profile"] == 4 and r["threads"] == max(1, min(4, len(os.sched_getaffinity(0)) // 2))
        assert r["size_bytes"] == (run_copy / r["path"]).stat().st_size and r["gzip_bytes"] > 0
        assert r["accuracy"] is not None and r["n_eval"] == 64
        assert r["provenance"]["size"] == "measured" and r["provenance"]["accuracy"] == "measured"
        assert r["provenance"]["peak_ram"] == "measured-on-host"
        host = r["host_latency_ms"]
        if r["format"] == "onnx":
            lat = r["latency_ms"]
            assert r["provenance"]["latency"] == "estimated"
            if r["candidate"] == "dense":  # the anchor: (its lowest floor / the reference's) x the device latency
                assert "paired_ratio" not in host and "anchor of this format" in r["methods"]["latency"]
                assert "agree" not in r["methods"]["latency"]  # its round medians do not enter its estimate
                assert lat["median"] == pytest.approx(anchor["estimate_ms"])
            else:  # paired with the anchor in every round: artifact/anchor ratio x the anchor's estimate
                assert len(host["paired_ratios"]) == FAST.rounds and host["paired_reference"] == anchor["file"]
                assert lat["median"] == pytest.approx(host["paired_ratio"] * anchor["estimate_ms"])
                assert "alternating blocks" in r["methods"]["latency"]
            assert lat["p90"] == pytest.approx(host["p90"] * lat["median"] / host["median"])
            assert lat["low"] == pytest.approx(lat["median"] / 1.4) and lat["high"] == pytest.approx(lat["median"] * 1.4)
            assert "estimated" in r["methods"]["latency"] and "test_resnet" in r["methods"]["latency"]
        else:  # the profile publishes no TFLite latency: measured on the host, not estimated
            assert r["latency_ms"] is None and r["provenance"]["latency"] == "unavailable"
            assert host["median"] > 0 and "no published tflite latency" in r["methods"]["latency"]
            assert "paired_ratio" not in host  # no reference to pair with


def test_calibration_band_widens_to_reference_disagreement():
    prof = load_target("raspberry-pi-4")
    primary, mbv2, mbv3 = prof.calibrations("tflite")

    def ref(cal, *medians):
        return HostReference(cal, "x", [{"runtime": "ai-edge-litert", "latency_ms": {"median": m, "floor": 0.9 * m}}
                                        for m in medians])

    # host 25 ms for ResNet-18 -> scale 255/25 = 10.2; MobileNetV2 implies 46/4 = 11.5 (12.7% off)
    entry = calibrate("tflite", [ref(primary, 24.0, 26.0), ref(mbv2, 4.0)], prof, threads_used=2)
    assert entry["scale"] == pytest.approx(255 / 25)
    assert entry["drift"] == pytest.approx(26 / 24 - 1) and entry["host_floor_ms"] == pytest.approx(0.9 * 24)
    assert entry["error_band"] == primary.error_band  # 0.4 covers a 12.7% disagreement
    entry = calibrate("tflite", [ref(primary, 25.0), ref(mbv3, 10.0)], prof, threads_used=2)
    off = (255 / 25) / (43.9 / 10) - 1  # MobileNetV3 implies 4.39: the references disagree by 2.3x
    assert entry["error_band"] == pytest.approx(off) and "widened" in entry["band_reason"]
    est = estimate_latency({"median": 1.0, "p90": 2.0, "min": 0.5, "runs": 30}, entry)
    assert est["median"] == pytest.approx(10.2) and est["low"] < est["median"] < est["high"]
    failed = calibrate("tflite", [HostReference(primary, "x", [{"error": "load: boom"}])], prof, threads_used=2)
    assert failed["scale"] is None and "boom" in failed["error"]


def test_detection_uses_the_device_tree_model():
    pi4, nano, orin = (load_target(n) for n in ("raspberry-pi-4", "jetson-nano", "jetson-orin-nano"))
    assert detect(pi4, "Raspberry Pi 4 Model B Rev 1.4").matched
    assert not detect(nano, "NVIDIA Jetson Orin Nano Developer Kit").matched
    assert detect(orin, "NVIDIA Jetson Orin Nano Developer Kit").matched
    assert resolve_mode(pi4, None, "Raspberry Pi 4 Model B Rev 1.4")[0] == ON_DEVICE
    assert resolve_mode(pi4, None, "")[0] == HOST_ESTIMATE
    assert resolve_mode(pi4, True, "")[0] == ON_DEVICE


def test_this_host_is_not_a_device():
    if Path("/proc/device-tree/model").exists():
        pytest.skip("running on a board with a device tree")
    assert resolve_mode(load_target("raspberry-pi-4"), None)[0] == HOST_ESTIMATE


# ---------------------------------------------------------------- failures
def test_corrupt_artifact_gets_an_error_row_and_the_others_are_measured(run_copy):
    rd = RunDir(run_copy)
    cid = "magnitude-fake-90"
    meta = read_json(rd.artifact_json(cid))
    for fmt in ("onnx", "tflite"):
        p = rd.artifact(cid, fmt)
        p.write_bytes(b"TFL3 this is not a model" + os.urandom(4000))
        meta["formats"][fmt]["sha256"] = sha256_file(p)
    write_json(rd.artifact_json(cid), meta)
    with pytest.raises(BenchFailed) as e:  # after writing the rows of the others
        bench_run(run_copy, "raspberry-pi-4", on_device=True, settings=FAST, **QUIET)
    assert str(e.value).startswith("2 of 4 artifacts failed in the bench; first: artifacts/magnitude-fake-90.onnx: load:")
    doc = read_json(rd.bench_json("raspberry-pi-4"))
    assert not bench_is_current(run_copy, "raspberry-pi-4")  # a build resumes by benching them again
    for fmt, runtime in (("onnx", "ONNX Runtime"), ("tflite", "LiteRT")):
        bad = _row(doc, cid, fmt)
        assert bad["error"].startswith("load: ") and f"{runtime} cannot load it" in bad["error"]
        assert bad["size_bytes"] == rd.artifact(cid, fmt).stat().st_size and bad["latency_ms"] is None
        assert bad["provenance"]["latency"] == "not-measured" and bad["provenance"]["size"] == "measured"
        good = _row(doc, "dense", fmt)
        assert good["error"] is None and good["latency_ms"]["median"] > 0


def test_changed_file_and_failed_export_are_reported_not_measured(run_copy):
    rd = RunDir(run_copy)
    with open(rd.artifact("dense", "onnx"), "ab") as f:
        f.write(b"\0")
    meta = read_json(rd.artifact_json("magnitude-fake-90"))
    meta["formats"]["tflite"] = {"error": "LiteRT conversion failed: unsupported op"}
    write_json(rd.artifact_json("magnitude-fake-90"), meta)
    with pytest.raises(BenchFailed, match="1 of 4 artifacts failed"):  # the failed export is export's failure
        bench_run(run_copy, "raspberry-pi-4", on_device=True, settings=FAST, **QUIET)
    doc = read_json(RunDir(run_copy).bench_json("raspberry-pi-4"))
    assert "differs from its export record" in _row(doc, "dense", "onnx")["error"]
    assert _row(doc, "magnitude-fake-90", "tflite")["error"] == "export: LiteRT conversion failed: unsupported op"
    assert _row(doc, "dense", "tflite")["error"] is None


def test_unknown_target_lists_the_known_ones(run_copy):
    with pytest.raises(EdgepruneError) as e:
        bench_run(run_copy, "raspberry-pi-6", settings=FAST, **QUIET)
    assert "raspberry-pi-6" in str(e.value) and "raspberry-pi-4" in str(e.value) and "jetson-nano" in str(e.value)
    assert not (run_copy / "bench").exists()
    cli = subprocess.run([sys.executable, "-m", "edgeprune.cli", "bench", str(run_copy), "--target", "pi9"],
                         capture_output=True, text=True)
    assert cli.returncode == 1 and cli.stderr.count("\n") == 1 and "Known targets:" in cli.stderr


def test_bench_files_rejects_bad_input_without_writing(tmp_path, art_run):
    out = tmp_path / "o.json"
    onnx = RunDir(art_run).artifact("dense", "onnx")
    for paths, kw, msg in (([tmp_path / "x.pt"], {}, "not an artifact"),
                           ([tmp_path / "missing.onnx"], {}, "does not exist"),
                           ([onnx], {"eval_npz": tmp_path / "none.npz"}, "Eval set"),
                           ([onnx, onnx], {}, "twice")):
        with pytest.raises(EdgepruneError, match=msg):
            bench_files(paths, "raspberry-pi-4", out=out, settings=FAST, **QUIET, **kw)
    assert not out.exists()


def test_cli_bench_exits_non_zero_on_a_truncated_file_after_writing_the_others(art_run, tmp_path):
    good = RunDir(art_run).artifact("dense", "onnx")
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = tmp_path / "bench.json"
    cli = subprocess.run([sys.executable, "-m", "edgeprune", "bench", str(good), str(bad), "--target", "raspberry-pi-4",
                          "--on-device", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 1, cli.stderr
    err = [ln for ln in cli.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "1 of 2 artifacts failed in the bench; first: truncated.onnx: load:" in err[0]
    rows = {r["artifact"]: r for r in read_json(out)["rows"]}
    assert rows["dense.onnx"]["error"] is None and rows["dense.onnx"]["latency_ms"]["median"] > 0
    assert rows["truncated.onnx"]["error"].startswith("load: ")


def test_bench_run_measures_only_the_formats_asked_for(run_copy):
    out = bench_run(run_copy, "raspberry-pi-4", on_device=True, settings=FAST, formats=["onnx"], **QUIET)
    assert {r["format"] for r in read_json(out)["rows"]} == {"onnx"}
    assert bench_is_current(run_copy, "raspberry-pi-4", formats=["onnx"])
    assert not bench_is_current(run_copy, "raspberry-pi-4")  # the tflite artifacts were not benched
    with pytest.raises(EdgepruneError, match="no exported coreml artifacts"):
        bench_run(run_copy, "raspberry-pi-4", formats=["coreml"], **QUIET)


# ---------------------------------------------------------------- device rows and --import
def test_import_replaces_estimates_with_device_rows(run_copy, ref_cache, tiny_profile, tmp_path):
    rd = RunDir(run_copy)
    bench_run(run_copy, str(tiny_profile), settings=FAST, **QUIET)
    # "On the device": copied files under other names, measured with --on-device.
    dev_dir = tmp_path / "device"
    dev_dir.mkdir()
    shutil.copy(rd.artifact("dense", "onnx"), dev_dir / "model.onnx")
    shutil.copy(rd.test_npz, dev_dir / "eval.npz")
    (dev_dir / "stranger.onnx").write_bytes(rd.artifact("dense", "onnx").read_bytes() + b"\0")
    dev_json = tmp_path / "device.json"
    with pytest.raises(BenchFailed, match="stranger.onnx"):  # it does not load: exit 1, the other row is written
        bench_files([dev_dir / "model.onnx", dev_dir / "stranger.onnx"], str(tiny_profile), on_device=True,
                    eval_npz=dev_dir / "eval.npz", out=dev_json, settings=FAST, **QUIET)
    dev = read_json(dev_json)
    assert dev["mode"] == ON_DEVICE and "reference" not in dev
    assert all(v == "measured" for v in _row(dev, "model", "onnx")["provenance"].values())

    out = import_bench(run_copy, dev_json, log=lambda s: None)
    doc = read_json(out)
    assert doc["mode"] == "mixed" and len(doc["rows"]) == 4
    merged = _row(doc, "dense", "onnx")
    assert merged["mode"] == ON_DEVICE and merged["artifact"] == "dense.onnx" and "host_latency_ms" not in merged
    assert merged["latency_ms"] == _row(dev, "model", "onnx")["latency_ms"]
    assert _row(doc, "magnitude-fake-90", "onnx")["provenance"]["latency"] == "estimated"
    assert doc["imports"][0]["skipped"] == ["stranger.onnx"]

    # Re-running the host bench keeps the device-measured row for the unchanged file.
    doc2 = read_json(bench_run(run_copy, str(tiny_profile), settings=FAST, **QUIET))
    assert _row(doc2, "dense", "onnx") == merged and doc2["mode"] == "mixed"
    assert _row(doc2, "magnitude-fake-90", "onnx")["mode"] == HOST_ESTIMATE


def test_import_refuses_host_files_and_foreign_artifacts(run_copy, tmp_path):
    host = {"target": "raspberry-pi-4", "mode": HOST_ESTIMATE, "rows": [{"candidate": "dense", "format": "onnx",
                                                                          "mode": HOST_ESTIMATE, "sha256": "x"}]}
    write_json(tmp_path / "host.json", host)
    with pytest.raises(EdgepruneError, match="no rows measured on the device"):
        import_bench(run_copy, tmp_path / "host.json")
    foreign = dict(host, mode=ON_DEVICE, rows=[dict(host["rows"][0], mode=ON_DEVICE, artifact="a.onnx")])
    write_json(tmp_path / "foreign.json", foreign)
    with pytest.raises(EdgepruneError, match="matches an artifact"):
        import_bench(run_copy, tmp_path / "foreign.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(EdgepruneError, match="not readable JSON"):
        import_bench(run_copy, tmp_path / "junk.json")
    assert not RunDir(run_copy).bench_json("raspberry-pi-4").exists()


def test_keep_device_rows_only_for_the_same_file():
    dev = {"candidate": "a", "format": "onnx", "sha256": "1", "mode": ON_DEVICE}
    old = {"rows": [dev, dict(dev, candidate="b")], "imports": [{"file": "d.json"}]}
    new = {"mode": HOST_ESTIMATE, "rows": [dict(dev, mode=HOST_ESTIMATE), dict(dev, candidate="b", sha256="2",
                                                                             mode=HOST_ESTIMATE)]}
    out = keep_device_rows(old, new)
    assert out["rows"][0] is dev and out["rows"][1]["mode"] == HOST_ESTIMATE and out["mode"] == "mixed"


# ---------------------------------------------------------------- torch-free device path
BLOCKER = '''
import sys
BLOCKED = ("torch", "timm", "torchvision")
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            with open({log!r}, "a") as f:
                f.write(name + "\\n")
            raise ImportError(f"{{name}} is blocked: the bench must not need it")
        return None
sys.meta_path.insert(0, _Block())
'''


def _torch_free(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the CLI with torch, timm and torchvision unimportable (workers inherit it)."""
    site = tmp_path / "blocker"
    site.mkdir(exist_ok=True)
    log = tmp_path / "blocked-imports.txt"
    (site / "sitecustomize.py").write_text(BLOCKER.format(log=str(log)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "edgeprune.cli", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    return proc, log


def test_device_bench_runs_without_torch(art_run, tmp_path):
    rd = RunDir(art_run)
    out = tmp_path / "device.json"
    files = [str(rd.artifact("dense", f)) for f in ("onnx", "tflite")]
    proc, log = _torch_free(tmp_path, *files, "--target", "raspberry-pi-4", "--on-device",
                            "--eval", str(rd.test_npz), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not log.exists(), f"something tried to import: {log.read_text()}"
    doc = read_json(out)
    assert doc["mode"] == ON_DEVICE and "does not look like raspberry-pi-4" in proc.stderr
    for r in doc["rows"]:
        assert r["error"] is None and r["accuracy"] is not None and r["latency_ms"]["runs"] >= 20
        assert set(r["provenance"].values()) == {"measured"}
    # The probe works: the same interpreter setup cannot import torch.
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(tmp_path / "blocker")))
    assert probe.returncode != 0 and "blocked" in probe.stderr


def test_host_estimate_without_torch_uses_the_cached_reference(art_run, ref_cache, tiny_profile, tmp_path):
    from edgeprune.bench.reference import ensure_reference

    ensure_reference(load_target(str(tiny_profile)).calibration[0])  # built beforehand, with torch
    onnx, out = str(RunDir(art_run).artifact("dense", "onnx")), tmp_path / "host.json"
    proc, log = _torch_free(tmp_path, onnx, "--target", str(tiny_profile), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not log.exists(), f"something tried to import: {log.read_text()}"
    doc = read_json(out)
    row, ref = doc["rows"][0], doc["reference"]["onnx"]
    assert row["provenance"]["latency"] == "estimated" and row["latency_ms"]["median"] > 0
    assert row["accuracy"] is None and row["provenance"]["accuracy"] == "not-measured"  # no --eval given
    # a file given alone has no run, so no anchor: it is paired with the reference model itself
    assert "anchor" not in ref and row["host_latency_ms"]["paired_reference"] == ref["file"]
    assert row["latency_ms"]["median"] == pytest.approx(row["host_latency_ms"]["paired_ratio"] * 5.0)

    env_cache = os.environ["EDGEPRUNE_CACHE"]
    os.environ["EDGEPRUNE_CACHE"] = str(tmp_path / "empty-cache")
    try:
        proc, _ = _torch_free(tmp_path, onnx, "--target", str(tiny_profile), "--out", str(tmp_path / "x.json"))
    finally:
        os.environ["EDGEPRUNE_CACHE"] = env_cache
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "needs torch" in last and "--on-device" in last
    assert not (tmp_path / "x.json").exists()


def test_package_imports_do_not_load_torch():
    code = ("import sys, edgeprune, edgeprune.targets, edgeprune.runtimes, edgeprune.bench, edgeprune.bench.measure;"
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
