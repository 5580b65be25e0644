"""TFLite flatbuffer I/O for the weight rewrites: ModelT in (buffers read inline), aligned bytes out.

:func:`pack_model` writes each distinct vector of the tables once (:func:`_dedup_builder`): an int8
model's per-channel tensors all carry int64 zero points of 0, 8 bytes a channel (72 KB of the 90%-sparse
resnet18's 2.52 MB int8 file), which LiteRT requires as many as the scales but which are the same vector
for every tensor of the same width.
"""
from __future__ import annotations

import numpy as np


def _schema():
    from ai_edge_litert import schema_py_generated as S

    return S


class _AlignedBuffer:
    """A BufferT whose payload is written 16-byte aligned (what TFLite's converter does)."""

    def __init__(self, data: np.ndarray | None):
        self.data, self.offset, self.size = data, 0, 0

    def Pack(self, builder):
        S = _schema()
        vec = None
        if self.data is not None and len(self.data):
            payload = np.ascontiguousarray(self.data).view(np.uint8).tobytes()
            builder.StartVector(1, len(payload), 16)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            vec = builder.EndVector()
        S.BufferStart(builder)
        if vec is not None:
            S.BufferAddData(builder, vec)
        return S.BufferEnd(builder)


def _dedup_builder(size: int):
    """A flatbuffers Builder that writes each distinct numpy vector once and points every table using it there.

    Flatbuffers allow a vector to be shared (offsets are plain references; the verifier checks bounds and
    alignment only). What repeats in a quantized model: the all-zero int64 zero points of every per-channel
    tensor (8 B a channel, more than the scales), and shapes.
    """
    import flatbuffers

    class _Builder(flatbuffers.Builder):
        def __init__(self, n: int):
            super().__init__(n)
            self._vectors: dict = {}

        def CreateNumpyVector(self, x):
            key = (x.dtype.str, x.shape, x.tobytes())
            if key not in self._vectors:
                self._vectors[key] = super().CreateNumpyVector(x)
            return self._vectors[key]

    return _Builder(size)


def load_model(buf: bytes):
    """ModelT of a ``.tflite`` with out-of-flatbuffer buffers (offset/size) read inline."""
    S = _schema()
    model = S.ModelT.InitFromPackedBuf(buf, 0)
    raw = np.frombuffer(buf, np.uint8)
    for b in model.buffers:
        if b.offset and b.offset > 1:
            b.data, b.offset, b.size = raw[b.offset:b.offset + b.size], 0, 0
    return model


def pack_model(model) -> bytes:
    model.buffers = [_AlignedBuffer(None if b.data is None else np.asarray(b.data, np.uint8)) for b in model.buffers]
    total = sum(0 if b.data is None else len(b.data) for b in model.buffers)
    if total >= 2**31 - 2**24:
        raise ValueError(f"{total / 1e9:.1f} GB of weights do not fit one flatbuffer (2 GB limit)")
    builder = _dedup_builder(total + (1 << 20))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _opcode_index(model, builtin: int) -> int:
    S = _schema()
    for i, oc in enumerate(model.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == builtin:
            return i
    model.operatorCodes.append(S.OperatorCodeT(deprecatedBuiltinCode=min(builtin, 127), builtinCode=builtin, version=1))
    return len(model.operatorCodes) - 1


def _builtin(model, op) -> int:
    oc = model.operatorCodes[op.opcodeIndex]
    return max(oc.builtinCode, oc.deprecatedBuiltinCode)
