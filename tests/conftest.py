"""Shared fixtures. ``make_fake_run`` writes a run directory exactly as the prune
stage does (docs/run-directory.md) but without training: random unstructured
masks at chosen sparsities on a tiny timm model. Later stages test against it."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_fake_run(root: Path, model: str = "test_resnet", sparsities=(0.5, 0.9), seed: int = 0,
                  n_test: int = 64) -> Path:
    import torch
    from safetensors.torch import save_file

    from edgeprune import __version__
    from edgeprune.data import load_dataset
    from edgeprune.models import build, randomise_constants, resolve_spec
    from edgeprune.runio import RunDir, sha256_file, write_json

    torch.manual_seed(seed)
    rd = RunDir(root)
    data = load_dataset("digits")
    spec = resolve_spec(model, data.num_classes, 32)
    net = build(spec)
    randomise_constants(net, seed)  # else exporters fold zero-init residual branches away
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    rd.dense_dir.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(rd.dense_weights))
    rd.test_npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez(rd.test_npz, x=data.normalize(data.x_test[:n_test]), y=data.y_test[:n_test])
    write_json(rd.run_json, {
        "edgeprune_version": __version__, "created": "2026-01-01T00:00:00+00:00", "seed": seed,
        "config": {"model": model, "data": "digits", "fake": True},
        "model": spec.to_json(), "data": data.info(),
        "dense": {"val_accuracy": 0.1, "test_accuracy": 0.1, "weights": "dense/model.safetensors",
                  "sha256": sha256_file(rd.dense_weights), "trained": False},
        "versions": {"torch": torch.__version__},
    })
    prunable = [k for k, v in sd.items() if k.endswith("weight") and v.dim() >= 2]
    gen = torch.Generator().manual_seed(seed)
    for s in sparsities:
        cid = f"magnitude-fake-{int(s * 100)}"
        csd = dict(sd)
        measured = {}
        for k in prunable:
            keep = torch.rand(sd[k].shape, generator=gen) >= s
            csd[k] = (sd[k] * keep).contiguous()
            measured[k] = float((csd[k] == 0).float().mean())
        rd.candidate_dir(cid).mkdir(parents=True, exist_ok=True)
        save_file(csd, str(rd.candidate_weights(cid)))
        total = sum(sd[k].numel() for k in prunable)
        write_json(rd.candidate_json(cid), {
            "id": cid, "signal": "magnitude", "strategy": f"fake-{int(s * 100)}",
            "planned": {k: s for k in prunable}, "measured": measured,
            "global_sparsity": sum(measured[k] * sd[k].numel() for k in prunable) / total,
            "val_accuracy": 0.1, "test_accuracy": 0.1, "epochs": 0, "best_epoch": 0, "seconds": 0.0,
            "weights": "model.safetensors", "sha256": sha256_file(rd.candidate_weights(cid)),
        })
    return root


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory) -> Path:
    """A read-only fake run (test_resnet, candidates at 50% and 90%). Copy it before writing."""
    return make_fake_run(tmp_path_factory.mktemp("fake_run") / "run")


@pytest.fixture
def fake_run_copy(fake_run, tmp_path) -> Path:
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(fake_run, dst)
    return dst
