"""Split a wide CONV_2D along its output channels so its sparse weights get 1-byte CSR indices.

A kept weight of a TFLite CSR tensor costs its value plus one index, and the index
is uint8 only when the SPARSE_CSR level is at most 256 wide. A ``[512, 3, 3, 512]``
kernel has no such dimension but 3-wide ones (whose CSR segments would cost more than
the indices save), so it needs uint16 indices: 3 bytes per kept int8 weight. LiteRT
offers no way around it inside one tensor (:mod:`.sparse_tflite`: a SPARSE_CSR block
level divides by zero at load, a dense block stores the zeros inside each block, and a
reshaped kernel behind DENSIFY -> RESHAPE is no longer a static filter, so XNNPACK
leaves the conv to the builtin kernels).

So the conv itself is split: ``k`` convs, each with a slice of at most 256 output
channels of the kernel, bias and per-channel scales, then one CONCATENATION on the
channel axis into the original output tensor (same quantization, so a plain copy).
Output channels are computed independently, so the result is the same as the unsplit
conv (bit-exact for int8 in LiteRT with and without XNNPACK: tests/test_int8.py), and
each slice's kernel stays static behind its own DENSIFY. A conv is split only when the
slices' smallest sparse layouts, plus the split's own overhead, are smaller than the
whole kernel's.
"""
from __future__ import annotations

import copy

import numpy as np

from .sparse_tflite import SPARSE_OVERHEAD, _plain_values, _value_dtypes, plan_layout
from .tflite_flat import _builtin, _opcode_index, _schema

#: Widest slice: the largest CSR level with uint8 indices.
SLICE_WIDTH = 256
#: Fixed cost of one more slice (CONV_2D op, weight/bias/output tensors) and of the CONCATENATION, bytes.
SPLIT_OVERHEAD = 320


def stored_bytes(w: np.ndarray) -> int:
    """Bytes :mod:`.sparse_tflite` stores for ``w``: its smallest CSR layout, or dense."""
    lay = plan_layout(w)
    return w.nbytes if lay is None else lay.nbytes(int(np.count_nonzero(w)), w.itemsize) + SPARSE_OVERHEAD


