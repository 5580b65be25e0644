"""TFLite's own sparse format for pruned constant weights (flatbuffer rewrite).

A converted ``.tflite`` holds each weight as a dense constant buffer. For every
float32 weight of a kernel listed in :func:`consumers` that has zeros, we write
``Tensor.sparsity`` instead (traversal_order + dim_metadata: DENSE levels and
one innermost SPARSE_CSR level with the smallest index types that fit) and
insert a ``DENSIFY`` op whose dense output feeds the original consumer. LiteRT densifies once: the
builtin kernel on first invoke, XNNPACK at delegate init.

Layout: all dimensions DENSE except one, stored innermost as SPARSE_CSR; the
dimension is chosen per tensor by exact byte count (a dimension of at most 256
gets uint8 indices, else uint16), and a tensor stays dense unless the sparse
form is smaller. No ``block_map``: LiteRT parses ``dense_size`` only for DENSE
levels and derives block sizes from it, so a SPARSE_CSR block level (the way to
get uint8 indices for a 512-wide dimension) divides by zero at load (SIGFPE,
ai-edge-litert 2.3.0); dense blocks would store the zeros inside each block.
A CONV_2D with no dimension of at most 256 (a ``[512, 3, 3, 512]`` kernel) is
first split along its output channels (:mod:`.tflite_split`) so that its slices
get uint8 indices. The sparse tensor carries no quantization: its DENSIFY output,
the consumer's input, keeps the per-channel scales (stored once, not twice).
:func:`densify` is an independent numpy reader of the whole format (block maps
included, TFLite ``FormatConverter`` semantics), used to verify files.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .tflite_flat import _builtin, _opcode_index, _schema, load_model, pack_model  # noqa: F401 (re-exported)

__all__ = ["SPARSE_OVERHEAD", "CsrLayout", "consumers", "int8_consumers", "plan_layout", "encode", "densify",
           "weight_tensors", "sparsify_model", "read_weights", "dense_weights", "load_model", "pack_model"]

#: Fixed cost of a sparse tensor (sparsity table, DENSIFY op and its output tensor), bytes.
SPARSE_OVERHEAD = 160


def consumers() -> dict[int, tuple[int, ...]]:
    """Builtin op -> input slots whose constant weights may be stored sparse.

    Only ops verified to run DENSIFY-fed weights in LiteRT, with XNNPACK and with
    the builtin kernels (tests/test_export_models.py); extend after verifying.
    """
    op = _schema().BuiltinOperator
    return {op.CONV_2D: (1,), op.DEPTHWISE_CONV_2D: (1,), op.FULLY_CONNECTED: (1,)}


def int8_consumers() -> set[int]:
    """Builtin ops whose *int8* weights may come from DENSIFY: LiteRT 2.3.0's XNNPACK delegate runs
    DENSIFY-fed int8 convolutions but fails to prepare an int8 FULLY_CONNECTED fed by DENSIFY
    (tests/test_int8.py checks both), so int8 FULLY_CONNECTED weights stay dense."""
    op = _schema().BuiltinOperator
    return {op.CONV_2D, op.DEPTHWISE_CONV_2D}


def _value_dtypes() -> dict[int, np.dtype]:
    """Weight types we store sparse: float32 and int8 (DENSIFY's builtin kernel has no float16).

    An int8 weight keeps its quantization parameters, and its densified twin gets a copy of
    them, so the consumer sees the same per-channel scales (zero points are 0: symmetric).
    """
    S = _schema()
    return {S.TensorType.FLOAT32: np.dtype(np.float32), S.TensorType.INT8: np.dtype(np.int8)}


def _index_types():
    """(numpy dtype, SparseIndexVector tag, vector class) from smallest to largest."""
    S = _schema()
    return [(np.dtype(np.uint8), S.SparseIndexVector.Uint8Vector, S.Uint8VectorT),
            (np.dtype(np.uint16), S.SparseIndexVector.Uint16Vector, S.Uint16VectorT),
            (np.dtype(np.int32), S.SparseIndexVector.Int32Vector, S.Int32VectorT)]


def _index_type_for(max_value: int):
    return next(t for t in _index_types() if max_value <= np.iinfo(t[0]).max)


# ---------------------------------------------------------------- layout
@dataclass(frozen=True)
class CsrLayout:
    """DENSE levels over every dimension but ``dim``, then ``dim`` as the SPARSE_CSR level."""

    shape: tuple[int, ...]
    dim: int

    @property
    def traversal_order(self) -> list[int]:
        return [d for d in range(len(self.shape)) if d != self.dim] + [self.dim]

    @property
    def rows(self) -> int:
        return int(np.prod(self.shape)) // self.shape[self.dim]

    def nbytes(self, nnz: int, itemsize: int) -> int:
        """Exact payload: values + CSR indices + segments (metadata excluded)."""
        idx = _index_type_for(self.shape[self.dim] - 1)[0].itemsize
        seg = _index_type_for(nnz)[0].itemsize
        return nnz * (itemsize + idx) + (self.rows + 1) * seg

    def rows_of(self, w: np.ndarray) -> np.ndarray:
        """``w`` in traversal order, one CSR row per line."""
        return np.moveaxis(w, self.dim, -1).reshape(-1, self.shape[self.dim])


def plan_layout(w: np.ndarray) -> CsrLayout | None:
    """Smallest CSR layout for ``w``, or None when dense is at least as small."""
    if w.ndim == 0 or w.size == 0:
        return None
    nnz = int(np.count_nonzero(w))
    shape = tuple(int(s) for s in w.shape)
    best = min((CsrLayout(shape, j) for j in range(len(shape))), key=lambda lay: (lay.nbytes(nnz, w.itemsize), lay.rows))
    return best if best.nbytes(nnz, w.itemsize) + SPARSE_OVERHEAD < w.nbytes else None


def encode(w: np.ndarray, layout: CsrLayout):
    """``(values, SparsityParametersT)`` for ``w`` in ``layout``."""
    S = _schema()
    rows = layout.rows_of(w)
    keep = rows != 0
    values = np.ascontiguousarray(rows[keep])
    indices = np.nonzero(keep)[1]
    segments = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    size = layout.shape[layout.dim]
    idx_dtype, idx_tag, idx_cls = _index_type_for(size - 1)
    seg_dtype, seg_tag, seg_cls = _index_type_for(int(segments[-1]))
    levels = [S.DimensionMetadataT(format=S.DimensionType.DENSE, denseSize=layout.shape[d])
              for d in layout.traversal_order[:-1]]
    levels.append(S.DimensionMetadataT(
        format=S.DimensionType.SPARSE_CSR, denseSize=size,
        arraySegmentsType=seg_tag, arraySegments=seg_cls(values=segments.astype(seg_dtype)),
        arrayIndicesType=idx_tag, arrayIndices=idx_cls(values=indices.astype(idx_dtype))))
    sparsity = S.SparsityParametersT(
        traversalOrder=np.asarray(layout.traversal_order, np.int32), dimMetadata=levels)
    return values, sparsity


def densify(shape, sparsity, values: np.ndarray) -> np.ndarray:
    """Numpy reader of ``Tensor.sparsity`` (any DENSE/SPARSE_CSR levels, any block map)."""
    S = _schema()
    shape = [int(s) for s in shape]
    order = [int(t) for t in sparsity.traversalOrder]
    block_map = [int(b) for b in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    rank = len(shape)
    levels = sparsity.dimMetadata
    coords = np.zeros((1, 0), np.int64)  # one row per reached position, one column per level
    prev = np.zeros(1, np.int64)  # position index in the previous level (TFLite's prev_idx)
    for lv in levels:
        if lv.format == S.DimensionType.DENSE:
            n = int(lv.denseSize)
            coords = np.concatenate([np.repeat(coords, n, axis=0),
                                     np.tile(np.arange(n), len(prev))[:, None]], axis=1)
            prev = (prev[:, None] * n + np.arange(n)).ravel()
        else:
            seg = np.asarray(lv.arraySegments.values, np.int64)
            idx = np.asarray(lv.arrayIndices.values, np.int64)
            counts = seg[prev + 1] - seg[prev]
            starts = np.repeat(seg[prev], counts)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            pos = starts + offsets
            coords = np.concatenate([np.repeat(coords, counts, axis=0), idx[pos][:, None]], axis=1)
            prev = pos
    if len(coords) != len(values):
        raise ValueError(f"sparsity describes {len(coords)} values, buffer holds {len(values)}")
    orig = np.zeros((len(coords), rank), np.int64)
    for level, dim in enumerate(order[:rank]):
        orig[:, dim] = coords[:, level]
    for level in range(rank, len(order)):
        b = order[level] - rank
        size = int(levels[order.index(rank + b)].denseSize)
        orig[:, block_map[b]] = orig[:, block_map[b]] * size + coords[:, level]
    dense = np.zeros(shape, values.dtype)
    dense[tuple(orig.T)] = values
    return dense


# ---------------------------------------------------------------- model rewrite
# flatbuffer I/O lives in .tflite_flat (re-exported here)


def weight_tensors(model) -> Iterator[tuple[int, int]]:
    """``(subgraph, tensor)`` of dense constant weights feeding a :func:`consumers` slot."""
    slots = consumers()
    dtypes = _value_dtypes()
    int8_ops, int8 = int8_consumers(), _schema().TensorType.INT8
    for si, sg in enumerate(model.subgraphs):
        seen = set()
        for op in sg.operators:
            builtin = _builtin(model, op)
            for slot in slots.get(builtin, ()):
                if slot >= len(op.inputs) or op.inputs[slot] < 0:
                    continue
                ti = int(op.inputs[slot])
                t = sg.tensors[ti]
                data = model.buffers[t.buffer].data
                if t.type == int8 and builtin not in int8_ops:
                    continue
                if (ti in seen or t.sparsity is not None or t.type not in dtypes or not _plain_values(t)
                        or data is None or not len(data)):
                    continue
                seen.add(ti)
                yield si, ti


def _plain_values(t) -> bool:
    """A float tensor without quantization, or an int8 one whose zero is exactly 0 (symmetric)."""
    q = t.quantization
    quantized = q is not None and q.scale is not None and len(q.scale)
    if t.type == _schema().TensorType.INT8:
        return bool(quantized) and (q.zeroPoint is None or not np.any(np.asarray(q.zeroPoint)))
    return not quantized


def sparsify_model(model) -> dict:
    """Rewrite pruned weights of a ModelT in place into TFLite sparse tensors + DENSIFY.

    Returns stats ``{"dense": n, "sparse_csr": n, "split_convs": n}`` (convs split along output channels
    first, :mod:`.tflite_split`, so that their slices get uint8 indices; see :func:`load_model`,
    :func:`pack_model`).
    """
    from .tflite_split import split_wide_convs

    S = _schema()
    split = split_wide_convs(model)
    dtypes = _value_dtypes()
    stats: Counter = Counter()
    users: Counter = Counter(t.buffer for sg in model.subgraphs for t in sg.tensors)
    densify_ops: dict[int, list] = {}
    for si, ti in list(weight_tensors(model)):
        sg = model.subgraphs[si]
        t = sg.tensors[ti]
        w = np.asarray(model.buffers[t.buffer].data).view(dtypes[t.type]).reshape([int(s) for s in t.shape])
        layout = plan_layout(w)
        if layout is None:
            stats["dense"] += 1
            continue
        values, t.sparsity = encode(w, layout)
        if users[t.buffer] == 1:
            model.buffers[t.buffer].data = values.view(np.uint8)
        else:  # buffer shared with another tensor: give this one its own
            model.buffers.append(S.BufferT(data=values.view(np.uint8)))
            t.buffer = len(model.buffers) - 1
        dense_t = S.TensorT(shape=np.asarray(t.shape, np.int32), type=t.type, buffer=0,
                            name=(t.name or b"weight") + b"/densified", shapeSignature=t.shapeSignature,
                            quantization=t.quantization)
        t.quantization = None  # only the consumer's input (the DENSIFY output) needs the scales: 12 B a channel
        sg.tensors.append(dense_t)
        dense_ti = len(sg.tensors) - 1
        for op in sg.operators:
            op.inputs = np.asarray([dense_ti if int(i) == ti else int(i) for i in op.inputs], np.int32)
        densify_ops.setdefault(si, []).append(S.OperatorT(
            opcodeIndex=_opcode_index(model, S.BuiltinOperator.DENSIFY), inputs=np.asarray([ti], np.int32),
            outputs=np.asarray([dense_ti], np.int32), builtinOptionsType=S.BuiltinOptions.DensifyOptions,
            builtinOptions=S.DensifyOptionsT()))
        stats["sparse_csr"] += 1
    for si, ops in densify_ops.items():
        model.subgraphs[si].operators = ops + list(model.subgraphs[si].operators)
    if not model.buffers or model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ValueError("buffer 0 is not the empty sentinel")
    return {"dense": stats["dense"], "sparse_csr": stats["sparse_csr"], "split_convs": split}


def read_weights(buf: bytes) -> dict[tuple[int, int], np.ndarray]:
    """Every sparse tensor of a ``.tflite`` densified with numpy: ``(subgraph, tensor) -> array``.

    Tensor indices are those of the dense file: :func:`sparsify_model` only appends tensors.
    """
    dtypes = _value_dtypes()
    model = load_model(buf)
    out = {}
    for si, sg in enumerate(model.subgraphs):
        for ti, t in enumerate(sg.tensors):
            if t.sparsity is not None:
                values = np.asarray(model.buffers[t.buffer].data).view(dtypes[t.type])
                out[si, ti] = densify(t.shape, t.sparsity, values)
    return out


def dense_weights(buf: bytes) -> dict[tuple[int, int], np.ndarray]:
    """Dense constant weights feeding :func:`consumers` slots: ``(subgraph, tensor) -> array``."""
    dtypes = _value_dtypes()
    model = load_model(buf)
    out = {}
    for si, ti in weight_tensors(model):
        t = model.subgraphs[si].tensors[ti]
        out[si, ti] = np.asarray(model.buffers[t.buffer].data).view(dtypes[t.type]).reshape(
            [int(s) for s in t.shape]).copy()
    return out
