"""Structured pruning and export of every family the issue lists (no training: shapes, rules and parity).

Slow (minutes each: Phase 1 GraSP on the real networks and two converters).
VGG-11 runs with a narrower classifier MLP (``mlp_ratio=0.0625``) so its
7x7 ``pre_logits.fc1`` does not hold 100M weights; the structure is the same.
"""
from __future__ import annotations

import pytest

from edgeprune.export import export_run
from edgeprune.prune import PruneConfig, run_prune
from edgeprune.runio import RunDir, read_json


@pytest.mark.slow
@pytest.mark.parametrize("model,args,unit", [
    ("resnet18", {}, "channel"),
    ("vgg11", {"mlp_ratio": 0.0625}, "channel"),
    ("mobilenetv3_small_100", {}, "channel"),
    ("deit_tiny_patch16_224", {}, "head"),  # img 32, patch 4: heads and MLP hidden units
])
def test_family_pruned_structurally_and_exported(tmp_path, model, args, unit):
    out = tmp_path / "run"
    cfg = PruneConfig(model=model, model_args=args, dense_epochs=0, finetune_epochs=0, calib_size=32, calib_batch=32,
                      granularity="structured", strategies=["aggressive"])
    res = run_prune(cfg, out)
    assert res.structured_fallback is None
    (c,) = res.candidates
    assert c["id"] == "structured-magnitude-aggressive" and c["params"]["pruned"] < 0.5 * c["params"]["dense"]
    assert any(ch["unit"] == unit and ch["resulting"] < ch["size"] for ch in c["channels"].values())
    records = export_run(out, candidates=[c["id"], "dense"], precisions="fp32")
    rd = RunDir(out)
    rec = records[c["id"]]
    assert rec["source"]["structure"] == f"candidates/{c['id']}/structure.json"
    for fmt in ("onnx", "tflite"):
        entry = rec["formats"][fmt]
        assert "error" not in entry and entry["parity"]["top1_agreement"] == 1.0
        assert entry["bytes"] < 0.5 * records["dense"]["formats"][fmt]["bytes"]
    assert read_json(rd.artifact_json(c["id"]))["formats"]["onnx"]["encoding"]


@pytest.mark.slow
def test_build_with_both_granularities_selects_across_them(tmp_path):
    from edgeprune.build import run_build

    out = tmp_path / "run"
    cfg = PruneConfig(model="test_resnet", dense_epochs=1, finetune_epochs=1, calib_size=64,
                      strategies=["conservative", "aggressive"], granularity="both")
    bundle = run_build(cfg, out, "raspberry-pi-4", precision="fp32")
    sel = read_json(RunDir(out).selection_json)
    grains = {r["candidate"]: r["granularity"] for r in sel["rows"]}
    assert grains["dense"] == "dense" and grains["product-aggressive"] == "unstructured"
    assert grains["structured-magnitude-aggressive"] == "structured"
    assert (bundle / "manifest.json").is_file()
