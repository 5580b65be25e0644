"""Cache keys (edgeprune/cachekey.py): every input that changes a stage's output changes its key,
nothing else does, and the digests equal those existing run directories hold."""
from __future__ import annotations

import dataclasses

import pytest

from edgeprune.cachekey import STAGES, stage_key
from edgeprune.prune import PruneConfig, run_prune
from edgeprune.prune import importance
from edgeprune.prune.calib import calib_key
from edgeprune.prune.candidate import candidate_key
from edgeprune.prune.recipes import dense_recipe, finetune_recipe
from edgeprune.prune.schedule import Schedule
from edgeprune.prune.structured.stage import candidate_key as structured_key
from edgeprune.runio import RunDir, read_json, sha256_json

CFG = PruneConfig(model="test_resnet", data="digits", seed=3, calib_size=64, calib_batch=32, finetune_epochs=2)
PLAN = {"conv1.weight": 0.25, "fc.weight": 0.5}
DENSE = "d" * 64


# ---------------------------------------------------------------- same digests as before the helper
# Computed by the code before edgeprune/cachekey.py existed (commit dcf1792) from the same inputs:
# a run directory made then keeps resuming.
def test_digests_equal_those_of_the_previous_code():
    it = dataclasses.replace(CFG, schedule="iterative", steps=2)
    assert candidate_key(DENSE, PLAN, "product", CFG) == "8be2a4fde02a917c0562b66d68fb4dc289bc711f967d40bf8c40026b46827063"
    assert candidate_key(DENSE, PLAN, "product", it) == "644e6bea1be0f9424ceb6d7bc8b5e6e9113bc5a3b5f88acd3cb2740558359557"
    # structured candidates changed on purpose (schema 3: BatchNorm re-estimated after every cut, fine-tuned at
    # half the dense rate): a run made before recomputes them (digest then: 4ab0567b...) and keeps this one
    assert structured_key(DENSE, {"g0": 3}, "magnitude", CFG, Schedule()) == \
        "9bd85a8543f040c073190ce8d9e8757a0ad6112dfdb1a67c2ea0a1e555ba122f"
    from edgeprune.export.calibration import _key

    run_info = {"config": {"data": "digits", "input_size": None}, "seed": 3, "data": {"mean": [0.5]}}
    assert _key(run_info, 64) == "73edb7a34d6874ab2cd57c66af72c1f84eb88c9c066e2bfaf28f0ab7962abd00"


def test_dense_key_hashes_the_document_it_hashed_before():
    from edgeprune.data import load_dataset
    from edgeprune.models import resolve_spec
    from edgeprune.prune.dense import dense_key

    data = load_dataset("digits")
    spec = resolve_spec("test_resnet", data.num_classes, data.input_shape[-1], {})
    old = sha256_json({"spec": spec.to_json(), "data": data.info(), "checkpoint": None,
                       "recipe": dense_recipe(CFG).to_json()})
    assert dense_key(CFG, data, spec) == old
    assert dense_key(dataclasses.replace(CFG, dense_epochs=5), data, spec) != old
    assert dense_key(dataclasses.replace(CFG, seed=4), data, spec) != old
    assert dense_key(dataclasses.replace(CFG, device="cpu", executor="ray"), data, spec) == old


def test_ranges_key_matches_the_fields_of_ranges_json():
    doc = {"dense_sha256": DENSE, "calib": calib_key(CFG), "criteria": importance.DEFINITIONS, "layers": []}
    key = stage_key("ranges", dense_sha256=DENSE, calib=calib_key(CFG), criteria=importance.DEFINITIONS)
    assert key.matches(doc)
    for field, value in (("dense_sha256", "e" * 64), ("calib", {**calib_key(CFG), "batch": 16}),
                         ("criteria", {**importance.DEFINITIONS, "mag": "something else"})):
        assert not key.matches({**doc, field: value}), field
    assert not key.matches({k: v for k, v in doc.items() if k != "calib"})  # a field missing: recompute
    structured = stage_key("structured-ranges", dense_sha256=DENSE, schema=2, calib=calib_key(CFG))
    assert structured.matches({"dense_sha256": DENSE, "schema": 2}, absent_ok=("calib",))  # older files


