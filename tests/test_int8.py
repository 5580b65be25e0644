"""int8 artifacts: quantizers in their runtimes, training-only calibration, int8 sparse tensors read back
by schema, rejection of a model that quantizes badly, and bench -> select -> ship -> verify of an int8 row."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")

from edgeprune.export import export_run, sparse_delta4, sparse_onnx, sparse_tflite  # noqa: E402
from edgeprune.runio import RunDir, read_json, sha256_file, write_json  # noqa: E402

CID = "magnitude-fake-90"


@pytest.fixture(scope="module")
def int8_run(fake_run, tmp_path_factory) -> Path:
    """The fake run with dense and the 90% candidate exported in fp32 and int8 (read-only)."""
    run = tmp_path_factory.mktemp("int8") / "run"
    shutil.copytree(fake_run, run)
    shutil.rmtree(RunDir(run).candidate_dir("magnitude-fake-50"))
    export_run(run)  # default precision: both
    return run


def _digits():
    from edgeprune.data import load_dataset

    return load_dataset("digits")


# ---------------------------------------------------------------- quantizers in their runtimes
@pytest.mark.parametrize("model", ["test_resnet", "test_vit"])
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_int8_of_a_tiny_cnn_and_vit_runs_in_its_runtime(model, fmt, tmp_path):
    import torch

    from edgeprune.export import get_format
    from edgeprune.export.quantize import QUANTIZERS
    from edgeprune.models import build, randomise_constants, resolve_spec
    from edgeprune.runtimes import open_runner

    data = _digits()
    net = build(resolve_spec(model, 10, 32)).eval()
    randomise_constants(net, 0)
    f = get_format(fmt)
    x_test = data.normalize(data.x_test[:32])
    fp32 = f.convert(net, torch.from_numpy(x_test[:1]))
    q = QUANTIZERS[fmt](fp32, data.normalize(data.x_train[:32]))
    paths = {}
    for name, blob in (("fp32", fp32.data), ("int8", q.data)):
        paths[name] = tmp_path / f"m.{name}{f.suffix}"
        paths[name].write_bytes(blob)
    runner = open_runner(paths["int8"], threads=1, layout=f.layout)  # ORT / LiteRT with XNNPACK (their defaults)
    out = runner.run(x_test)
    ref = open_runner(paths["fp32"], threads=1, layout=f.layout).run(x_test)
    assert out.shape == ref.shape == (32, 10) and np.isfinite(out).all()
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.8  # quantized, not broken (random weights: loose)
    assert len(q.data) < 0.5 * len(fp32.data)  # int8 weights, not fp32
    if fmt == "onnx":
        sess = ort.InferenceSession(str(paths["int8"]), providers=["CPUExecutionProvider"])
        assert sess.get_inputs()[0].type == sess.get_outputs()[0].type == "tensor(float)"
        assert "DequantizeLinear" in {n.op_type for n in onnx.load(paths["int8"]).graph.node}
    else:
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(paths["int8"]))
        assert it.get_input_details()[0]["dtype"] == it.get_output_details()[0]["dtype"] == np.float32
        types = {t["dtype"] for t in it.get_tensor_details()}
        assert np.int8 in types


# ---------------------------------------------------------------- calibration
def test_calibration_uses_training_images_only(fake_run_copy, monkeypatch):
    """Every image either quantizer sees is a training image at the recorded index, none is a test image."""
    import onnxruntime.quantization as oq
    from ai_edge_quantizer import quantizer

    import edgeprune.export.quantize as qmod

    seen: list[np.ndarray] = []
    real_static = oq.quantize_static

    def spy_static(model_input, model_output, reader, **kw):
        batches = []
        while (b := reader.get_next()) is not None:
            batches.append(b)
        seen.extend(next(iter(b.values())) for b in batches)

        class Replay(oq.CalibrationDataReader):
            def __init__(self):
                self.it = iter(batches)

            def get_next(self):
                return next(self.it, None)

        return real_static(model_input, model_output, Replay(), **kw)

    real_calibrate = quantizer.Quantizer.calibrate

    def spy_calibrate(self, data, *a, **kw):
        data = {k: list(v) for k, v in data.items()}
        seen.extend(np.ascontiguousarray(next(iter(d.values())).transpose(0, 3, 1, 2)) for v in data.values() for d in v)
        return real_calibrate(self, data, *a, **kw)

    monkeypatch.setattr(oq, "quantize_static", spy_static)
    monkeypatch.setattr(quantizer.Quantizer, "calibrate", spy_calibrate)
    assert qmod  # the module imports quantize_static lazily, from the patched package
    export_run(fake_run_copy, candidates=[CID], precisions="int8")

    rd = RunDir(fake_run_copy)
    data = _digits()
    with np.load(rd.root / "data" / "calib.npz") as d:
        calib_x, idx = d["x"], d["idx"]
    assert len(seen) == 2 * len(calib_x) == 128  # both formats, every calibration image, batch 1
    np.testing.assert_array_equal(calib_x, data.normalize(data.x_train[idx]))
    train = {a.tobytes() for a in data.normalize(data.x_train)}
    test = {a.tobytes() for a in data.normalize(data.x_test)} | {a.tobytes() for a in np.load(rd.test_npz)["x"]}
    for batch in seen:
        for img in batch.astype(np.float32):
            assert img.tobytes() in train and img.tobytes() not in test
    rec = read_json(rd.artifact_json(CID))["int8"]
    assert rec["calibration"]["split"] == "train" and rec["calibration"]["sha256"] == sha256_file(rd.root / "data/calib.npz")


# ---------------------------------------------------------------- records and sparse int8 tensors
def test_int8_record_and_files(int8_run):
    rd = RunDir(int8_run)
    rec = read_json(rd.artifact_json(CID))
    assert set(rec["formats"]) == set(rec["int8"]["formats"]) == {"onnx", "tflite"}
    assert 0 < rec["int8"]["floor_bytes"] < rec["floor_bytes"]
    for fmt in ("onnx", "tflite"):
        e = rec["int8"]["formats"][fmt]
        path = rd.artifacts_dir / e["file"]
        assert e["file"] == f"{CID}.int8.{fmt}" and e["precision"] == "int8" and e["sha256"] == sha256_file(path)
        assert e["bytes"] < rec["formats"][fmt]["bytes"]
        assert e["ratio_to_floor"] == pytest.approx(e["bytes"] / rec["int8"]["floor_bytes"])
        assert e["input"]["dtype"] == "float32" and "float32 input and output" in e["quantization"]["io"]
        a = e["agreement"]
        assert a["twin"] == f"{CID}.{fmt}" and a["n"] == 64 and a["inputs"].startswith("data/test.npz")
        assert a["passed"] and a["top1_agreement"] >= a["floor"] == 0.95
        assert {"accuracy_fp32", "accuracy_int8", "max_abs_logit_error"} <= set(a)


def test_int8_sparse_onnx_weights_read_back_by_schema(int8_run):
    """The int8 initializers' encodings decode (ONNX reference evaluator) to int8 weights with the pruned zeros."""
    path = RunDir(int8_run).artifacts_dir / f"{CID}.int8.onnx"
    model = onnx.load(path)
    entry = read_json(RunDir(int8_run).artifact_json(CID))["int8"]["formats"]["onnx"]
    enc = entry["encoding"]
    assert sum(v for k, v in enc.items() if k != "dense") >= 8
    # int8 encodings are chosen under the same peak-RAM limit as fp32, measured against the unencoded int8 graph
    ram = entry["ram"]
    assert ram["limit"] == 1.1 and ram["dense_peak_mb"] > 0 and ram["peak_mb"] > 0 and ram["attempts"]
    decoded = sparse_onnx.decode_model(model)
    int8 = {k: v for k, v in decoded.items() if v.dtype == np.int8}
    assert len(int8) >= 8
    for name, w in int8.items():
        assert w.ndim >= 2 and np.count_nonzero(w) <= 0.15 * w.size  # 90% pruned; int8 rounding adds zeros
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        if f"{name}::nibbles" in inits:  # independent numpy reader of the delta4 layout
            packed = inits[f"{name}::nibbles"].ravel()
            nib = np.stack([packed >> 4, packed & 15], axis=1).ravel()
            if f"{name}::n" in inits:  # an odd entry count pads the last byte
                nib = nib[:int(inits[f"{name}::n"][0])]
            values = inits[f"{name}::values"][1:]
            np.testing.assert_array_equal(sparse_delta4.decode_nibbles(nib, values, w.size).reshape(w.shape), w)


