"""Sparse weight encodings, read back through the file formats' own schemas (fast: no converters)."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeprune.export import floor, onnx_plan, sparse_delta4, sparse_onnx, sparse_tflite  # noqa: E402

DECODE_OPS = {"ScatterElements", "CumSum", "Gather", "BitShift", "BitwiseAnd", "ConstantOfShape", "Cast"}


def pruned(shape, sparsity: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    return w * (rng.random(shape) >= sparsity)


def matmul_model(w: np.ndarray) -> onnx.ModelProto:
    """y = x @ W with W an initializer (opset 18)."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, w.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, w.shape[1]])],
        initializer=[numpy_helper.from_array(w, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def ort_session(model: onnx.ModelProto, optimized_path=None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_path:
        so.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def numpy_decode(model: onnx.ModelProto, name: str, shape) -> np.ndarray:
    """Independent reader of our encodings from the initializers alone (no graph evaluation)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = np.zeros(shape, np.float32)
    if f"{name}::gaps" in inits:
        gaps, values = inits[f"{name}::gaps"].astype(np.int64), inits[f"{name}::values"]
        if gaps.ndim == 1:  # delta: flat positions
            out.ravel()[np.cumsum(gaps)] = values
        else:  # columns: positions along one axis, the other coordinates as stored
            axis = int(inits[f"{name}::axis"])
            np.put_along_axis(out, np.cumsum(gaps, axis=axis), values, axis=axis)
    elif f"{name}::nibbles" in inits:
        packed = inits[f"{name}::nibbles"].ravel()
        nib = np.stack([packed >> 4, packed & 15], axis=1).ravel()
        if f"{name}::n" in inits:
            nib = nib[:int(inits[f"{name}::n"][0])]
        step = np.where(nib == 0, 15, nib).astype(np.int64)  # 0 = escape: 15 positions, no value
        pos = np.cumsum(step) - 1
        out.ravel()[pos[nib != 0]] = inits[f"{name}::values"][1:]
    elif f"{name}::bits" in inits:
        keep = np.unpackbits(inits[f"{name}::bits"].ravel())[: out.size].astype(bool)
        out.ravel()[keep] = inits[f"{name}::values"][1:]
    return out


@pytest.mark.parametrize("encoding", ["delta8", "delta16", "columns8", "delta4", "bitmask", "zeros"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.999, 1.0])
@pytest.mark.parametrize("shape", [(37, 29), (300, 7)])  # odd numel: the bitmask tail; 300 rows: columns8 bridges
def test_onnx_encoding_decodes_to_exactly_the_pruned_weights(encoding, sparsity, shape):
    w = pruned(shape, sparsity)
    enc = sparse_onnx.ENCODINGS[encoding](w, "W")
    if (encoding == "zeros") != (np.count_nonzero(w) == 0):  # zeros only for all-zero tensors, others never
        assert enc is None
        return
    if enc is None:  # columns8 declines what it cannot store below dense: a full column costs 5 bytes per entry
        assert encoding == "columns8" and min((w != 0).sum(axis=a).max() * (w.size // w.shape[a]) for a in (0, 1)) * 5 >= w.nbytes
        return
    model = matmul_model(w)
    nodes, inits = enc.graph_parts()
    nodes += list(model.graph.node)
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(inits)
    onnx.checker.check_model(model, full_check=True)
    assert np.array_equal(sparse_onnx.decode_model(model)["W"], w)  # ONNX's reference evaluator
    assert np.array_equal(numpy_decode(model, "W", w.shape), w)  # our format, read by hand
    x = np.random.default_rng(1).standard_normal((2, shape[0])).astype(np.float32)
    np.testing.assert_allclose(ort_session(model).run(None, {"x": x})[0], x @ w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("encoding", ["delta8", "columns8", "delta4", "bitmask"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_int8_weights_encode_and_decode_exactly(encoding, sparsity):
    """QDQ int8 weights (rank >= 2) are encoded like float ones and decode, in ORT too, to the same int8."""
    rng = np.random.default_rng(3)
    w = (rng.integers(-127, 128, (64, 3, 3, 9)) * (rng.random((64, 3, 3, 9)) >= sparsity)).astype(np.int8)
    enc = sparse_onnx.ENCODINGS[encoding](w, "W")
    if enc is None:  # columns8 declines where it cannot beat dense (int8: 1 B value + 1 B gap per entry)
        assert encoding == "columns8" and sparsity == 0.5
        return
    nodes, inits = enc.graph_parts()
    graph = helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info("W", TensorProto.INT8, list(w.shape))],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    assert np.array_equal(sparse_onnx.decode_model(model)["W"], w)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})[0]
    assert got.dtype == np.int8 and np.array_equal(got, w)


def test_delta4_escapes_long_gaps_without_values():
    flat = np.zeros(1000, np.float32)
    where = [0, 14, 15, 16, 46, 999]
    flat[where] = np.arange(1, 7)
    nib, escapes = sparse_delta4.nibble_entries(flat)
    assert nib.max() <= 15 and escapes == (30 - 1) // 15 + (953 - 1) // 15  # gaps 30 and 953 need escapes
    assert np.array_equal(sparse_delta4.decode_nibbles(nib, flat[where], flat.size), flat)


def test_int8_initializers_other_than_weights_stay_plain():
    """Scales, zero points (rank 1) and int32 biases are left for ORT's QDQ fusions."""
    zp = numpy_helper.from_array(np.zeros(64, np.int8), "zp")
    bias = numpy_helper.from_array(np.zeros(64, np.int32), "bias")
    w = numpy_helper.from_array(np.zeros((64, 64), np.int8), "w")
    assert not sparse_onnx.encodable(zp) and not sparse_onnx.encodable(bias) and sparse_onnx.encodable(w)


def test_delta_entries_bridge_gaps_longer_than_the_index_type():
    flat = np.zeros(200_000, np.float32)
    where = [0, 1, 300, 555, 70_000, 199_999]
    flat[where] = np.arange(1, 7)
    for dtype in (np.uint8, np.uint16):
        gaps, values = sparse_onnx.delta_entries(flat, int(np.iinfo(dtype).max))
        assert gaps.max() <= np.iinfo(dtype).max and gaps[1:].min() >= 1
        pos = np.cumsum(gaps)
        assert list(pos[values != 0]) == where
        assert len(set(pos)) == len(pos) and set(pos[values == 0]).isdisjoint(where)


def test_choose_takes_the_smallest_and_falls_back_to_dense():
    dense = pruned((64, 64), 0.0)
    assert sparse_onnx.choose(dense, "W", numpy_helper.from_array(dense, "W").ByteSize())[0] == "dense"
    tiny = pruned((4,), 0.5)  # overhead exceeds the savings: stays dense
    assert sparse_onnx.choose(tiny, "b", numpy_helper.from_array(tiny, "b").ByteSize())[0] == "dense"
    for sparsity, expected in [(0.5, "bitmask"), (0.95, "delta8"), (1.0, "zeros")]:
        w = pruned((256, 256), sparsity)
        dense_bytes = numpy_helper.from_array(w, "W").ByteSize()
        name, enc = sparse_onnx.choose(w, "W", dense_bytes)
        sizes = {k: e.nbytes for k, f in sparse_onnx.ENCODINGS.items() if (e := f(w, "W")) is not None}
        assert name == expected == min(sizes, key=sizes.get) and enc.nbytes < dense_bytes


def test_encode_model_is_folded_by_onnxruntime_at_load(tmp_path):
    """No decode op survives ORT's session optimisations: decoding costs nothing per inference."""
    w = pruned((64, 48), 0.9)
    b = pruned((48, 32), 0.5)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("MatMul", ["h", "B"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    counts = onnx_plan.encode_model(model)
    assert counts == {"delta8": 1, "bitmask": 1}
    onnx.checker.check_model(model, full_check=True)
    x = np.ones((1, 64), np.float32)
    np.testing.assert_allclose(ort_session(model, tmp_path / "opt.onnx").run(None, {"x": x})[0], x @ w @ b,
                               rtol=1e-5, atol=1e-5)
    left = {n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node}
    assert not left & DECODE_OPS, left


# ---------------------------------------------------------------- TFLite
def test_tflite_csr_matches_the_schema_definition():
    """A hand-checked example: segments/indices as TFLite's schema defines them."""
    w = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]], np.float32)
    values, sp = sparse_tflite.encode(w, sparse_tflite.CsrLayout((3, 4), 1))
    assert list(sp.traversalOrder) == [0, 1] and sp.blockMap is None
    assert [lv.format for lv in sp.dimMetadata] == [0, 1] and sp.dimMetadata[0].denseSize == 3
    assert list(sp.dimMetadata[1].arraySegments.values) == [0, 2, 2, 4]
    assert list(sp.dimMetadata[1].arrayIndices.values) == [1, 3, 0, 3]
    assert list(values) == [1, 2, 3, 4]
    assert np.array_equal(sparse_tflite.densify(w.shape, sp, values), w)


def test_tflite_densify_reads_block_maps():
    """The reader follows FormatConverter semantics for blocks too (4x8, dense 1x4 blocks, CSR over blocks)."""
    S = sparse_tflite._schema()
    w = np.zeros((4, 8), np.float32)
    w[0, 4:8] = [1, 2, 0, 3]
    w[2, 0:4] = [4, 0, 5, 6]
    w[3, 4:8] = [7, 8, 9, 0]
    sp = S.SparsityParametersT(traversalOrder=[0, 1, 2], blockMap=[1], dimMetadata=[
        S.DimensionMetadataT(format=0, denseSize=4),
        S.DimensionMetadataT(format=1, arraySegmentsType=S.SparseIndexVector.Uint8Vector,
                             arraySegments=S.Uint8VectorT(values=np.array([0, 1, 1, 2, 3], np.uint8)),
                             arrayIndicesType=S.SparseIndexVector.Uint8Vector,
                             arrayIndices=S.Uint8VectorT(values=np.array([1, 0, 1], np.uint8))),
        S.DimensionMetadataT(format=0, denseSize=4)])
    values = np.array([1, 2, 0, 3, 4, 0, 5, 6, 7, 8, 9, 0], np.float32)
    assert np.array_equal(sparse_tflite.densify(w.shape, sp, values), w)


@pytest.mark.parametrize("shape,dim,index_bytes", [
    ((64, 3, 3, 512), 0, 1),  # the 64-wide output dim gets uint8 indices
    ((512, 3, 3, 512), 3, 2),  # no dim <= 256 but the 3x3 ones: uint16 over 512
    ((1000, 128), 1, 1),
])
def test_tflite_layout_picks_the_cheapest_dimension(shape, dim, index_bytes):
    w = pruned(shape, 0.9)
    layout = sparse_tflite.plan_layout(w)
    assert layout.dim == dim or shape[layout.dim] == shape[dim]
    values, sp = sparse_tflite.encode(w, layout)
    assert sp.dimMetadata[-1].arrayIndices.values.dtype.itemsize == index_bytes
    assert np.array_equal(sparse_tflite.densify(w.shape, sp, values), w)
    assert layout.nbytes(np.count_nonzero(w), 4) < w.nbytes


def test_tflite_int8_csr_roundtrip():
    """int8 values in CSR: 1 byte per value plus the index, read back by the schema reader."""
    rng = np.random.default_rng(4)
    w = (rng.integers(-127, 128, (32, 3, 3, 200)) * (rng.random((32, 3, 3, 200)) >= 0.9)).astype(np.int8)
    layout = sparse_tflite.plan_layout(w)
    values, sp = sparse_tflite.encode(w, layout)
    assert values.dtype == np.int8 and layout.nbytes(np.count_nonzero(w), 1) < w.nbytes
    assert np.array_equal(sparse_tflite.densify(w.shape, sp, values), w)


def test_tflite_dense_tensors_stay_dense():
    assert sparse_tflite.plan_layout(pruned((64, 64), 0.0)) is None
    assert sparse_tflite.plan_layout(pruned((8, 8), 0.2)) is None  # too small to pay for the metadata


@pytest.mark.parametrize("seed", range(3))
def test_tflite_roundtrip_random_shapes(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 40, size=int(rng.integers(2, 5))))
    w = pruned(shape, float(rng.uniform(0.3, 0.99)), seed)
    w[tuple(0 for _ in shape[:-1])] = 0  # an empty CSR row
    for dim in range(len(shape)):
        values, sp = sparse_tflite.encode(w, sparse_tflite.CsrLayout(shape, dim))
        assert np.array_equal(sparse_tflite.densify(shape, sp, values), w)


# ---------------------------------------------------------------- floor
def test_floor_matches_the_definition():
    assert floor.binary_entropy(0.5) == 1.0 and floor.binary_entropy(0.0) == floor.binary_entropy(1.0) == 0.0
    w = np.zeros((100, 10), np.float32)
    w.ravel()[::10] = 1.0  # 10 % density
    bias = np.zeros(10, np.float32)  # rank 1: counted dense even if zero
    counter = np.array(7, np.int64)  # not a float tensor: skipped
    rep = floor.size_report({"w": w, "b": bias, "n": counter})
    expected = 100 * 4 + 1000 * floor.binary_entropy(0.1) / 8 + 40
    assert rep["dense_bytes"] == 4040 and rep["floor_bytes"] == int(np.ceil(expected))
    assert rep["sparsity"] == pytest.approx(0.9)


def test_int8_floor_counts_one_byte_per_kept_int8_weight():
    w = np.zeros((10, 100), np.float32)
    w[:, ::10] = 1.0
    w[0, 1] = 1e-4  # rounds to 0 in int8 (below max / 254 of its channel): not a kept weight
    bias = np.ones(10, np.float32)
    expected = 100 * 1 + 1000 * floor.binary_entropy(0.1) / 8 + 40
    assert floor.int8_floor_bytes({"w": w, "b": bias}) == int(np.ceil(expected))
    assert floor.int8_floor_bytes({"w": np.ones((8, 8), np.float32)}) == 64  # unpruned: 1 B per weight
