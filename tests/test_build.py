"""edgeprune build end to end on a tiny model, including a SIGKILL in the middle."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprune.runio import RunDir, read_json

SCRIPT = """
import sys
from edgeprune.build import run_build
from edgeprune.prune import PruneConfig
cfg = PruneConfig(model="test_resnet", data="digits", dense_epochs=2, finetune_epochs=1, calib_size=64,
                  strategies=["conservative", "aggressive"])
run_build(cfg, sys.argv[1], "raspberry-pi-4", precision="fp32")  # int8 builds: tests/test_int8.py
"""


def _build(out: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_build_survives_kill_9_and_resumes(tmp_path):
    out = tmp_path / "run"
    rd = RunDir(out)
    proc = _build(out)
    deadline = time.time() + 600
    # kill -9 once the export stage has started writing (candidates are finished by then)
    while time.time() < deadline and proc.poll() is None:
        if rd.artifacts_dir.exists() and any(rd.artifacts_dir.iterdir()):
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"build finished before it could be killed: {proc.stderr.read()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cands = rd.candidate_ids()
    assert len(cands) == 2
    before = {c: rd.candidate_weights(c).stat().st_mtime_ns for c in cands}
    dense_before = rd.dense_weights.stat().st_mtime_ns

    again = _build(out)
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-2000:]
    assert {c: rd.candidate_weights(c).stat().st_mtime_ns for c in cands} == before  # nothing recomputed
    assert rd.dense_weights.stat().st_mtime_ns == dense_before
    assert not list(out.rglob(".*.tmp"))  # nothing half-written left or used
    bundle = rd.ship_dir("raspberry-pi-4")
    manifest = read_json(bundle / "manifest.json")
    assert manifest["format"] == "tflite" and (bundle / manifest["file"]).is_file()
    stages = {s["stage"]: s for s in read_json(out / "build.json")["stages"]}
    assert set(stages) == {"prune", "export", "bench", "select", "ship"}

    # a third run is a no-op for every stage; verify passes on the bundle
    third = _build(out)
    _, err = third.communicate(timeout=600)
    assert third.returncode == 0
    assert "covers every current artifact; kept" in err
    v = subprocess.run([sys.executable, "-m", "edgeprune", "verify", str(bundle)], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr


def test_build_with_unknown_target_fails_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeprune", "build", "--target", "raspberry-pi-9",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode != 0
    err = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(err) == 1 and "raspberry-pi-4" in err[0]  # lists the known targets
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- formats the target runs (issue 11, point 3)
ONNX_ONLY_PROFILE = """
schema = 1
name = "onnx-board"
title = "Test board without a TFLite runtime (like jetson-nano)"
family = "other"
preferred_format = "onnx"
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
[budgets]
max_size_mb = 100
max_ram_mb = 1000
max_latency_ms = 1000
min_accuracy = 0.0
source = "test fixture"
[[calibration]]
format = "onnx"
model = "test_resnet"
input_size = 32
runtime = "test"
published_latency_ms = 5.0
source = "test fixture"
error_band = 0.5
"""


def test_build_formats_follow_the_target_profile():
    from edgeprune.build import build_formats
    from edgeprune.errors import EdgepruneError
    from edgeprune.targets import load_target

    nano, pi4 = load_target("jetson-nano"), load_target("raspberry-pi-4")
    fmts, skipped, ship_fmt = build_formats(nano, None)
    assert fmts == ["onnx"] and ship_fmt == "onnx" and list(skipped) == ["tflite"]
    assert skipped["tflite"].startswith("jetson-nano has no tflite runtime in its profile")
    assert build_formats(nano, ["onnx", "tflite"])[:2] == (["onnx", "tflite"], {})  # --formats asks for more
    fmts, skipped, ship_fmt = build_formats(pi4, None)  # pi4 runs both; its selection compares only tflite rows
    assert fmts == ["tflite"] and ship_fmt == "tflite" and list(skipped) == ["onnx"]
    assert skipped["onnx"].startswith("raspberry-pi-4 ships tflite (its preferred format) and the selection compares "
                                      "only tflite rows")
    assert build_formats(pi4, ["onnx", "tflite"])[:2] == (["onnx", "tflite"], {})
    assert build_formats(pi4, ["onnx"])[2] == "onnx"  # pi4 prefers tflite; only onnx was built
    for asked, text in ((["tflite"], "jetson-nano runs none of these"), (["coreml"], "Unknown export format 'coreml'")):
        with pytest.raises(EdgepruneError, match=text):
            build_formats(nano, asked)


def test_a_default_build_whose_one_format_fails_names_the_other_the_target_runs(tmp_path, monkeypatch):
    import edgeprune.export as export
    from edgeprune.build import _export, _other_runnable
    from edgeprune.export.failures import ExportFailed
    from edgeprune.targets import load_target

    def fail(*a, **kw):
        raise ExportFailed("1 of 1 artifacts failed; first: dense.tflite: conversion failed", "Details in X.")

    monkeypatch.setattr(export, "export_run", fail)
    pi4 = load_target("raspberry-pi-4")
    assert _other_runnable(pi4, ["tflite"]) == "onnx" and _other_runnable(load_target("jetson-nano"), ["onnx"]) is None
    with pytest.raises(ExportFailed) as e:
        _export(tmp_path, ["tflite"], ["fp32"], None, "onnx")
    assert str(e.value) == ("1 of 1 artifacts failed; first: dense.tflite: conversion failed Details in X. "
                            "To ship onnx instead, re-run the build with --formats onnx.")
    with pytest.raises(ExportFailed) as e:  # --formats given: its own advice only
        _export(tmp_path, ["tflite"], ["fp32"], None, None)
    assert "To ship" not in str(e.value)


def test_build_with_formats_the_target_cannot_run_fails_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeprune", "build", "--target", "jetson-nano", "--formats", "tflite",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "jetson-nano runs none of these" in proc.stderr and not (tmp_path / "r").exists()


ONNX_ONLY_SCRIPT = """
import sys
from edgeprune.build import run_build
from edgeprune.prune import PruneConfig
cfg = PruneConfig(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=0, calib_size=32,
                  strategies=["aggressive"])
