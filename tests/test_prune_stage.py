"""The prune stage end to end on a tiny model: outputs, masks held, resume, bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from edgeprune.data import load_dataset
from edgeprune.models import build, create_model, resolve_spec
from edgeprune.prune import PruneConfig, run_prune
from edgeprune.runio import RunDir, read_json
from edgeprune.train import TrainConfig, fit

FAST = dict(model="test_resnet", data="digits", dense_epochs=2, finetune_epochs=1, calib_size=64,
            strategies=["conservative", "balanced", "interp-0.5", "aggressive"])


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    out = tmp_path_factory.mktemp("prune") / "run"
    res = run_prune(PruneConfig(**FAST), out)
    return out, res


def test_outputs_follow_the_contract(pruned):
    out, res = pruned
    rd = RunDir(out)
    run = read_json(rd.run_json)
    assert run["data"]["input_shape"] == [1, 3, 32, 32] and len(run["data"]["labels"]) == 10
    assert set(run["data"]["splits"]) == {"train", "val", "test"}
    assert {"val_accuracy", "test_accuracy"} <= set(run["dense"]) and run["seed"] == 0
    assert "torch" in run["versions"]
    ranges = read_json(rd.ranges_json)["layers"]
    assert all({"params", "observed", "range", "rule"} <= set(l) for l in ranges)
    # interp-0.5 equals balanced by definition: kept once, reported as merged
    assert rd.candidate_ids() == ["product-aggressive", "product-balanced", "product-conservative"]
    cands = {c["strategy"]: c for c in res.candidates}
    assert cands["balanced"]["merged"] == ["product-interp-0.5"]
    for c in res.candidates:
        on_disk = read_json(rd.candidate_json(c["id"]))
        assert {"id", "signal", "strategy", "planned", "measured", "global_sparsity", "val_accuracy",
                "test_accuracy", "epochs", "seconds"} <= set(on_disk)
        for name, p in on_disk["planned"].items():
            assert abs(on_disk["measured"][name] - p) <= 1e-3  # within 0.1 percentage point
    assert cands["conservative"]["global_sparsity"] < cands["balanced"]["global_sparsity"] < cands["aggressive"]["global_sparsity"]


def test_candidate_weights_have_the_zeros_they_claim(pruned):
    from safetensors.torch import load_file

    out, res = pruned
    rd = RunDir(out)
    c = next(c for c in res.candidates if c["strategy"] == "aggressive")
    sd = load_file(str(rd.candidate_weights(c["id"])))
    for name, s in c["measured"].items():
        assert float((sd[name] == 0).float().mean()) == pytest.approx(s)


def test_resume_recomputes_nothing(pruned):
    out, res = pruned
    rd = RunDir(out)
    before = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}
    dense_before = rd.dense_weights.stat().st_mtime_ns
    res2 = run_prune(PruneConfig(**FAST), out)
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()} == before
    assert rd.dense_weights.stat().st_mtime_ns == dense_before
    assert [c["sha256"] for c in res2.candidates] == [c["sha256"] for c in res.candidates]


def test_changed_calib_batch_recomputes_ranges_and_candidates(pruned, tmp_path):
    """calib_batch changes the gradient scores: a resume with another value must not reuse them (issue 11)."""
    import shutil

    out, res = pruned
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    rd = RunDir(copy)
    dense_before = rd.dense_weights.stat().st_mtime_ns
    assert read_json(rd.ranges_json)["calib"] == {"size": 64, "batch": 64, "seed": 0}
    keys = {c["id"]: c["key"] for c in res.candidates}
    res2 = run_prune(PruneConfig(**FAST, calib_batch=24), copy)
    assert read_json(rd.ranges_json)["calib"] == {"size": 64, "batch": 24, "seed": 0}  # phase 1 ran again
    assert all(keys[c["id"]] != c["key"] for c in res2.candidates)  # every candidate was pruned again
    assert all(read_json(rd.candidate_json(c["id"]))["key"] == c["key"] for c in res2.candidates)
    assert rd.dense_weights.stat().st_mtime_ns == dense_before  # the dense model does not depend on it
    again = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}
    run_prune(PruneConfig(**FAST, calib_batch=24), copy)  # and the new value is a cache hit
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()} == again


def test_resume_after_a_killed_candidate(pruned, tmp_path):
    import shutil

    out, res = pruned
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    rd = RunDir(copy)
    victim = "product-aggressive"
    shutil.rmtree(rd.candidate_dir(victim))
    (copy / "candidates" / f".{victim}.edgeprune-abc.tmp").mkdir()  # what a kill -9 mid-write leaves (marked)
    kept = {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in rd.candidate_ids()}
    run_prune(PruneConfig(**FAST), copy)
    assert victim in rd.candidate_ids()
    assert not list((copy / "candidates").glob(".*.tmp"))
    assert {cid: rd.candidate_weights(cid).stat().st_mtime_ns for cid in kept} == kept


def test_masks_hold_after_every_optimizer_step():
    torch.manual_seed(0)
    data = load_dataset("digits")
    model = create_model(resolve_spec("test_resnet", 10, 32))
    name = "layer1.0.conv1.weight"
    w = dict(model.named_parameters())[name]
    mask = torch.rand(w.shape) > 0.7
    seen = {"forwards": 0, "nonzero": 0}

    def check(module, inputs):
        if module.training:
            seen["forwards"] += 1
            seen["nonzero"] += int((w.detach()[~mask] != 0).sum())

    handle = model.register_forward_pre_hook(check)
    cfg = TrainConfig(epochs=2, lr=1e-2, patience=5)
    fit(model, data, cfg, masks={name: mask})
    handle.remove()
    assert seen["forwards"] > 10 and seen["nonzero"] == 0
    assert torch.all(w.detach()[~mask] == 0) and torch.all(w.detach()[mask] != 0)

    # the same recipe without masks moves those weights: the check above can fail
    model2 = create_model(resolve_spec("test_resnet", 10, 32))
    with torch.no_grad():
        dict(model2.named_parameters())[name][~mask] = 0
    fit(model2, data, cfg)
    assert int((dict(model2.named_parameters())[name].detach()[~mask] != 0).sum()) > 0


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgeprune.cli", *args], capture_output=True, text=True, cwd=cwd)


def _one_line_error(proc) -> str:
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_bad_model_name_suggests_close_names(tmp_path):
    proc = _cli("prune", "--model", "resnet19", "--out", str(tmp_path / "r"))
    msg = _one_line_error(proc)
    assert "resnet19" in msg and "resnet18" in msg
    assert not (tmp_path / "r" / "candidates").exists()


def test_bad_data_path(tmp_path):
    proc = _cli("prune", "--model", "test_resnet", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"))
    msg = _one_line_error(proc)
    assert "nope" in msg and "digits" in msg
    assert not (tmp_path / "r" / "candidates").exists()


def test_bad_checkpoint_lists_mismatched_keys(tmp_path):
    wrong = create_model(resolve_spec("test_resnet", 7, 32)).state_dict()  # 7 classes, data has 10
    ck = tmp_path / "wrong.pt"
    torch.save(wrong, ck)
    proc = _cli("prune", "--model", "test_resnet", "--checkpoint", str(ck), "--out", str(tmp_path / "r"))
    msg = _one_line_error(proc)
    assert "fc.weight" in msg and "(7, " in msg
    assert not (tmp_path / "r" / "candidates").exists()


def test_pickled_object_checkpoint_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    ck = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, ck)
    proc = _cli("prune", "--model", "test_resnet", "--checkpoint", str(ck), "--out", str(tmp_path / "r"))
    msg = _one_line_error(proc)
    assert "cannot be read safely" in msg and "pwned" not in proc.stdout


def test_checkpoint_is_used_as_the_dense_model(tmp_path):
    from safetensors.torch import save_file

    net = create_model(resolve_spec("test_resnet", 10, 32))
    ck = tmp_path / "dense.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(ck))
    cfg = PruneConfig(**{**FAST, "checkpoint": str(ck), "strategies": ["conservative"]})
    res = run_prune(cfg, tmp_path / "r")
    assert res.dense["trained"] is False
    loaded = build(resolve_spec("test_resnet", 10, 32), tmp_path / "r" / "dense" / "model.safetensors")
    assert torch.equal(loaded.state_dict()["fc.weight"], net.state_dict()["fc.weight"])


def test_other_config_in_same_dir_is_refused(pruned):
    out, _ = pruned
    proc = _cli("prune", "--model", "test_vit", "--out", str(out))
    msg = _one_line_error(proc)
    assert "different model" in msg