def test_int8_sparse_tflite_weights_read_back_by_schema(int8_run):
    """CSR int8 conv weights: read with the numpy schema reader, quantization kept, zeros of the pruned weights."""
    from safetensors.numpy import load_file

    rd = RunDir(int8_run)
    data = (rd.artifacts_dir / f"{CID}.int8.tflite").read_bytes()
    sparse = sparse_tflite.read_weights(data)
    assert len(sparse) >= 8 and all(w.dtype == np.int8 for w in sparse.values())
    model = sparse_tflite.load_model(data)
    torch_w = [w for k, w in load_file(str(rd.candidate_weights(CID))).items() if w.ndim == 4]
    densified = _densify_outputs(model)
    for (si, ti), w in sparse.items():
        t, d = model.subgraphs[si].tensors[ti], model.subgraphs[si].tensors[densified[si, ti]]
        assert t.quantization is None  # the scales are stored once, on the DENSIFY output (the conv's filter)
        assert len(d.quantization.scale) == w.shape[0] and not np.any(d.quantization.zeroPoint)
        # OHWI int8 kernel: its zeros include every pruned zero of one torch OIHW kernel (BN folding scales channels)
        assert any(tw.transpose(0, 2, 3, 1).shape == w.shape and np.all(w[tw.transpose(0, 2, 3, 1) == 0] == 0)
                   for tw in torch_w)


