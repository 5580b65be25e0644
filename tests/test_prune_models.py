"""Phase 1-3 run on the timm families the product promises (tiny budgets: 1 dense epoch, no fine-tuning)."""
from __future__ import annotations

import pytest

from edgeprune.prune import PruneConfig, run_prune
from edgeprune.runio import RunDir, read_json


@pytest.mark.slow
@pytest.mark.parametrize("model,patch_rule", [
    ("mobilenetv3_small_100", False),
    ("deit_tiny_patch16_224", True),   # img_size 32, patch 4
    ("levit_128s", True),              # conv stem is its patch embedding
])
def test_prune_runs_on_model_family(tmp_path, model, patch_rule):
    cfg = PruneConfig(model=model, dense_epochs=1, finetune_epochs=0, calib_size=32, calib_batch=32,
                      strategies=["conservative", "aggressive"])
    res = run_prune(cfg, tmp_path / "run")
    rd = RunDir(tmp_path / "run")
    layers = read_json(rd.ranges_json)["layers"]
    rules = {l["rule"] for l in layers}
    assert ("patch_embed" in rules) == patch_rule
    for l in layers:
        if l["rule"] == "patch_embed":
            assert l["range"] == [0.15, 0.30]
        assert 0.0 <= l["range"][0] <= l["range"][1] <= 0.98
    assert {c["strategy"] for c in res.candidates} == {"conservative", "aggressive"}
    for c in res.candidates:
        assert all(abs(c["measured"][k] - p) <= 1e-3 for k, p in c["planned"].items())