run_build(cfg, sys.argv[1], sys.argv[2])
"""


@pytest.mark.slow
def test_build_exports_and_benches_only_the_formats_the_target_runs(tmp_path):
    profile = tmp_path / "onnx-board.toml"
    profile.write_text(ONNX_ONLY_PROFILE)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", ONNX_ONLY_SCRIPT, str(out), str(profile)], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "EDGEPRUNE_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    why = "onnx-board has no tflite runtime in its profile, so a tflite file could not run there"
    assert f"export: skipping tflite: {why}" in proc.stderr  # said when it is skipped ...
    assert f"formats onnx; skipped tflite: {why}" in proc.stderr  # ... and in the build summary
    rd = RunDir(out)
    assert not list(rd.artifacts_dir.glob("*.tflite"))
    assert all(set(read_json(p)["formats"]) == {"onnx"} for p in rd.artifacts_dir.glob("*.json"))
    assert {r["format"] for r in read_json(rd.bench_json("onnx-board"))["rows"]} == {"onnx"}
    build = read_json(out / "build.json")
    assert build["formats"] == ["onnx"] and build["skipped_formats"]["tflite"].startswith(why)


def test_build_defaults_to_both_granularities(tmp_path, monkeypatch):
    """The CLI's build prunes unstructured and structured candidates unless asked for one."""
    from click.testing import CliRunner

    from edgeprune.cli import main

    seen = {}

    def fake_prune(cfg, out):
        seen["granularity"] = cfg.granularity
        raise SystemExit(0)  # stop before any work

    monkeypatch.setattr("edgeprune.prune.run_prune", fake_prune)
    CliRunner().invoke(main, ["build", "--target", "raspberry-pi-4", "--out", str(tmp_path / "r")])
    assert seen["granularity"] == "both"
    CliRunner().invoke(main, ["build", "--target", "raspberry-pi-4", "--granularity", "structured",
                              "--out", str(tmp_path / "r2")])
    assert seen["granularity"] == "structured"