def _densify_outputs(model) -> dict[tuple[int, int], int]:
    """``(subgraph, sparse tensor) -> its DENSIFY op's output tensor``."""
    dens = sparse_tflite._schema().BuiltinOperator.DENSIFY
    return {(si, int(op.inputs[0])): int(op.outputs[0]) for si, sg in enumerate(model.subgraphs)
            for op in sg.operators if sparse_tflite._builtin(model, op) == dens}


def test_plan_split_only_where_no_dimension_gives_uint8_indices():
    """A [512, 3, 3, 512] kernel is split in two 256-channel slices; [512, 1, 1, 256] (uint8 on its input
    channels) and [256, 3, 3, 512] (uint8 on its output channels) are not."""
    from edgeprune.export.tflite_split import plan_split, stored_bytes

    rng = np.random.default_rng(0)

    def pruned(shape):
        w = rng.integers(-127, 128, shape).astype(np.int8)
        return np.where(rng.random(shape) < 0.9, 0, w).astype(np.int8)

    wide = pruned((512, 3, 3, 512))
    assert plan_split(wide) == [(0, 256), (256, 512)]
    assert sum(stored_bytes(wide[lo:hi]) for lo, hi in plan_split(wide)) < 0.75 * stored_bytes(wide)
    assert plan_split(pruned((512, 1, 1, 256))) is None and plan_split(pruned((256, 3, 3, 512))) is None
    assert plan_split(np.ones((512, 3, 3, 512), np.int8)) is None  # dense stays dense, unsplit


