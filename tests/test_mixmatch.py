"""The in-memory Mix-and-Match API (edgeprune.prune.mixmatch): same results as the prune stage, no run directory."""
from __future__ import annotations

import pytest
import torch

from edgeprune.data import load_dataset
from edgeprune.models import build
from edgeprune.prune import (PruneConfig, apply_masks, calibration, layer_ranges, masks_for, prunable_layers, run_prune,
                             strategy_plans)
from edgeprune.prune.masks import measured_sparsity, planned_count
from edgeprune.runio import RunDir, read_json

FAST = dict(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=0, calib_size=64,
            strategies=["conservative", "balanced", "interp-0.5", "aggressive"], signals=["product"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mm") / "run"
    cfg = PruneConfig(**FAST)
    return cfg, run_prune(cfg, out), RunDir(out)


def test_in_memory_phases_equal_the_stage_files(run):
    from edgeprune.models import ModelSpec

    cfg, res, rd = run
    model = build(ModelSpec.from_json(read_json(rd.run_json)["model"]), rd.dense_weights)
    calib = calibration(load_dataset(cfg.data), cfg)
    ranges = layer_ranges(model, calib)
    assert [r.to_json() for r in ranges] == read_json(rd.ranges_json)["layers"]
    plans, merged = strategy_plans(ranges, cfg.strategies)
    assert merged["balanced"] == ["interp-0.5"]
    doc = read_json(rd.strategies_json)["strategies"]
    assert {k: v["target"] for k, v in doc.items()} == plans
    # finetune_epochs=0: a candidate is exactly the dense model with the signal's masks applied
    from safetensors.torch import load_file

    for c in res.candidates:
        m = build(ModelSpec.from_json(read_json(rd.run_json)["model"]), rd.dense_weights)
        apply_masks(m, masks_for(m, plans[c["strategy"]], c["signal"], calib))
        saved = load_file(str(rd.candidate_weights(c["id"])))
        for name in plans[c["strategy"]]:
            assert torch.equal(m.state_dict()[name], saved[name]), (c["id"], name)


def test_masks_meet_the_plan_exactly_and_hold():
    torch.manual_seed(0)
    from edgeprune.models import create_model, resolve_spec

    model = create_model(resolve_spec("test_resnet", 10, 32))
    calib = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)))]
    layers = prunable_layers(model)
    plan = {l.name: 0.6 for l in layers}
    masks = masks_for(model, plan, "gradient", calib)
    hold = apply_masks(model, masks)
    got = measured_sparsity(model.state_dict(), plan)
    for l in layers:
        assert got[l.name] == planned_count(0.6, l.numel) / l.numel
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    hold.apply()
    assert measured_sparsity(model.state_dict(), plan) == got
    given = {l.name: torch.arange(l.numel, dtype=torch.float).view(l.shape) for l in layers}  # precomputed scores
    first = layers[0]
    mask = masks_for(model, plan, given)[first.name].flatten()
    assert not mask[:planned_count(0.6, first.numel)].any() and mask[planned_count(0.6, first.numel):].all()
