"""Compact ONNX encodings for pruned weights, decoded by standard ops at load.

Each float initializer (and each int8 weight of a QDQ model, rank >= 2) can be replaced by one of:

``dense``      the initializer as is;
``zeros``      ``ConstantOfShape`` (an all-zero tensor);
``delta8``     nonzero values + uint8 gaps between their flat positions, ``Cast`` (int32)
``delta16``    -> ``CumSum`` -> ``ScatterElements`` into a flat zero tensor -> ``Reshape``;
               a gap over 255 (uint16: 65,535) is bridged by explicit zero entries;
``delta4``     4-bit gaps, two per byte; nibble 0 is an escape that advances 15 positions
               without a value, ``Gather`` maps entries to values, one ``ScatterElements``
               into a flat zero tensor (best for int8 weights between ~75 % and ~97 %
               sparsity, and for fp32 near 90 %);
``columns8``   the same per column along one axis, written by one ``ScatterElements``
               straight into a zero tensor of the weight's shape (no flat copy, no
               ``Reshape``: it holds less while ORT folds it, the file is larger); every
               column holds as many entries as the fullest one, the others repeat their
               last entry (the axis with the fewest entries is used);
``bitmask``    nonzero values + a packed bit mask (numel/8 bytes), unpacked with
               ``BitShift``/``BitwiseAnd``, an int32 ``CumSum`` gives each kept element its
               value index, ``Gather``.

Sizes are exact serialized byte counts of the nodes and initializers. Every
decode op has constant inputs only, so ONNX Runtime constant-folds the subgraph
once at session creation (no ``NonZero``: ORT does not fold it); inference runs
the dense graph. Folding costs memory, measured: ORT keeps every tensor a
folded node produced until the whole folding pass ends (a chain of k foldable
ops over B bytes peaks about k x B higher), so each encoding also reports
``held``, the bytes its constants and intermediate tensors hold until then; the
zero tensors the scatters write into are shared per shape (``Encoded.shared``)
and costed once. The decoded tensor itself is not counted (the dense model
holds it too). ``sparse_initializer`` is not used: its INT64 COO indices cost
12 bytes per nonzero, and ORT's own densify of it peaked 1.1-1.4x the dense
model too. :mod:`.onnx_plan` picks one option per tensor under a held-bytes budget.
Run this after graph simplification, or the simplifier folds it back.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..registry import Registry
from .sparse_delta4 import encode_delta4
from .sparse_graph import INT32, DecodeBuilder, Encoded

METADATA_KEY = "edgeprune.sparse_encoding"
FLOAT_TYPES = ("float16", "float32", "float64")
#: integer weights (QDQ int8) are encoded when they are matrices or kernels (rank >= 2);
#: scales, zero points and int32 biases stay plain initializers for the QDQ fusions
INT_WEIGHT_TYPES = ("int8",)


def encode_zeros(w: np.ndarray, name: str) -> Encoded | None:
    if np.count_nonzero(w):
        return None
    from onnx import numpy_helper

    b = DecodeBuilder(name)
    b.node("ConstantOfShape", [b.const("shape", np.array(w.shape, np.int64))], name,
           value=numpy_helper.from_array(np.zeros(1, w.dtype)))
    return b.enc


def delta_entries(flat: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """``(gaps, values)`` with ``cumsum(gaps)`` = positions; zero entries bridge long gaps.

    The first gap is measured from position 0, every later gap is in [1, max_gap].
    """
    pos = np.flatnonzero(flat).astype(np.int64)
    if len(pos) == 0:
        return np.zeros(0, np.int64), flat[:0]
    gap = np.diff(pos, prepend=0)
    bridges = np.maximum(-(-gap // max_gap) - 1, 0)  # ceil(gap / max_gap) - 1, none for gap 0
    counts = bridges + 1
    last = np.cumsum(counts) - 1  # where each real entry lands
    gaps = np.full(int(counts.sum()), max_gap, np.int64)
    values = np.zeros(len(gaps), flat.dtype)
    gaps[last] = gap - bridges * max_gap
    values[last] = flat[pos]
    return gaps, values


def _indices(b: DecodeBuilder, gaps: np.ndarray, axis: int) -> str:
    """int32 positions: ``CumSum(Cast(gaps))`` along ``axis`` (ScatterElements takes int32)."""
    cast = b.node("Cast", [b.const("gaps", gaps)], to=INT32, nbytes=4 * gaps.size)
    return b.node("CumSum", [cast, b.const("axis", np.array(axis, np.int64))], nbytes=4 * gaps.size)


def _encode_delta(w: np.ndarray, name: str, dtype: type) -> Encoded | None:
    flat = w.ravel()
    if not np.count_nonzero(flat) or flat.size >= 2**31:
        return None
    gaps, values = delta_entries(flat, int(np.iinfo(dtype).max))
    b = DecodeBuilder(name, w.dtype)
    idx = _indices(b, gaps.astype(dtype), 0)
    scattered = b.node("ScatterElements", [b.zeros([flat.size]), idx, b.const("values", values)], axis=0,
                       nbytes=w.nbytes)
    b.node("Reshape", [scattered, b.const("shape", np.array(w.shape, np.int64))], name)
    return b.enc


def column_entries(w: np.ndarray, axis: int, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """``(gaps, values)`` shaped like ``w`` with ``axis`` resized to the fullest column's entry count.

    Along ``axis``, ``cumsum(gaps)`` gives each entry's position in its column
    (the first gap counts from 0); a gap over ``max_gap`` is bridged by zero
    entries; shorter columns repeat their last entry (gap 0, same value), empty
    ones write 0 at 0.
    """
    cols = np.moveaxis(w, axis, -1).reshape(-1, w.shape[axis])  # one row per column
    col, row = np.nonzero(cols)  # by column, then position
    first = np.r_[True, col[1:] != col[:-1]] if len(col) else np.zeros(0, bool)
    prev = np.where(first, 0, np.r_[0, row[:-1]])
    bridges = np.maximum(-(-(row - prev) // max_gap) - 1, 0)
    per = bridges + 1  # entries per kept element: its bridges, then itself
    step = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
    real = step == np.repeat(bridges, per)
    ent_col = np.repeat(col, per)
    ent_row = np.where(real, np.repeat(row, per), np.repeat(prev, per) + (step + 1) * max_gap)
    ent_val = np.where(real, np.repeat(cols[col, row], per), 0)
    count = np.bincount(ent_col, minlength=len(cols))
    m = max(int(count.max()), 1)
    rows = np.zeros((len(cols), m), np.int64)
    values = np.zeros((len(cols), m), w.dtype)
    slot = np.arange(len(ent_col)) - (np.cumsum(count) - count)[ent_col]
    rows[ent_col, slot], values[ent_col, slot] = ent_row, ent_val
    last = np.minimum(np.arange(m)[None, :], np.maximum(count - 1, 0)[:, None])  # padding repeats the last entry
    rows, values = np.take_along_axis(rows, last, axis=1), np.take_along_axis(values, last, axis=1)
    shape = [*np.delete(w.shape, axis), m]
    gaps = np.diff(rows, axis=1, prepend=0).reshape(shape)
    return np.moveaxis(gaps, -1, axis), np.moveaxis(values.reshape(shape), -1, axis)


def _encode_columns(w: np.ndarray, name: str, dtype: type) -> Encoded | None:
    if not w.ndim or not np.count_nonzero(w) or w.size >= 2**31:
        return None
    nz = w != 0
    fullest = {a: int(nz.sum(axis=a).max()) * (w.size // w.shape[a]) for a in range(w.ndim)}  # entries, no bridges
    axis = min(fullest, key=lambda a: (fullest[a], a))
    if fullest[axis] * (w.itemsize + np.dtype(dtype).itemsize) >= w.nbytes:  # cannot beat dense
        return None
    gaps, values = column_entries(w, axis, int(np.iinfo(dtype).max))
    b = DecodeBuilder(name, w.dtype)
    idx = _indices(b, gaps.astype(dtype), axis)
    b.node("ScatterElements", [b.zeros(w.shape), idx, b.const("values", values)], name, axis=axis)
    return b.enc


def encode_bitmask(w: np.ndarray, name: str) -> Encoded | None:
    flat = w.ravel()
    if not np.count_nonzero(flat) or flat.size >= 2**31:
        return None
    keep = flat != 0
    b = DecodeBuilder(name)
    bits = b.const("bits", np.packbits(keep)[:, None])  # [m, 1], first element in the high bit
    m8 = 8 * len(np.packbits(keep))
    shifted = b.node("BitShift", [bits, b.const("shifts", np.arange(7, -1, -1, dtype=np.uint8))], direction="RIGHT",
                     nbytes=m8)
    mask = b.node("BitwiseAnd", [shifted, b.const("one", np.array([1], np.uint8))], nbytes=m8)
    mask = b.node("Reshape", [mask, b.const("flat", np.array([-1], np.int64))], nbytes=m8)
    if flat.size % 8:
        mask = b.node("Slice", [mask, b.const("start", np.array([0], np.int64)),
                                b.const("numel", np.array([flat.size], np.int64))], nbytes=flat.size)
    # cast late: only the int32 tensors CumSum needs are 4 bytes per element
    mask = b.node("Cast", [mask], to=INT32, nbytes=4 * flat.size)
    # position i -> 1-based index of its value if kept, else 0 (a leading zero value); shaped before the Gather
    index = b.node("Mul", [b.node("CumSum", [mask, b.const("axis", np.array(0, np.int64))], nbytes=4 * flat.size),
                           mask], nbytes=4 * flat.size)
    index = b.node("Reshape", [index, b.const("shape", np.array(w.shape, np.int64))], nbytes=4 * flat.size)
    values = np.concatenate([np.zeros(1, flat.dtype), flat[keep]])
    b.node("Gather", [b.const("values", values), index], name, axis=0)
    return b.enc


#: encoding name -> encoder (None when it does not apply); "dense" is the fallback, not an entry.
ENCODINGS: Registry[Callable[[np.ndarray, str], Encoded | None]] = Registry("encoding")
ENCODINGS.add("zeros", encode_zeros)
ENCODINGS.add("delta8", lambda w, name: _encode_delta(w, name, np.uint8))
ENCODINGS.add("delta16", lambda w, name: _encode_delta(w, name, np.uint16))
ENCODINGS.add("columns8", lambda w, name: _encode_columns(w, name, np.uint8))
ENCODINGS.add("delta4", encode_delta4)
ENCODINGS.add("bitmask", encode_bitmask)


def options(w: np.ndarray, name: str, dense_bytes: int) -> dict[str, Encoded | None]:
    """Every encoding of ``w`` strictly smaller than dense, plus ``"dense": None``."""
    out: dict[str, Encoded | None] = {"dense": None}
    for enc_name, encoder in ENCODINGS.items():
        enc = encoder(w, name)
        if enc is not None and enc.nbytes < dense_bytes:
            out[enc_name] = enc
    return out


def choose(w: np.ndarray, name: str, dense_bytes: int) -> tuple[str, Encoded | None]:
    """Smallest encoding of ``w``; ``("dense", None)`` unless one is strictly smaller."""
    opts = options(w, name, dense_bytes)
    best = min(opts, key=lambda k: (dense_bytes if opts[k] is None else opts[k].nbytes))
    return best, opts[best]


def encodable(init) -> bool:
    """An initializer an encoding may replace: stored in the file, float, or an int8 weight of rank >= 2."""
    from onnx import helper

    if init.data_location == 1:  # external data
        return False
    dtype = helper.tensor_dtype_to_np_dtype(init.data_type).name
    return dtype in FLOAT_TYPES or dtype in INT_WEIGHT_TYPES and len(init.dims) >= 2


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")  # the int8 model's own ops, not part of a weight encoding


def constant_subgraph(model) -> tuple[list, list[str]]:
    """Nodes computed from initializers only (QDQ ops excepted), and those of their outputs the rest of the graph reads."""
    known = {i.name for i in model.graph.initializer} | {""}
    const_nodes, produced = [], set()
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS and all(i in known for i in node.input):
            const_nodes.append(node)
            known.update(node.output)
            produced.update(node.output)
    const_ids = {id(n) for n in const_nodes}
    read = {i for n in model.graph.node if id(n) not in const_ids for i in n.input}
    read |= {o.name for o in model.graph.output}
    return const_nodes, sorted(produced & read)


def decode_model(model) -> dict[str, np.ndarray]:
    """Evaluate the decode subgraph with ONNX's own numpy reference runtime (not ORT).

    Returns every tensor the graph computes from initializers alone, by name.
    """
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    nodes, outputs = constant_subgraph(model)
    if not outputs:
        return {}
    graph = helper.make_graph(nodes, "decode", [], [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                                                    for o in outputs], initializer=list(model.graph.initializer))
    sub = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return dict(zip(outputs, ReferenceEvaluator(sub).run(None, {})))

