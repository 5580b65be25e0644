"""Compact ONNX encodings for pruned weights, decoded by standard ops at load.

Each float initializer is replaced by the smallest of:

``dense``    the initializer as is;
``zeros``    ``ConstantOfShape`` (an all-zero tensor);
``delta8``   nonzero values + uint8 gaps between their flat positions,
             ``Cast -> CumSum -> ScatterND`` into zeros, ``Reshape``; a gap over
             255 is bridged by explicit zero entries (about 5 bytes per nonzero);
``delta16``  the same with uint16 gaps, for tensors above ~99.5 % sparsity;
``delta4``   4-bit gaps, two per byte; nibble 0 is an escape that advances 15
             positions without a value, so long gaps cost half a byte each 15
             positions and no value; ``Gather`` maps entries to values (best for
             int8 weights between ~75 % and ~97 % sparsity, and for fp32 near 90 %);
``bitmask``  nonzero values + a packed bit mask (numel/8 bytes), unpacked with
             ``BitShift``/``BitwiseAnd``, an int32 ``CumSum`` gives each kept
             element its value index, ``Gather`` (best below ~90 % sparsity).

Sizes are exact serialized byte counts of the nodes and initializers, so a
tensor is never stored larger than dense. Every decode op has constant inputs
only, so ONNX Runtime constant-folds the subgraph once at session creation (no
``NonZero``: ORT does not fold it). ``sparse_initializer`` is not used: its
INT64 COO indices cost 12 bytes per nonzero and lose to ``delta16`` unless a
tensor has under one nonzero per 65,536 elements, which ``zeros`` covers.
Run this after graph simplification, or the simplifier folds it back.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

METADATA_KEY = "edgeprune.sparse_encoding"
FLOAT_TYPES = ("float16", "float32", "float64")
#: integer weights (QDQ int8) are encoded when they are matrices or kernels (rank >= 2);
#: scales, zero points and int32 biases stay plain initializers for the QDQ fusions
INT_WEIGHT_TYPES = ("int8",)


@dataclass
class Encoded:
    """Nodes + initializers that compute one tensor (named like the initializer they replace)."""

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(p.ByteSize() for p in self.nodes) + sum(p.ByteSize() for p in self.initializers)


class _Builder:
    """Collects private constants and nodes for one tensor, with unique names."""

    def __init__(self, name: str):
        self.name, self.enc, self._n = name, Encoded(), 0

    def const(self, tag: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        cname = f"{self.name}::{tag}"
        self.enc.initializers.append(numpy_helper.from_array(np.asarray(value), cname))
        return cname

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        self._n += 1
        out = output or f"{self.name}::{self._n}"
        self.enc.nodes.append(helper.make_node(op, inputs, [out], **attrs))  # node names are optional: omitted
        return out


def _zero_value(dtype: np.dtype):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(1, dtype))


def encode_zeros(w: np.ndarray, name: str) -> Encoded | None:
    if np.count_nonzero(w):
        return None
    b = _Builder(name)
    b.node("ConstantOfShape", [b.const("shape", np.array(w.shape, np.int64))], name, value=_zero_value(w.dtype))
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


def _encode_delta(w: np.ndarray, name: str, dtype: type) -> Encoded | None:
    flat = w.ravel()
    if not np.count_nonzero(flat):
        return None
    gaps, values = delta_entries(flat, int(np.iinfo(dtype).max))
    b = _Builder(name)
    idx = b.node("CumSum", [b.node("Cast", [b.const("gaps", gaps.astype(dtype)[:, None])], to=7),  # 7 = INT64
                            b.const("axis", np.array(0, np.int64))])
    zeros = b.node("ConstantOfShape", [b.const("numel", np.array([flat.size], np.int64))], value=_zero_value(w.dtype))
    scattered = b.node("ScatterND", [zeros, idx, b.const("values", values)])
    b.node("Reshape", [scattered, b.const("shape", np.array(w.shape, np.int64))], name)
    return b.enc


NIBBLE_ESCAPE = 15  # positions an escape nibble (0) advances


def nibble_entries(flat: np.ndarray) -> tuple[np.ndarray, int]:
    """``(nibbles, n_escapes)``: per nonzero, ``(gap - 1) // 15`` escapes then ``gap - 15 * escapes``.

    Gaps count from position -1, so ``cumsum(step) - 1`` (step = nibble, or 15 for 0) are the positions.
    """
    pos = np.flatnonzero(flat).astype(np.int64)
    gap = np.diff(pos, prepend=-1)
    esc = (gap - 1) // NIBBLE_ESCAPE
    counts = esc + 1
    nib = np.zeros(int(counts.sum()), np.uint8)
    nib[np.cumsum(counts) - 1] = gap - esc * NIBBLE_ESCAPE
    return nib, int(esc.sum())


def decode_nibbles(nib: np.ndarray, values: np.ndarray, numel: int) -> np.ndarray:
    """Numpy reader of :func:`encode_delta4` (values without the leading zero)."""
    step = np.where(nib == 0, NIBBLE_ESCAPE, nib).astype(np.int64)
    pos = np.cumsum(step) - 1
    out = np.zeros(numel, values.dtype)
    out[pos[nib != 0]] = values
    return out


def encode_delta4(w: np.ndarray, name: str) -> Encoded | None:
    flat = w.ravel()
    if not np.count_nonzero(flat):
        return None
    nib, _ = nibble_entries(flat)
    n = len(nib)
    packed = np.zeros((n + 1) // 2 * 2, np.uint8)
    packed[:n] = nib
    packed = (packed[0::2] << 4 | packed[1::2])[:, None]  # [m, 1], first nibble in the high half
    b = _Builder(name)
    halves = b.node("BitwiseAnd", [b.node("BitShift", [b.const("nibbles", packed), b.const("shifts", np.array([4, 0], np.uint8))],
                                          direction="RIGHT"), b.const("low4", np.array([15], np.uint8))])
    nibs = b.node("Reshape", [b.node("Cast", [halves], to=6), b.const("flat", np.array([-1], np.int64))])  # INT32
    if n % 2:
        nibs = b.node("Slice", [nibs, b.const("start", np.array([0], np.int64)), b.const("n", np.array([n], np.int64))])
    esc = b.node("Cast", [b.node("Equal", [nibs, b.const("zero", np.array([0], np.int32))])], to=6)
    step = b.node("Add", [nibs, b.node("Mul", [esc, b.const("escape", np.array([NIBBLE_ESCAPE], np.int32))])])
    axis = b.const("axis", np.array(0, np.int64))
    pos = b.node("Sub", [b.node("CumSum", [step, axis]), b.const("one", np.array([1], np.int32))])
    idx = b.node("Reshape", [b.node("Cast", [pos], to=7), b.const("column", np.array([-1, 1], np.int64))])  # INT64
    real = b.node("Sub", [b.const("one_", np.array([1], np.int32)), esc])
    vidx = b.node("Mul", [b.node("CumSum", [real, axis]), real])  # 1-based value index, 0 for escapes
    vals = b.node("Gather", [b.const("values", np.concatenate([np.zeros(1, flat.dtype), flat[flat != 0]])), vidx], axis=0)
    zeros = b.node("ConstantOfShape", [b.const("numel", np.array([flat.size], np.int64))], value=_zero_value(w.dtype))
    b.node("Reshape", [b.node("ScatterND", [zeros, idx, vals]), b.const("shape", np.array(w.shape, np.int64))], name)
    return b.enc


def encode_bitmask(w: np.ndarray, name: str) -> Encoded | None:
    flat = w.ravel()
    if not np.count_nonzero(flat):
        return None
    keep = flat != 0
    b = _Builder(name)
    bits = b.const("bits", np.packbits(keep)[:, None])  # [m, 1], first element in the high bit
    unpacked = b.node("BitwiseAnd", [b.node("BitShift", [bits, b.const("shifts", np.arange(7, -1, -1, dtype=np.uint8))],
                                            direction="RIGHT"), b.const("one", np.array([1], np.uint8))])
    # int32 (not int64) halves the numel-sized intermediates ORT folds at load
    mask = b.node("Reshape", [b.node("Cast", [unpacked], to=6), b.const("flat", np.array([-1], np.int64))])  # 6 = INT32
    if flat.size % 8:
        mask = b.node("Slice", [mask, b.const("start", np.array([0], np.int64)),
                                b.const("numel", np.array([flat.size], np.int64))])
    # position i -> 1-based index of its value if kept, else 0 (a leading zero value); shaped before the Gather
    index = b.node("Mul", [b.node("CumSum", [mask, b.const("axis", np.array(0, np.int64))]), mask])
    index = b.node("Reshape", [index, b.const("shape", np.array(w.shape, np.int64))])
    values = np.concatenate([np.zeros(1, flat.dtype), flat[keep]])
    b.node("Gather", [b.const("values", values), index], name, axis=0)
    return b.enc


#: encoding name -> encoder (None when it does not apply); "dense" is the fallback.
ENCODINGS: dict[str, Callable[[np.ndarray, str], Encoded | None]] = {
    "zeros": encode_zeros,
    "delta8": lambda w, name: _encode_delta(w, name, np.uint8),
    "delta16": lambda w, name: _encode_delta(w, name, np.uint16),
    "delta4": encode_delta4,
    "bitmask": encode_bitmask,
}


def choose(w: np.ndarray, name: str, dense_bytes: int) -> tuple[str, Encoded | None]:
    """Smallest encoding of ``w``; ``("dense", None)`` unless one is strictly smaller."""
    best: tuple[str, Encoded | None] = ("dense", None)
    size = dense_bytes
    for enc_name, encoder in ENCODINGS.items():
        enc = encoder(w, name)
        if enc is not None and enc.nbytes < size:
            best, size = (enc_name, enc), enc.nbytes
    return best


def _encodable(init) -> bool:
    from onnx import helper

    if init.data_location == 1:  # external data
        return False
    dtype = helper.tensor_dtype_to_np_dtype(init.data_type).name
    return dtype in FLOAT_TYPES or dtype in INT_WEIGHT_TYPES and len(init.dims) >= 2


def encode_model(model) -> dict[str, int]:
    """Replace pruned float (and int8 weight) initializers of ``model`` in place; returns encoding counts.

    The chosen encoding per tensor is recorded in ``metadata_props`` under
    :data:`METADATA_KEY` (JSON name -> encoding), for inspection only.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    counts: Counter = Counter()
    chosen: dict[str, str] = {}
    kept, added, decode_nodes = [], [], []
    for init in graph.initializer:
        if not _encodable(init):
            kept.append(init)
            continue
        w = numpy_helper.to_array(init)
        enc_name, enc = choose(w, init.name, init.ByteSize())
        counts[enc_name] += 1
        if enc is None:
            kept.append(init)
            continue
        chosen[init.name] = enc_name
        added += enc.initializers
        decode_nodes += enc.nodes
    if chosen:
        taken = {i.name for i in kept} | {o for n in graph.node for o in n.output}
        clash = taken & {i.name for i in added}
        if clash:
            raise ValueError(f"encoded constant names collide with the graph: {sorted(clash)[:3]}")
        graph.ClearField("initializer")
        graph.initializer.extend(kept + added)
        nodes = list(graph.node)
        graph.ClearField("node")
        graph.node.extend(decode_nodes + nodes)
        helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, METADATA_KEY: json.dumps(chosen)})
    return {k: counts[k] for k in ["dense", *ENCODINGS] if counts[k]}


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
