"""Export stage on a run directory: artifacts, records, parity, caching, failures."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("litert_torch")

from edgeprune.errors import EdgepruneError  # noqa: E402
from edgeprune.export import ExportFailed, export_run, sparse_tflite  # noqa: E402
from edgeprune.runio import RunDir, read_json, sha256_file, write_json  # noqa: E402

CID = "magnitude-fake-90"
DECODE_OPS = {"ScatterND", "CumSum", "Gather", "BitShift", "BitwiseAnd", "ConstantOfShape"}


@pytest.fixture(scope="module")
def exported(fake_run, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(fake_run, run)
    export_run(run, candidates=[CID])
    return run


def torch_logits(run: Path, cid: str, x: np.ndarray) -> np.ndarray:
    import torch

    from edgeprune.models import ModelSpec, build

    rd = RunDir(run)
    model = build(ModelSpec.from_json(read_json(rd.run_json)["model"]), rd.candidate_weights(cid))
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_record_follows_the_run_directory_contract(exported):
    rd = RunDir(exported)
    rec = read_json(rd.artifact_json(CID))
    assert rec["id"] == CID and rec["model"]["name"] == "test_resnet"
    assert rec["source"] == {"weights": f"candidates/{CID}/model.safetensors",
                             "sha256": sha256_file(rd.candidate_weights(CID))}
    assert rec["dense_bytes"] > rec["floor_bytes"] > 0 and rec["sparsity"] == pytest.approx(0.9, abs=0.01)
    from importlib.metadata import version

    versions = {"onnx": ("onnxruntime", ort.__version__), "tflite": ("ai-edge-litert", version("ai-edge-litert"))}
    for fmt, layout, shape in [("onnx", "NCHW", [1, 3, 32, 32]), ("tflite", "NHWC", [1, 32, 32, 3])]:
        e = rec["formats"][fmt]
        path = rd.artifact(CID, fmt)
        assert e["file"] == path.name and e["sha256"] == sha256_file(path) and e["bytes"] == path.stat().st_size
        assert 0 < e["gzip_bytes"] <= e["bytes"] and e["ratio_to_floor"] == pytest.approx(e["bytes"] / rec["floor_bytes"])
        assert e["layout"] == layout and e["input"]["shape"] == shape and e["output"]["shape"] == [1, 10]
        p = e["parity"]
        assert (p["runtime"], p["version"]) == versions[fmt]
        assert p["rule"] == "logits-relative" and p["max_abs_diff"] <= p["tolerance"] and p["n"] == 64
        assert p["tolerance"] == max(p["atol"], p["rtol"] * p["logit_scale"]) and p["top1_changes_outside_ties"] == 0
        assert sum(e["encoding"].values()) > 0
    assert rec["formats"]["onnx"]["opset"] >= 17
    assert not list(rd.artifacts_dir.glob(".*.tmp"))


def test_onnx_is_checked_simplified_unmasked_and_decoded_at_load(exported, tmp_path):
    path = RunDir(exported).artifact(CID, "onnx")
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(path)
    names = [i.name for i in model.graph.initializer] + [n.name for n in model.graph.node]
    assert not [n for n in names if n.endswith(("_mask", "_orig")) or "parametrizations" in n]
    assert not {n.op_type for n in model.graph.node} & {"BatchNormalization", "Identity"}  # folded / slimmed
    enc = read_json(RunDir(exported).artifact_json(CID))["formats"]["onnx"]["encoding"]
    assert enc.get("delta8", 0) + enc.get("bitmask", 0) >= 8
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    assert not {n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node} & DECODE_OPS


def test_tflite_is_sparse_and_runs_on_litert_builtin_kernels(exported):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = RunDir(exported).artifact(CID, "tflite")
    data = path.read_bytes()
    sparse = sparse_tflite.read_weights(data)
    assert len(sparse) >= 4 and all(np.count_nonzero(w) < w.size for w in sparse.values())
    model = sparse_tflite.load_model(data)
    ops = {sparse_tflite._builtin(model, op) for op in model.subgraphs[0].operators}
    assert sparse_tflite._schema().BuiltinOperator.DENSIFY in ops
    # the parity check ran XNNPACK (LiteRT's default); also check TFLite's own DENSIFY kernel
    x = np.load(RunDir(exported).test_npz)["x"][:8]
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for row in x:
        it.set_tensor(inp["index"], np.ascontiguousarray(row[None].transpose(0, 2, 3, 1)))
        it.invoke()
        outs.append(it.get_tensor(out["index"]).copy())
    np.testing.assert_allclose(np.concatenate(outs), torch_logits(exported, CID, x), atol=1e-4)


def test_rerun_skips_unchanged_artifacts(exported, capfd):
    rd = RunDir(exported)
    before = {p.name: p.stat().st_mtime_ns for p in rd.artifacts_dir.iterdir()}
    export_run(exported, candidates=[CID])
    assert {p.name: p.stat().st_mtime_ns for p in rd.artifacts_dir.iterdir()} == before
    assert capfd.readouterr().err.count("cached") == 4  # onnx, tflite, each fp32 and int8 (the default: both)


def test_changed_weights_are_reexported_and_stale_formats_dropped(exported, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(exported, run)
    rd = RunDir(run)
    old = read_json(rd.artifact_json(CID))
    sd = load_file(str(rd.candidate_weights(CID)))
    sd["fc.weight"] = torch.zeros_like(sd["fc.weight"])
    save_file(sd, str(rd.candidate_weights(CID)))
    cand = read_json(rd.candidate_json(CID))  # what a re-run of prune records with new weights
    write_json(rd.candidate_json(CID), dict(cand, sha256=sha256_file(rd.candidate_weights(CID))))
    export_run(run, formats=["onnx"], candidates=[CID])
    new = read_json(rd.artifact_json(CID))
    assert new["source"]["sha256"] == sha256_file(rd.candidate_weights(CID)) != old["source"]["sha256"]
    assert new["formats"]["onnx"]["sha256"] != old["formats"]["onnx"]["sha256"]
    assert "tflite" not in new["formats"] and not rd.artifact(CID, "tflite").exists()
    assert "tflite" not in new["int8"]["formats"] and not (rd.artifacts_dir / f"{CID}.int8.tflite").exists()


def test_parity_failure_leaves_no_artifact(fake_run_copy, monkeypatch):
    from edgeprune.export import parity

    monkeypatch.setattr(parity, "DEFAULT_RULE", parity.LogitsRule(rtol=-1.0, atol=-1.0))  # nothing can pass
    rd = RunDir(fake_run_copy)
    with pytest.raises(ExportFailed) as err:
        export_run(fake_run_copy, formats=["onnx"], candidates=["magnitude-fake-50"], precisions="fp32")
    msg = str(err.value)
    assert "\n" not in msg and "disagrees with PyTorch" in msg and "1 of 1 artifacts failed" in msg
    assert not rd.artifact("magnitude-fake-50", "onnx").exists()
    assert not [p for p in rd.artifacts_dir.iterdir() if p.name.startswith(".")]
    rec = json.loads(rd.artifact_json("magnitude-fake-50").read_text())
    assert set(rec["formats"]["onnx"]) == {"error"}


def test_bad_requests_are_one_line_errors(fake_run, tmp_path):
    cases = [
        (lambda: export_run(fake_run, candidates=["nope"]), "Unknown candidate 'nope'"),
        (lambda: export_run(fake_run, formats=["coreml"]), "Unknown export format 'coreml'"),
        (lambda: export_run(tmp_path), "is not a run directory"),
    ]
    for call, text in cases:
        with pytest.raises(EdgepruneError) as err:
            call()
        assert text in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "artifacts").exists()
