"""Phase 1 range derivation, every structural rule, and the ten strategies' formulas."""
from __future__ import annotations

import pytest
import torch

from edgeprune.prune.layers import Layer, discover
from edgeprune.prune.masks import build_masks, global_layer_sparsity, layer_mask, planned_count
from edgeprune.prune.ranges import CLAMP, LayerRange, apply_rules, derive_ranges
from edgeprune.prune.strategies import STRATEGIES, make_plans


def L(name, numel, role="feature", prunable=True, kind="conv"):
    return Layer(name, name.rsplit(".", 1)[0], kind if prunable else "norm", numel, [numel], role, prunable)


def test_global_threshold_is_one_threshold_and_exact():
    # layer a holds the 30 smallest scores, b the rest: at 30% global, a is fully pruned
    scores = {"a": torch.arange(30, dtype=torch.float32), "b": torch.arange(30, 100, dtype=torch.float32)}
    s = global_layer_sparsity(scores, 0.3)
    assert s == {"a": 1.0, "b": 0.0}
    s = global_layer_sparsity(scores, 0.5)
    assert s["a"] == 1.0 and s["b"] == pytest.approx(20 / 70)


def test_global_threshold_splits_ties_so_the_count_is_exact():
    scores = {"a": torch.zeros(50), "b": torch.zeros(50)}
    s = global_layer_sparsity(scores, 0.7)
    assert s["a"] * 50 + s["b"] * 50 == pytest.approx(70)


def test_ranges_are_min_max_over_nine_baseline_runs():
    layers = [L("big1.weight", 20_000), L("big2.weight", 20_000)]
    g = torch.Generator().manual_seed(0)
    scores = {c: {l.name: torch.rand(l.numel, generator=g) * (1.05 if i == 1 else 1.0) for i, l in enumerate(layers)}
              for c in ("mag", "snip", "grasp")}
    ranges = {r.name: r for r in derive_ranges(layers, scores)}
    r = ranges["big1.weight"]
    assert len(r.observed) == 9 and set(r.observed) == {f"{c}@{t}" for c in ("mag", "snip", "grasp") for t in (70, 80, 90)}
    assert r.raw == (min(r.observed.values()), max(r.observed.values()))
    assert r.range == r.raw and r.rule == "baselines"
    # layer 1's scores are scaled up, so it is pruned less than layer 0 at every target
    assert ranges["big2.weight"].hi < r.hi


@pytest.mark.parametrize("layer,raw,expected,rule", [
    (L("bn.weight", 64, role="norm", prunable=False), (0.0, 0.0), (0.0, 0.0), "norm"),
    (L("patch_embed.proj.weight", 9216, role="patch_embed"), (0.0, 0.05), (0.15, 0.30), "patch_embed"),
    (L("patch_embed.proj.weight", 50_000, role="patch_embed"), (0.6, 0.99), (0.15, 0.30), "patch_embed"),
    (L("small.weight", 9_999), (0.2, 0.9), (0.10, 0.10), "small_layer"),
    (L("small.weight", 9_999), (0.0, 0.05), (0.0, 0.05), "small_layer"),
    (L("big.weight", 10_000), (0.5, 0.995), (0.5, CLAMP[1]), "clamp"),
    (L("big.weight", 10_000), (0.5, 0.9), (0.5, 0.9), "baselines"),
])
def test_structural_rules(layer, raw, expected, rule):
    final, which, _ = apply_rules(layer, raw)
    assert which == rule
    assert final == pytest.approx(expected)


