"""Screen before export: dominated unstructured candidates are named, not exported, and reported."""
from __future__ import annotations

import pytest

import edgeprune.select as sel_mod
from edgeprune.runio import RunDir, read_json, write_json
from edgeprune.select.screen import current_screen, screen_candidates, screen_run


def cand(cid: str, sparsity: float, acc: float, granularity: str = "unstructured") -> dict:
    return {"id": cid, "granularity": granularity, "global_sparsity": sparsity, "test_accuracy": acc,
            "sha256": f"sha-{cid}"}


def test_a_sparser_candidate_at_no_lower_accuracy_screens_the_other():
    res = screen_candidates([cand("a-60", 0.60, 0.99), cand("a-90", 0.90, 0.99), cand("a-95", 0.95, 0.97)])
    assert [(s.candidate, s.dominated_by) for s in res.screened] == [("a-60", "a-90")]
    assert res.kept == ["a-90", "a-95"]  # a-95 is sparser but less accurate: both stay
    assert "90.0% vs 60.0% sparsity" in res.screened[0].reason and "0.9900 vs 0.9900" in res.screened[0].reason


def test_the_most_accurate_dominating_candidate_is_named():
    res = screen_candidates([cand("low", 0.5, 0.95), cand("mid", 0.7, 0.97), cand("top", 0.8, 0.96)])
    assert {s.candidate: s.dominated_by for s in res.screened} == {"low": "mid"}


def test_structured_candidates_and_equal_sparsity_are_never_screened():
    res = screen_candidates([cand("s-50", 0.5, 0.90, "structured"), cand("u-90", 0.9, 0.99),
                             cand("twin-a", 0.9001, 0.99), cand("s-95", 0.95, 0.99, "structured")])
    assert res.screened == []  # another network (structured) or the same sparsity: nothing to conclude
    # a structured candidate never screens an unstructured one either
    res = screen_candidates([cand("s-95", 0.95, 0.999, "structured"), cand("u-50", 0.5, 0.9)])
    assert res.screened == []


def test_screen_json_is_current_only_for_the_same_candidates(fake_run_copy):
    rd = RunDir(fake_run_copy)
    res = screen_run(fake_run_copy)  # the fake run: 50% and 90% at the same accuracy
    assert [s.candidate for s in res.screened] == ["magnitude-fake-50"]
    doc = current_screen(rd)
    assert doc is not None and doc["screened"][0]["dominated_by"] == "magnitude-fake-90" and doc["rule"]
    c = read_json(rd.candidate_json("magnitude-fake-90"))
    write_json(rd.candidate_json("magnitude-fake-90"), {**c, "sha256": "retrained"})
    assert current_screen(rd) is None  # candidates changed: the screen no longer describes them


def test_selection_names_screened_candidates(fake_run_copy):
    from test_select import PI, bench_row

    rd = RunDir(fake_run_copy)
    screen_run(fake_run_copy)
    write_json(rd.bench_json("test-pi"), {"target": "test-pi", "mode": "host-estimate", "rows": [
        bench_row("dense", "onnx", 0.99, 6_000_000, 40.0, 90),
        bench_row("magnitude-fake-90", "onnx", 0.99, 900_000, 40.0, 91)]})
    doc = sel_mod.select(fake_run_copy, PI)
    assert doc["choice"]["key"] == "magnitude-fake-90.onnx"
    (s,) = doc["screened"]["candidates"]
    assert (s["candidate"], s["dominated_by"]) == ("magnitude-fake-50", "magnitude-fake-90")
    # once the screened candidate is benched after all (a build without --screen), it is a row, not a note
    write_json(rd.bench_json("test-pi"), {"target": "test-pi", "mode": "host-estimate", "rows": [
        *read_json(rd.bench_json("test-pi"))["rows"], bench_row("magnitude-fake-50", "onnx", 0.99, 3_000_000, 40.0, 95)]})
    assert "screened" not in sel_mod.select(fake_run_copy, PI)


@pytest.mark.slow
def test_build_skips_screened_candidates_and_says_so(tmp_path):
    import subprocess
    import sys

    script = """
import sys
from edgeprune.build import run_build
from edgeprune.prune import PruneConfig
cfg = PruneConfig(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=0, calib_size=32,
                  strategies=["conservative", "aggressive"])
run_build(cfg, sys.argv[1], "raspberry-pi-4", precision="fp32", formats=["onnx"], screen=sys.argv[2] == "screen")
"""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", script, str(out), "screen"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rd = RunDir(out)
    screen = read_json(out / "screen.json")
    gone = [s["candidate"] for s in screen["screened"]]
    cands = {c: read_json(rd.candidate_json(c)) for c in rd.candidate_ids()}
    lo, hi = sorted(cands.values(), key=lambda c: c["global_sparsity"])
    assert gone == ([lo["id"]] if hi["test_accuracy"] >= lo["test_accuracy"] else [])
    for cid in gone:
        assert f"export: skipping {cid} (dominated before export" in proc.stderr
        assert not (rd.artifacts_dir / f"{cid}.json").exists()
    assert read_json(out / "build.json")["screened_candidates"] == [
        {"candidate": s["candidate"], "dominated_by": s["dominated_by"]} for s in screen["screened"]]
    proc = subprocess.run([sys.executable, "-c", script, str(out), "all"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all((rd.artifacts_dir / f"{c}.json").exists() for c in cands)
    assert read_json(out / "build.json")["screened_candidates"] is None