@pytest.fixture(scope="module")
def wide_conv():
    """A net whose 90%-pruned middle conv has no dimension <= 256 ([300, 3, 3, 260] OHWI): dense fp32 and
    int8 .tflite files (before the sparse rewrite)."""
    import torch

    from edgeprune.export.quantize import quantize_tflite_bytes
    from edgeprune.export.tflite_format import to_tflite

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 260, 1), nn.ReLU(), nn.Conv2d(260, 300, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(300, 10)).eval()
    with torch.no_grad():
        net[2].weight.mul_(torch.rand(net[2].weight.shape, generator=torch.Generator().manual_seed(1)) >= 0.9)
    fp32 = to_tflite(net, torch.randn(1, 3, 8, 8))
    calib = np.random.default_rng(0).standard_normal((16, 8, 8, 3)).astype(np.float32)
    return {"fp32": fp32, "int8": quantize_tflite_bytes(fp32, calib)}


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_wide_conv_split_gets_uint8_indices_and_runs_like_the_dense_file(wide_conv, precision, monkeypatch):
    """The wide conv becomes two 150-channel convs + CONCATENATION whose CSR kernels have uint8 indices, read
    back by schema to the dense kernel's slices, and LiteRT (XNNPACK and builtin kernels) computes what the
    dense file computes (int8: bit-exact)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeprune.export import tflite_split

    S = sparse_tflite._schema()
    dense = wide_conv[precision]
    kernel = next(w for w in sparse_tflite.dense_weights(dense).values() if w.shape == (300, 3, 3, 260))
    model = sparse_tflite.load_model(dense)
    stats = sparse_tflite.sparsify_model(model)
    data = sparse_tflite.pack_model(model)
    assert stats["split_convs"] == 1
    ops = [sparse_tflite._builtin(model, op) for op in model.subgraphs[0].operators]
    assert ops.count(S.BuiltinOperator.CONV_2D) == 3 and S.BuiltinOperator.CONCATENATION in ops
    sparse = sparse_tflite.read_weights(data)  # numpy reader of Tensor.sparsity
    slices = [w for w in sparse.values() if w.shape == (150, 3, 3, 260)]
    assert len(slices) == 2
    assert any(np.array_equal(w, kernel[:150]) for w in slices) and any(np.array_equal(w, kernel[150:]) for w in slices)
    for (si, ti), w in sparse.items():
        if w.shape == (150, 3, 3, 260):
            level = model.subgraphs[si].tensors[ti].sparsity.dimMetadata[-1]
            assert level.arrayIndicesType == S.SparseIndexVector.Uint8Vector
    # the split saves about a byte per kept weight against the unsplit uint16 layout
    monkeypatch.setattr(tflite_split, "plan_split", lambda w: None)
    unsplit = sparse_tflite.load_model(dense)
    assert sparse_tflite.sparsify_model(unsplit)["split_convs"] == 0
    assert len(data) < len(sparse_tflite.pack_model(unsplit)) - 0.7 * np.count_nonzero(kernel)

    x = np.random.default_rng(2).standard_normal((4, 1, 8, 8, 3)).astype(np.float32)
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        outs = []
        for blob in (dense, data):
            it = Interpreter(model_content=blob, experimental_op_resolver_type=resolver, num_threads=1)
            it.allocate_tensors()
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
            rows = []
            for row in x:
                it.set_tensor(inp["index"], row)
                it.invoke()
                rows.append(it.get_tensor(out["index"]).copy())
            outs.append(np.concatenate(rows))
        if precision == "int8":
            np.testing.assert_array_equal(outs[1], outs[0])
        else:
            np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)


def _zero_point_vectors(data: bytes) -> list[tuple[int, int]]:
    """``(position in the file, length)`` of every tensor's zero-point vector, read with the flatbuffer reader."""
    S = sparse_tflite._schema()
    model = S.Model.GetRootAs(data, 0)
    out = []
    for si in range(model.SubgraphsLength()):
        sg = model.Subgraphs(si)
        for ti in range(sg.TensorsLength()):
            q = sg.Tensors(ti).Quantization()
            if q is not None and q.ZeroPointLength():
                out.append((q._tab.Vector(q._tab.Offset(10)), q.ZeroPointLength()))  # field 3: zero_point
    return out