# ---------------------------------------------------------------- each input changes the key
@pytest.mark.parametrize("change", [
    dict(seed=4), dict(calib_size=128), dict(calib_batch=16),  # calibration (and the recipe's seed)
    dict(finetune_epochs=3), dict(finetune_lr=1e-3), dict(batch_size=64), dict(patience=5),  # fine-tune recipe
    dict(schedule="iterative", steps=2), dict(model="levit_128"),  # schedule; another family's recipe (vgg11: same structured one)
])
def test_each_config_input_changes_the_candidate_keys(change):
    cfg = dataclasses.replace(CFG, **change)
    assert candidate_key(DENSE, PLAN, "product", cfg) != candidate_key(DENSE, PLAN, "product", CFG)
    assert structured_key(DENSE, {"g0": 3}, "product", cfg, Schedule(cfg.schedule, cfg.steps)) != \
        structured_key(DENSE, {"g0": 3}, "product", CFG, Schedule())


def test_signal_plan_and_dense_weights_change_the_candidate_keys():
    base = candidate_key(DENSE, PLAN, "product", CFG)
    assert candidate_key(DENSE, PLAN, "gradient", CFG) != base
    assert candidate_key(DENSE, {**PLAN, "fc.weight": 0.6}, "product", CFG) != base
    assert candidate_key("e" * 64, PLAN, "product", CFG) != base
    s = structured_key(DENSE, {"g0": 3}, "product", CFG, Schedule())
    assert structured_key(DENSE, {"g0": 4}, "product", CFG, Schedule()) != s
    assert structured_key(DENSE, {"g0": 3}, "magnitude", CFG, Schedule()) != s
    assert structured_key("e" * 64, {"g0": 3}, "product", CFG, Schedule()) != s
    assert structured_key(DENSE, {"g0": 3}, "product", CFG, Schedule("iterative", 3)) != s


def test_where_it_runs_is_not_part_of_any_key():
    cfg = dataclasses.replace(CFG, device="cpu", executor="ray", ray_address="x:1")
    assert candidate_key(DENSE, PLAN, "product", cfg) == candidate_key(DENSE, PLAN, "product", CFG)


def test_a_key_without_a_declared_input_or_with_an_undeclared_one_is_refused():
    inputs = dict(dense=DENSE, plan=PLAN, signal="product", recipe=finetune_recipe(CFG).to_json(), calib=calib_key(CFG))
    stage_key("candidate", **inputs)
    with pytest.raises(TypeError, match="missing"):
        stage_key("candidate", **{k: v for k, v in inputs.items() if k != "calib"})
    with pytest.raises(TypeError, match="undeclared"):
        stage_key("candidate", **inputs, device="cpu")
    with pytest.raises(ValueError, match="no cache key"):
        stage_key("nonexistent", a=1)
    assert {"dense", "ranges", "candidate", "structured-ranges", "structured-candidate", "int8-calibration"} <= set(STAGES)


# ---------------------------------------------------------------- run level
FAST = dict(model="test_resnet", data="digits", dense_epochs=1, finetune_epochs=0, calib_size=64,
            strategies=["balanced"], signals=["gradient"])


def test_changed_calib_batch_recomputes_phase1_and_candidates_and_a_rerun_reuses_them(tmp_path):
    out = tmp_path / "run"
    run_prune(PruneConfig(**FAST), out)
    rd = RunDir(out)

    def stamps():
        return {"ranges": rd.ranges_json.stat().st_mtime_ns, "dense": rd.dense_weights.stat().st_mtime_ns,
                **{cid: rd.candidate_json(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}}

    first, key = stamps(), read_json(rd.candidate_json("gradient-balanced"))["key"]
    run_prune(PruneConfig(**FAST), out)  # identical: every cache hits
    assert stamps() == first
    run_prune(PruneConfig(**FAST, calib_batch=16), out)
    second = stamps()
    assert second["dense"] == first["dense"]  # the dense model does not depend on the calibration
    assert second["ranges"] != first["ranges"] and read_json(rd.ranges_json)["calib"]["batch"] == 16
    assert second["gradient-balanced"] != first["gradient-balanced"]
    assert read_json(rd.candidate_json("gradient-balanced"))["key"] != key
    run_prune(PruneConfig(**FAST, calib_batch=16), out)  # and the new value is a cache hit in turn
    assert stamps() == second