def test_patch_embed_rule_fires_on_a_vit():
    from edgeprune.models import create_model, resolve_spec

    spec = resolve_spec("deit_tiny_patch16_224", 10, 32)
    assert spec.kwargs == {"img_size": 32, "patch_size": 4}
    layers = discover(create_model(spec))
    pe = [l for l in layers if l.role == "patch_embed"]
    assert [l.name for l in pe] == ["patch_embed.proj.weight"]
    # the patch embedding has < 10K weights here (3*4*4*192 = 9216): the patch rule still wins
    assert pe[0].numel < 10_000
    scores = {c: {l.name: torch.rand(l.numel) for l in layers if l.prunable} for c in ("mag", "snip", "grasp")}
    ranges = {r.name: r for r in derive_ranges(layers, scores)}
    assert ranges["patch_embed.proj.weight"].rule == "patch_embed"
    assert ranges["patch_embed.proj.weight"].range == (0.15, 0.30)
    norms = [r for r in ranges.values() if r.role == "norm"]
    assert norms and all(r.range == (0.0, 0.0) and r.rule == "norm" for r in norms)
    assert not any(l.prunable for l in layers if l.name.endswith(("pos_embed", "cls_token")))


def _ranges():
    return [
        LayerRange("f1", "feature", 100, {}, (0.2, 0.6), (0.2, 0.6), "baselines"),
        LayerRange("f2", "feature", 1000, {}, (0.4, 0.9), (0.4, 0.9), "baselines"),
        LayerRange("s4", "last_stage", 5000, {}, (0.5, 0.95), (0.5, 0.95), "baselines"),
        LayerRange("fc", "head", 900, {}, (0.0, 0.1), (0.0, 0.1), "small_layer"),
    ]


def test_ten_strategy_formulas():
    rs = _ranges()
    assert len(STRATEGIES) == 10
    lo = {r.name: r.lo for r in rs}
    hi = {r.name: r.hi for r in rs}
    mid = {k: (lo[k] + hi[k]) / 2 for k in lo}
    assert STRATEGIES["conservative"](rs) == lo
    assert STRATEGIES["aggressive"](rs) == hi
    assert STRATEGIES["balanced"](rs) == pytest.approx(mid)
    for a in (0.3, 0.5, 0.7, 0.9):
        assert STRATEGIES[f"interp-{a}"](rs) == pytest.approx({k: lo[k] + a * (hi[k] - lo[k]) for k in lo})
    mean_n = (100 + 1000 + 5000 + 900) / 4
    pp = STRATEGIES["param-proportional"](rs)
    for r in rs:
        b = min(1.0, r.params / mean_n * 0.1)
        assert pp[r.name] == pytest.approx(r.lo + b * (r.hi - r.lo))
    assert pp["s4"] - lo["s4"] > pp["f1"] - lo["f1"]  # big layers pruned harder
    assert STRATEGIES["head-heavy"](rs) == {"f1": 0.2, "f2": 0.4, "s4": 0.95, "fc": 0.1}
    assert STRATEGIES["feature-heavy"](rs) == pytest.approx({"f1": 0.6, "f2": 0.9, "s4": 0.95, "fc": 0.05})


def test_identical_strategies_are_merged_and_reported():
    plans, merged = make_plans(_ranges())
    assert "interp-0.5" not in plans and merged["balanced"] == ["interp-0.5"]  # identical by definition
    # with a zero-width head range, feature-heavy equals aggressive
    rs = [r if r.role != "head" else LayerRange("fc", "head", 900, {}, (0.1, 0.1), (0.1, 0.1), "small_layer") for r in _ranges()]
    plans, merged = make_plans(rs)
    assert "feature-heavy" not in plans and "feature-heavy" in merged["aggressive"]
    assert len(plans) + sum(len(v) for v in merged.values()) == 10


def test_masks_remove_exact_whole_weight_counts():
    g = torch.Generator().manual_seed(1)
    score = torch.rand(37, 11, generator=g)
    for rho in (0.0, 0.013, 0.5, 0.98, 1.0):
        keep = layer_mask(score, planned_count(rho, score.numel()))
        assert int((~keep).sum()) == planned_count(rho, score.numel())
        if 0 < rho < 1:  # the removed ones are the lowest scores
            assert score[~keep].max() <= score[keep].min()
    layers = [L("w", 407)]
    masks = build_masks({"w": score.flatten()[:407]}, {"w": 0.3}, layers)
    assert int((~masks["w"]).sum()) == round(0.3 * 407)