def test_pack_model_writes_each_distinct_vector_once(wide_conv, monkeypatch):
    """Every per-channel int8 tensor's all-zero int64 zero points (8 B a channel) point at one shared vector
    per length, the file reads back to the same ModelT and LiteRT runs it bit-exactly like the dense file."""
    import flatbuffers
    from ai_edge_litert.interpreter import Interpreter

    from edgeprune.export import tflite_flat

    def encoded(dedup: bool) -> bytes:
        model = sparse_tflite.load_model(wide_conv["int8"])
        sparse_tflite.sparsify_model(model)
        if not dedup:
            monkeypatch.setattr(tflite_flat, "_dedup_builder", flatbuffers.Builder)
        data = sparse_tflite.pack_model(model)
        monkeypatch.undo()
        return data

    shared, plain = encoded(True), encoded(False)
    zps = _zero_point_vectors(shared)
    per_channel = [(pos, n) for pos, n in zps if n > 1]
    assert len(per_channel) >= 6  # 3 conv filters (one split in two) and their biases
    assert len({pos for pos, _ in per_channel}) == len({n for _, n in per_channel})  # one vector per length
    assert len({pos for pos, _ in _zero_point_vectors(plain)}) == len(zps)
    saved = sum(8 * n for _, n in per_channel) - sum(8 * n for n in {n for _, n in per_channel})
    assert len(shared) <= len(plain) - saved
    # same tensors, same parameters, and the same outputs as the dense int8 file
    a, b = sparse_tflite.load_model(shared), sparse_tflite.load_model(plain)
    for ta, tb in zip(a.subgraphs[0].tensors, b.subgraphs[0].tensors):
        assert ta.name == tb.name and list(ta.shape) == list(tb.shape)
        assert (ta.quantization is None) == (tb.quantization is None)
        if ta.quantization is not None:
            np.testing.assert_array_equal(ta.quantization.zeroPoint, tb.quantization.zeroPoint)
            np.testing.assert_array_equal(ta.quantization.scale, tb.quantization.scale)
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 3)).astype(np.float32)
    outs = []
    for blob in (wide_conv["int8"], shared):
        it = Interpreter(model_content=blob, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(outs[1], outs[0])


def test_litert_refuses_densify_fed_int8_fully_connected(int8_run, monkeypatch):
    """Why int8 FULLY_CONNECTED weights stay dense: XNNPACK fails to prepare them behind DENSIFY.

    If this starts to pass, LiteRT accepts it: add FULLY_CONNECTED to sparse_tflite.int8_consumers.
    """
    from ai_edge_litert.interpreter import Interpreter

    rd = RunDir(int8_run)
    model = sparse_tflite.load_model((rd.artifacts_dir / "dense.int8.tflite").read_bytes())
    fc = sparse_tflite._schema().BuiltinOperator.FULLY_CONNECTED
    monkeypatch.setattr(sparse_tflite, "int8_consumers", lambda: {fc})
    for si, ti in sparse_tflite.weight_tensors(model):  # prune the int8 classifier so CSR is smaller
        t = model.subgraphs[si].tensors[ti]
        w = np.asarray(model.buffers[t.buffer].data).copy()
        w[np.random.default_rng(0).random(len(w)) < 0.9] = 0
        model.buffers[t.buffer].data = w
    assert sparse_tflite.sparsify_model(model)["sparse_csr"] == 1
    it = Interpreter(model_content=sparse_tflite.pack_model(model))
    with pytest.raises(RuntimeError, match="FULLY_CONNECTED"):
        it.allocate_tensors()


# ---------------------------------------------------------------- rejection
def _train_quickly(run: Path, cid: str) -> None:
    """Give ``cid`` real predictions (2 epochs on digits) so that fp32 and int8 can disagree."""
    import torch
    from safetensors.torch import load_file, save_file

    from edgeprune.models import ModelSpec, build

    rd = RunDir(run)
    model = build(ModelSpec.from_json(read_json(rd.run_json)["model"]), rd.candidate_weights(cid))
    data = _digits()
    x, y = torch.from_numpy(data.normalize(data.x_train)), torch.from_numpy(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(2):
        for idx in torch.randperm(len(y), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # outlier: channel 0 of the last block is 1e4 for every image (BatchNorm beta) and the classifier ignores it,
    # so fp32 predictions are unchanged while int8's per-tensor activation range leaves the other channels ~0
    sd["layer4.0.bn2.bias"][0] = 1e4
    sd["fc.weight"][:, 0] = 0
    assert load_file(str(rd.candidate_weights(cid))).keys() == sd.keys()
    save_file(sd, str(rd.candidate_weights(cid)))
    cand = read_json(rd.candidate_json(cid))  # what a re-run of prune records with new weights
    write_json(rd.candidate_json(cid), dict(cand, sha256=sha256_file(rd.candidate_weights(cid))))


def test_a_model_that_quantizes_badly_is_rejected_with_its_reason(fake_run_copy):
    rd = RunDir(fake_run_copy)
    _train_quickly(fake_run_copy, CID)
    records = export_run(fake_run_copy, formats=["onnx"], candidates=[CID, "dense"])  # no exception: a verdict
    bad = records[CID]["int8"]["formats"]["onnx"]
    assert bad.get("rejected"), bad.get("agreement")
    assert "rejected, int8 top-1 agreement" in bad["error"] and "floor 95%" in bad["error"]
    assert bad["agreement"]["top1_agreement"] < 0.95 and not bad["agreement"]["passed"]
    assert bad["agreement"]["accuracy_fp32"] > bad["agreement"]["accuracy_int8"]
    assert not (rd.artifacts_dir / f"{CID}.int8.onnx").exists() and (rd.artifacts_dir / f"{CID}.onnx").exists()
    assert records["dense"]["int8"]["formats"]["onnx"]["agreement"]["passed"]
    from edgeprune.bench.artifacts import run_artifacts

    arts = {(a.candidate, a.precision): a for a in run_artifacts(rd)}
    assert "rejected" in arts[CID, "int8"].export_error and arts["dense", "int8"].export_error is None


# ---------------------------------------------------------------- bench -> select -> ship -> verify
INT8_PROFILE = """
schema = 1
name = "tiny-int8-board"
title = "Test board"
family = "other"
preferred_format = "tflite"
[hardware]
cpu = "Test core"
cpu_arch = "aarch64"
cpu_cores = 4
cpu_clock_ghz = 1.0
accelerator = "none"
ram_gb = [1]
storage = "microSD"
source = "test fixture"
[runtimes.onnx]
runtime = "onnxruntime"
threads = 4
[runtimes.tflite]
runtime = "ai-edge-litert"
threads = 4
[budgets]
max_size_mb = 10
max_ram_mb = 1000
max_latency_ms = 1000
min_accuracy = 0.0
source = "test fixture"
[[calibration]]
format = "onnx"
model = "test_resnet"
input_size = 32
runtime = "test"
published_latency_ms = 5.0
source = "test fixture"
error_band = 0.4
[[calibration]]
format = "tflite"
model = "test_resnet"
input_size = 32
runtime = "test"
published_latency_ms = 4.0
source = "test fixture"
error_band = 0.4
[[calibration]]
format = "tflite"
precision = "int8"
model = "test_resnet"
input_size = 32
runtime = "test int8"
published_latency_ms = 6.0
source = "test fixture"
error_band = 0.4
"""


def test_int8_rows_are_benched_selected_shipped_and_verified(int8_run, tmp_path, monkeypatch):
    from edgeprune.bench import BenchSettings, bench_run
    from edgeprune.select import select
    from edgeprune.ship import ship
    from edgeprune.ship.verify import verify

    monkeypatch.setenv("EDGEPRUNE_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    shutil.copytree(int8_run, run)
    profile = tmp_path / "tiny-int8-board.toml"
    profile.write_text(INT8_PROFILE)
    fast = BenchSettings(rounds=2, max_rounds=2, min_runs=10, target_seconds=0.1, warmup_seconds=0.02,
                         pair_blocks=4, pair_block_seconds=0.02, timeout_seconds=300)
    doc = read_json(bench_run(run, str(profile), settings=fast, log=lambda s: None, echo=False))
    rows = {(r["candidate"], r["format"], r["precision"]): r for r in doc["rows"]}
    assert len(rows) == 8 and not any(r["error"] for r in rows.values())
    assert set(doc["reference"]) == {"onnx", "tflite", "tflite.int8"}
    q = rows[CID, "tflite", "int8"]
    assert q["artifact"] == f"{CID}.int8.tflite" and q["accuracy"] is not None and q["n_eval"] == 64
    assert doc["reference"]["tflite.int8"]["anchor"]["artifact"] == "artifacts/dense.int8.tflite"
    assert "dense.int8.tflite" in q["methods"]["latency"]  # through the published int8 figure
    o = rows[CID, "onnx", "int8"]
    assert "widened x2" in o["methods"]["latency"] and o["latency_ms"]["high"] / o["latency_ms"]["median"] == \
        pytest.approx((1 + doc["reference"]["onnx"]["error_band"]) * 2)
    # a size budget only the int8 files of the 90% candidate meet
    limit = (rows[CID, "tflite", "int8"]["size_bytes"] + 1) / 1e6
    assert rows[CID, "tflite", "fp32"]["size_bytes"] / 1e6 > limit
    sel = select(run, str(profile), max_size_mb=limit)
    assert sel["choice"]["key"] == f"{CID}.int8.tflite" and sel["choice"]["precision"] == "int8"
    assert {r["key"] for r in sel["rows"]} >= {f"{CID}.tflite", f"{CID}.int8.tflite", "dense.int8.onnx"}
    bundle = ship(run, str(profile))
    m = read_json(bundle / "manifest.json")
    assert m["precision"] == "int8" and m["precision_notes"]["calibration"]["split"] == "train"
    assert m["precision_notes"]["agreement"]["twin"] == f"{CID}.tflite"
    readme = (bundle / "README.md").read_text()
    assert "**int8**" in readme and "**train** split" in readme and "Agreement with its fp32 twin" in readme
    assert "int8" in (bundle / "report.html").read_text()
    assert verify(bundle, log=lambda s: None)


def test_precision_option_is_checked():
    from edgeprune.errors import EdgepruneError
    from edgeprune.precision import artifact_name, check_precisions

    assert check_precisions(None) == check_precisions("both") == ["fp32", "int8"]
    assert check_precisions("int8") == ["int8"] and artifact_name("a", "onnx", "int8") == "a.int8.onnx"
    with pytest.raises(EdgepruneError, match="Unknown precision 'int4'"):
        check_precisions("int4")
