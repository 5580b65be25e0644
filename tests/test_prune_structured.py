"""Structured Mix-and-Match: count rules, groups, exact parameter model, group scores, plans, resume, fallback."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.models import create_model, resolve_spec
from edgeprune.errors import EdgepruneError
from edgeprune.prune import PruneConfig, run_prune
from edgeprune.prune.ranges import LayerRange
from edgeprune.prune.structured.cost import probe
from edgeprune.prune.structured.groups import build_graph, classifier_modules, current_units, discover_groups, remove_units
from edgeprune.prune.structured.plan import ChannelPlan, rebuild
from edgeprune.prune.structured.ranges import RULES, apply_rules, global_removal, kept_units, realise
from edgeprune.prune.structured.scores import element_scores, hessian_gradient, unit_scores
from edgeprune.runio import RunDir, read_json

X = torch.zeros(1, 3, 32, 32)
FAST = dict(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=1, calib_size=64,
            strategies=["conservative", "balanced", "aggressive"], granularity="structured")


def _net(name: str) -> nn.Module:
    torch.manual_seed(0)
    return create_model(resolve_spec(name, 10, 32)).eval()


# ---------------------------------------------------------------- rules
@pytest.mark.parametrize("size,unit,rho,hi,kept", [
    (64, "channel", 0.0, 0.9, 64),    # nothing planned: untouched
    (64, "channel", 0.5, 0.9, 32),    # multiple of 8
    (64, "channel", 0.45, 0.9, 32),   # 35.2 -> nearest multiple of 8
    (64, "channel", 0.95, 0.9, 8),    # clamp 90% and keep >= 8
    (512, "channel", 0.9, 0.9, 56),   # 51.2 kept: 48 would remove more than 90%
    (64, "channel", 0.1, 0.1, 64),    # [0,10%] range: 56 would remove 12.5%
    (36, "channel", 0.05, 0.9, 36),   # 34.2: keeping all 36 is nearer than 32
    (16, "channel", 0.9, 0.9, 8),     # < 32: no rounding, but >= 8 channels
    (16, "channel", 0.1, 0.1, 15),    # never more than the range's 10%
    (8, "channel", 0.9, 0.9, 8),      # a group of 8 keeps all 8
    (3, "head", 0.9, 0.9, 1),         # >= 1 head
    (3, "head", 0.4, 0.9, 2),
    (12, "head", 0.5, 0.9, 6),
])
def test_kept_unit_rules(size, unit, rho, hi, kept):
    assert kept_units(size, unit, rho, hi) == kept


def _group_like(name, role, numel):
    return type("G", (), {"name": name, "role": role, "numel": numel})()


@pytest.mark.parametrize("role,numel,raw,expected,rule", [
    ("patch_embed", 50_000, (0.5, 0.8), (0.15, 0.30), "patch_embed"),
    ("feature", 9_999, (0.3, 0.9), (0.10, 0.10), "small_layer"),
    ("feature", 20_000, (0.3, 0.97), (0.3, 0.90), "clamp"),
    ("feature", 20_000, (0.3, 0.8), (0.3, 0.8), "baselines"),
])
def test_structured_range_rules(role, numel, raw, expected, rule):
    final, which, _ = apply_rules(_group_like("g", role, numel), raw, RULES)
    assert which == rule and final == pytest.approx(expected)


def test_classifier_outputs_are_never_a_group():
    for name in ("test_resnet", "test_vit"):
        m = _net(name)
        groups = discover_groups(m, build_graph(m, X, name))
        heads = {n for n, mod in m.named_modules() if any(mod is c for c in classifier_modules(m))}
        assert heads and not any(set(g.outputs) & heads for g in groups)


def test_vit_groups_are_heads_mlp_units_and_the_patch_embedding():
    m = _net("test_vit")
    groups = {g.name: g for g in discover_groups(m, build_graph(m, X, "test_vit"))}
    assert groups["blocks.0.attn.heads"].unit == "head" and groups["blocks.0.attn.heads"].size == 2
    assert groups["blocks.0.mlp.fc1"].unit == "channel"
    assert groups["patch_embed.proj"].role == "patch_embed"


# ---------------------------------------------------------------- exact parameter model
@pytest.mark.parametrize("name", ["test_resnet", "test_vit"])
def test_parameter_model_is_exact(name):
    m = _net(name)
    dg = build_graph(m, X, name)
    groups = discover_groups(m, dg)
    pm = probe(_net(name), X, groups, name)
    rng = np.random.default_rng(0)
    removed = {g.name: int(rng.integers(0, g.size)) for g in groups}
    for g in groups:
        remove_units(dg, m, g, list(range(removed[g.name])))
        assert current_units(m, g) == g.size - removed[g.name]
    assert m(X).shape == (1, 10)
    assert pm.count(removed) == sum(p.numel() for p in m.parameters())
    named = dict(m.named_parameters())
    assert pm.count(removed, pm.prunable) == sum(named[n].numel() for n in pm.prunable)


def test_global_removal_reaches_the_parameter_target_lowest_scores_first():
    m = _net("test_resnet")
    dg = build_graph(m, X, "test_resnet")
    groups = discover_groups(m, dg)
    pm = probe(_net("test_resnet"), X, groups, "test_resnet")
    scores = {g.name: torch.arange(g.size, dtype=torch.float32) + 1 for g in groups}
    for t in (0.7, 0.8, 0.9):
        removed, achieved = global_removal(scores, groups, pm, t)
        assert t <= achieved < t + 0.05 and achieved == pm.removal(removed)
        assert all(0 <= removed[g.name] < g.size for g in groups)


# ---------------------------------------------------------------- scores
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.fc = nn.Conv2d(4, 6, 3, padding=1), nn.Linear(6, 10)

    def forward(self, x):
        x = torch.tanh(self.conv2(torch.tanh(self.bn(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))


def _calib():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(2)]


def test_group_scores_sum_every_slice_of_the_unit():
    torch.manual_seed(0)
    m, calib = Tiny().eval(), _calib()
    dg = build_graph(m, torch.zeros(1, 3, 8, 8), "tiny")
    g = next(g for g in discover_groups(m, dg) if g.name == "conv1")
    assert g.outputs == ["conv1"] and g.inputs == ["conv2"]
    for crit, finish in (("mag", torch.sqrt), ("snip", torch.abs), ("grasp", lambda t: t), ("product", lambda t: t)):
        e = element_scores(crit, m, calib)
        got = unit_scores(crit, dg, m, [g], e)["conv1"]
        want = finish(e["conv1.weight"].flatten(1).sum(1) + e["conv2.weight"].transpose(0, 1).flatten(1).sum(1))
        assert torch.allclose(got, want.float(), rtol=1e-5, atol=1e-7), crit
    w1, w2 = m.conv1.weight.detach(), m.conv2.weight.detach()
    mag = unit_scores("mag", dg, m, [g], element_scores("mag", m, calib))["conv1"]
    assert torch.allclose(mag, (w1.pow(2).flatten(1).sum(1) + w2.pow(2).transpose(0, 1).flatten(1).sum(1)).sqrt())


def test_hessian_gradient_matches_finite_differences():
    torch.manual_seed(0)
    m, calib = Tiny().double().eval(), [(x.double(), y) for x, y in _calib()]
    layers = [type("L", (), {"name": n})() for n in ("conv1.weight", "conv2.weight", "fc.weight")]
    hg = hessian_gradient(m, layers, calib)
    params = [dict(m.named_parameters())[l.name] for l in layers]

    def grad():
        total = [torch.zeros_like(p) for p in params]
        for xb, yb in calib:
            for acc, gi in zip(total, torch.autograd.grad(nn.functional.cross_entropy(m(xb), yb), params)):
                acc += gi / len(calib)
        return total

    g0, eps = grad(), 1e-4
    with torch.no_grad():
        for p, gi in zip(params, g0):
            p += eps * gi
    plus = grad()
    with torch.no_grad():
        for p, gi in zip(params, g0):
            p -= 2 * eps * gi
    minus = grad()
    for l, a, b in zip(layers, plus, minus):
        assert torch.allclose(hg[l.name], (a - b) / (2 * eps), rtol=1e-4, atol=1e-8), l.name


# ---------------------------------------------------------------- the stage, plans, resume, fallback
@pytest.fixture(scope="module")
def structured_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("structured") / "run"
    return out, run_prune(PruneConfig(**FAST), out)


def test_structured_outputs_follow_the_contract(structured_run):
    out, res = structured_run
    rd = RunDir(out)
    doc = read_json(rd.ranges_structured_json)
    assert set(doc["achieved"]) == {f"{c}@{t}" for c in ("mag", "snip", "grasp") for t in (70, 80, 90)}
    assert all(abs(v - int(k.split("@")[1]) / 100) < 0.05 for k, v in doc["achieved"].items())
    for r in doc["layers"]:
        assert 0.0 <= r["range"][0] <= r["range"][1] <= 0.90
    assert not rd.ranges_json.exists()  # structured only: no unstructured phase
    ids = rd.candidate_ids()
    assert ids == ["structured-magnitude-aggressive", "structured-magnitude-balanced", "structured-magnitude-conservative"]
    for c in res.candidates:
        on_disk = read_json(rd.candidate_json(c["id"]))
        assert on_disk["granularity"] == "structured" and on_disk["round_trip_max_abs_diff"] == 0.0
        for name, ch in on_disk["channels"].items():
            assert ch["planned"] == ch["resulting"] and 1 <= ch["resulting"] <= ch["size"]
            if ch["unit"] == "channel" and ch["size"] >= 32 and ch["resulting"] != ch["size"]:
                assert ch["resulting"] % 8 == 0
            if ch["unit"] == "channel":
                assert ch["resulting"] >= min(8, ch["size"])
        assert on_disk["params"]["pruned"] < on_disk["params"]["dense"]
        assert on_disk["macs"]["pruned"] < on_disk["macs"]["dense"]
        layers = on_disk["layers"]  # per conv/linear layer: params and MACs, dense and pruned
        assert all(v["pruned"]["params"] <= v["dense"]["params"] and v["pruned"]["macs"] <= v["dense"]["macs"]
                   for v in layers.values())
        assert layers["fc"]["pruned"]["params"] < layers["fc"]["dense"]["params"]  # inputs shrink, outputs stay
        (step,) = on_disk["steps"]  # BatchNorm re-estimated after the cut, before fine-tuning; both accuracies logged
        assert 0 <= step["val_accuracy_after_cut"] <= 1 and 0 <= step["val_accuracy_after_bn_recalibration"] <= 1
        assert step["val_accuracy"] >= step["val_accuracy_after_bn_recalibration"]  # epoch 0 is a candidate
        assert on_disk["recipe"]["lr"] == 5e-4  # half test_resnet's dense rate, not the unstructured 5e-5
    by = {c["strategy"]: c["global_sparsity"] for c in res.candidates}
    assert by["conservative"] < by["balanced"] < by["aggressive"]


def test_plan_round_trip_gives_identical_outputs(structured_run):
    out, res = structured_run
    rd = RunDir(out)
    cid = "structured-magnitude-aggressive"
    plan = read_json(rd.candidate_structure(cid))
    json.dumps(plan)  # plain JSON: nothing to unpickle
    model = rebuild(rd.candidate_structure(cid), rd.candidate_weights(cid))
    assert model.fc.out_features == 10  # classifier outputs kept
    x = torch.from_numpy(np.load(rd.test_npz)["x"][:16])
    again = rebuild(ChannelPlan.from_json(plan), rd.candidate_weights(cid))
    assert torch.equal(model(x), again(x))
    # the rebuilt network is the one that was evaluated: same test accuracy as recorded
    y = np.load(rd.test_npz)["y"]
    with torch.no_grad():
        acc = float((model(torch.from_numpy(np.load(rd.test_npz)["x"])).argmax(1).numpy() == y).mean())
    assert acc == pytest.approx(read_json(rd.candidate_json(cid))["test_accuracy"])
    # a plan that does not match the weights is refused with a one-line error
    plan["groups"][-1]["removed"] = plan["groups"][-1]["removed"][:-1]
    from edgeprune.errors import EdgepruneError
    with pytest.raises(EdgepruneError, match="shape mismatch"):
        rebuild(plan, rd.candidate_weights(cid))


def test_structured_resume_after_a_killed_candidate(structured_run, tmp_path):
    out, res = structured_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    rd = RunDir(copy)
    victim = "structured-magnitude-balanced"
    shutil.rmtree(rd.candidate_dir(victim))
    (copy / "candidates" / f".{victim}.edgeprune-abc.tmp").mkdir()  # what a kill -9 mid-write leaves (marked)
    kept = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}
    ranges = rd.ranges_structured_json.stat().st_mtime_ns
    run_prune(PruneConfig(**FAST), copy)
    assert victim in rd.candidate_ids() and not list((copy / "candidates").glob(".*.tmp"))
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in kept} == kept
    assert rd.ranges_structured_json.stat().st_mtime_ns == ranges


def test_unsupported_family_falls_back_to_unstructured(tmp_path):
    # test_nfnet's weight-standardised convs keep a per-channel gain Torch-Pruning does not shrink
    cfg = PruneConfig(**{**FAST, "model": "test_nfnet", "strategies": ["conservative"], "finetune_epochs": 0})
    res = run_prune(cfg, tmp_path / "run")
    assert res.structured_fallback and "stem.conv1" in res.structured_fallback
    assert [c["id"] for c in res.candidates] == ["product-conservative"]
    doc = read_json(RunDir(tmp_path / "run").ranges_structured_json)
    assert doc["unsupported"]["layer"] == "stem.conv1" and doc["fallback"] == "unstructured"


def test_realise_merges_nothing_it_should_not():
    groups = [type("G", (), {"name": "a", "size": 64, "unit": "channel"})()]
    ranges = [LayerRange("a", "feature", 50_000, {}, (0.2, 0.6), (0.2, 0.6), "baselines")]
    assert realise({"a": 0.5}, groups, ranges) == {"a": 32}
    assert realise({"a": 0.9}, groups, ranges) == {"a": 32}  # capped at the range maximum 0.6: >= 25.6 kept


# ---------------------------------------------------------------- schedules
def test_schedules_split_the_same_budget():
    from edgeprune.prune.schedule import cubic, linear, split_epochs

    assert split_epochs(12, 3) == [4, 4, 4] and split_epochs(2, 3) == [0, 1, 1] and split_epochs(5, 1) == [5]
    assert [round(cubic(s, 3), 4) for s in (1, 2, 3)] == [0.7037, 0.963, 1.0]
    assert [linear(s, 4) for s in (1, 2, 3, 4)] == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("granularity", ["unstructured", "structured"])
def test_iterative_schedule_reaches_the_plan_within_the_budget(tmp_path, granularity):
    cfg = PruneConfig(**{**FAST, "granularity": granularity, "strategies": ["aggressive"], "finetune_epochs": 2,
                         "schedule": "iterative", "steps": 2})
    res = run_prune(cfg, tmp_path / "run")
    (c,) = res.candidates
    assert c["schedule"] == {"name": "iterative", "steps": 2} and len(c["steps"]) == 2
    assert c["epochs"] <= 2 and c["epochs"] == sum(s["epochs"] for s in c["steps"])
    if granularity == "structured":
        assert [s["removed_fraction_of_plan"] for s in c["steps"]] == [0.5, 1.0]
        assert all(ch["planned"] == ch["resulting"] for ch in c["channels"].values())
        oneshot = run_prune(PruneConfig(**{**cfg.to_json(), "schedule": "oneshot"}), tmp_path / "one").candidates[0]
        assert oneshot["channels"] == c["channels"] and "steps" in oneshot and len(oneshot["steps"]) == 1
    else:
        assert [round(s["sparsity_fraction_of_plan"], 4) for s in c["steps"]] == [0.875, 1.0]
        assert all(abs(c["measured"][k] - p) <= 1e-3 for k, p in c["planned"].items())


# ---------------------------------------------------------------- select and report mark the granularity
def test_selection_rows_and_report_mark_granularity(tmp_path):
    import base64

    from edgeprune.runio import write_json
    from edgeprune.select import _granularity
    from edgeprune.ship.pareto import pareto_png

    rd = RunDir(tmp_path)
    write_json(rd.candidate_json("structured-product-balanced"), {"granularity": "structured"})
    write_json(rd.candidate_json("product-balanced"), {"id": "product-balanced"})  # before granularity existed
    assert _granularity(rd, "structured-product-balanced") == "structured"
    assert _granularity(rd, "product-balanced") == "unstructured"
    assert _granularity(rd, "dense") == "dense" and _granularity(rd, "gone") is None
    rows = [{"key": f"{c}.onnx", "candidate": c, "granularity": g, "accuracy": a, "size_mb": s, "latency_ms": l,
             "peak_ram_mb": 10.0, "provenance": {}, "eligible": True, "feasible": True, "pareto": True,
             "chosen": c == "dense", "error": None}
            for c, g, a, s, l in (("dense", "dense", 0.99, 44.0, 10.0), ("product-balanced", "unstructured", 0.98, 8.0, 10.0),
                                  ("structured-product-balanced", "structured", 0.97, 6.0, 3.0))]
    sel = {"rows": rows, "target": "t", "format": "onnx",
           "budgets": {k: {"limit": None, "source": "-"} for k in ("min_accuracy", "max_latency_ms", "max_size_mb")}}
    png = base64.b64decode(pareto_png(sel).png)
    assert png.startswith(b"\x89PNG")


def test_an_analysis_that_never_ends_falls_back(tmp_path, monkeypatch):
    import time as _time

    from edgeprune.prune.structured import stage

    def forever(*a, **k):
        while True:
            _time.sleep(0.05)

    monkeypatch.setattr(stage, "ANALYSIS_SECONDS", 1)
    monkeypatch.setattr(stage, "discover_groups", forever)  # what Torch-Pruning does on timm's test_coatnet
    cfg = PruneConfig(**{**FAST, "strategies": ["conservative"], "finetune_epochs": 0})
    res = run_prune(cfg, tmp_path / "run")
    assert "no result after 1 s" in res.structured_fallback
    assert [c["id"] for c in res.candidates] == ["product-conservative"]


def test_each_granularity_has_its_measured_default_signal_and_given_signals_apply_to_both():
    default = PruneConfig()
    assert default.signals == ["product"] and default.structured_signals == ["magnitude"]
    given = PruneConfig(signals=["gradient", "product"])
    assert given.signals == given.structured_signals == ["gradient", "product"]
    assert PruneConfig(**default.to_json()).structured_signals == ["magnitude"]  # run.json round trip
    old = {k: v for k, v in default.to_json().items() if k != "structured_signals"}  # a run made before the split
    assert PruneConfig(**old).structured_signals == ["product"]  # keeps what that run pruned with
    with pytest.raises(EdgepruneError, match="Unknown signal"):
        run_prune(PruneConfig(structured_signals=["l1"]), "/nonexistent/never-created")