def slice_bounds(channels: int, width: int = SLICE_WIDTH) -> list[tuple[int, int]]:
    """``k = ceil(channels / width)`` near-equal ``(lo, hi)`` output-channel ranges."""
    k = -(-channels // width)
    return [(j * channels // k, (j + 1) * channels // k) for j in range(k)]


def plan_split(w: np.ndarray) -> list[tuple[int, int]] | None:
    """Output-channel slices of an OHWI kernel when splitting stores fewer bytes, else None."""
    if w.ndim != 4 or w.shape[0] <= SLICE_WIDTH:
        return None
    bounds = slice_bounds(w.shape[0])
    split = sum(stored_bytes(w[lo:hi]) for lo, hi in bounds) + len(bounds) * SPLIT_OVERHEAD
    return bounds if split < stored_bytes(w) else None


def _slice_quant(q, lo: int, hi: int):
    """Per-output-channel quantization of channels ``lo:hi`` (per-tensor parameters unchanged)."""
    if q is None or q.scale is None or len(q.scale) <= 1:
        return copy.deepcopy(q)
    out = copy.deepcopy(q)
    out.scale = np.asarray(q.scale)[lo:hi]
    out.zeroPoint = np.asarray(q.zeroPoint)[lo:hi]
    return out


def _sliceable(model, sg, op) -> bool:
    """A CONV_2D whose kernel (and bias) are plain constants used by this op alone."""
    S = _schema()
    if _builtin(model, op) != S.BuiltinOperator.CONV_2D or len(op.inputs) < 2 or len(op.outputs) != 1:
        return False
    used = [int(i) for o in sg.operators for i in o.inputs if i >= 0]
    consts = [int(i) for i in op.inputs[1:] if i >= 0]
    buffers = [t.buffer for t in sg.tensors]
    for ti in consts:
        t = sg.tensors[ti]
        data = model.buffers[t.buffer].data
        if used.count(ti) != 1 or buffers.count(t.buffer) != 1 or data is None or not len(data):
            return False
        if t.sparsity is not None or int(t.shape[0]) != int(sg.tensors[op.inputs[1]].shape[0]):
            return False
        if ti != op.inputs[1] and t.type not in (S.TensorType.FLOAT32, S.TensorType.INT32):
            return False
    w = sg.tensors[op.inputs[1]]
    q = w.quantization
    per_channel = q is None or q.scale is None or len(q.scale) <= 1 or q.quantizedDimension == 0
    return w.type in _value_dtypes() and _plain_values(w) and per_channel and len(w.shape) == 4


def _add_tensor(model, sg, like, shape, data: np.ndarray | None, quant, name: bytes) -> int:
    S = _schema()
    buffer = 0
    if data is not None:
        model.buffers.append(S.BufferT(data=np.ascontiguousarray(data).view(np.uint8).ravel()))
        buffer = len(model.buffers) - 1
    sg.tensors.append(S.TensorT(shape=np.asarray(shape, np.int32), type=like.type, buffer=buffer,
                                name=name, quantization=quant))
    return len(sg.tensors) - 1


def _split_op(model, sg, op, bounds) -> list:
    """The slice convs and the CONCATENATION replacing ``op``; slice 0 reuses the kernel and bias tensors."""
    S = _schema()
    out = sg.tensors[op.outputs[0]]
    ops, outs = [], []
    consts = {slot: int(op.inputs[slot]) for slot in range(1, len(op.inputs)) if op.inputs[slot] >= 0}
    arrays, quants = {}, {slot: sg.tensors[ti].quantization for slot, ti in consts.items()}
    names = {slot: sg.tensors[ti].name or b"t" for slot, ti in consts.items()}
    for slot, ti in consts.items():
        t = sg.tensors[ti]
        arrays[slot] = np.asarray(model.buffers[t.buffer].data).view(
            np.dtype(_value_dtypes().get(t.type, np.int32))).reshape([int(s) for s in t.shape])
    for j, (lo, hi) in enumerate(bounds):
        tag = b"/o%d" % lo
        inputs = [int(i) for i in op.inputs]
        for slot, ti in consts.items():
            t, part = sg.tensors[ti], arrays[slot][lo:hi]
            if j == 0:  # shrink the original tensor in place: indices of the dense file stay meaningful
                model.buffers[t.buffer].data = np.ascontiguousarray(part).view(np.uint8).ravel()
                t.quantization, t.shape = _slice_quant(quants[slot], lo, hi), np.asarray(part.shape, np.int32)
                t.name = names[slot] + tag
            else:
                inputs[slot] = _add_tensor(model, sg, t, part.shape, part, _slice_quant(quants[slot], lo, hi),
                                           names[slot] + tag)
        shape = [int(s) for s in out.shape[:-1]] + [hi - lo]
        outs.append(_add_tensor(model, sg, out, shape, None, copy.deepcopy(out.quantization),
                                (out.name or b"t") + tag))
        conv = copy.deepcopy(op)
        conv.inputs, conv.outputs = np.asarray(inputs, np.int32), np.asarray([outs[-1]], np.int32)
        ops.append(conv)
    ops.append(S.OperatorT(
        opcodeIndex=_opcode_index(model, S.BuiltinOperator.CONCATENATION), inputs=np.asarray(outs, np.int32),
        outputs=np.asarray(op.outputs, np.int32), builtinOptionsType=S.BuiltinOptions.ConcatenationOptions,
        builtinOptions=S.ConcatenationOptionsT(axis=len(out.shape) - 1, fusedActivationFunction=0)))
    return ops


def split_wide_convs(model) -> int:
    """In place: split every CONV_2D whose kernel is stored smaller in output-channel slices; returns how many."""
    dtypes = _value_dtypes()
    n = 0
    for sg in model.subgraphs:
        new_ops = []
        for op in sg.operators:
            bounds = None
            if _sliceable(model, sg, op):
                t = sg.tensors[op.inputs[1]]
                w = np.asarray(model.buffers[t.buffer].data).view(dtypes[t.type]).reshape([int(s) for s in t.shape])
                bounds = plan_split(w)
            if bounds is None:
                new_ops.append(op)
                continue
            new_ops.extend(_split_op(model, sg, op, bounds))
            n += 1
        sg.operators = new_ops
    return n
