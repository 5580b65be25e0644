"""``delta4``: 4-bit gaps between nonzero positions, two per byte, for :mod:`.sparse_onnx`.

Nibble 0 is an escape that advances :data:`NIBBLE_ESCAPE` positions without a
value, so long gaps cost half a byte per 15 positions and no value. Decoded at
load by ``BitShift``/``BitwiseAnd`` -> int32 ``CumSum`` (positions) and a
``Gather`` of the values (index 0 = a leading zero, for escapes), one
``ScatterElements`` into a flat zero tensor shared per shape, ``Reshape``. Best
for int8 weights between ~75 % and ~97 % sparsity, and for fp32 near 90 %.
"""
from __future__ import annotations

import numpy as np

from .sparse_graph import INT32, DecodeBuilder, Encoded

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
    if not np.count_nonzero(flat) or flat.size >= 2**31:
        return None
    nib, _ = nibble_entries(flat)
    n = len(nib)
    packed = np.zeros((n + 1) // 2 * 2, np.uint8)
    packed[:n] = nib
    packed = (packed[0::2] << 4 | packed[1::2])[:, None]  # [m, 1], first nibble in the high half
    m2 = 2 * len(packed)
    b = DecodeBuilder(name, w.dtype)
    shifted = b.node("BitShift", [b.const("nibbles", packed), b.const("shifts", np.array([4, 0], np.uint8))],
                     direction="RIGHT", nbytes=m2)
    halves = b.node("BitwiseAnd", [shifted, b.const("low4", np.array([15], np.uint8))], nbytes=m2)
    nibs = b.node("Reshape", [b.node("Cast", [halves], to=INT32, nbytes=4 * m2), b.const("flat", np.array([-1], np.int64))],
                  nbytes=4 * m2)
    if n % 2:
        nibs = b.node("Slice", [nibs, b.const("start", np.array([0], np.int64)), b.const("n", np.array([n], np.int64))],
                      nbytes=4 * n)
    esc = b.node("Cast", [b.node("Equal", [nibs, b.const("zero", np.array([0], np.int32))], nbytes=n)], to=INT32,
                 nbytes=4 * n)
    step = b.node("Add", [nibs, b.node("Mul", [esc, b.const("escape", np.array([NIBBLE_ESCAPE], np.int32))],
                                       nbytes=4 * n)], nbytes=4 * n)
    axis = b.const("axis", np.array(0, np.int64))
    pos = b.node("Sub", [b.node("CumSum", [step, axis], nbytes=4 * n), b.const("one", np.array([1], np.int32))],
                 nbytes=4 * n)
    real = b.node("Sub", [b.const("one_", np.array([1], np.int32)), esc], nbytes=4 * n)
    vidx = b.node("Mul", [b.node("CumSum", [real, axis], nbytes=4 * n), real], nbytes=4 * n)  # 1-based, 0 for escapes
    vals = b.node("Gather", [b.const("values", np.concatenate([np.zeros(1, flat.dtype), flat[flat != 0]])), vidx],
                  axis=0, nbytes=n * w.itemsize)
    scattered = b.node("ScatterElements", [b.zeros([flat.size]), pos, vals], axis=0, nbytes=w.nbytes)
    b.node("Reshape", [scattered, b.const("shape", np.array(w.shape, np.int64))], name)
    return b.enc

