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
run_build(cfg, sys.argv[1], "raspberry-pi-4")
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
