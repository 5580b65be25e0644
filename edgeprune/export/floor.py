"""Sizes a pruned model cannot beat: dense bytes and the information floor.

floor = sum over pruned tensors of (nnz x bytes per value + numel x H(density) / 8)
        + dense bytes of every other tensor,
with H the binary entropy in bits: the cost of the values plus the cheapest
possible description of which positions are kept (without value modelling).
A pruned tensor is a float tensor of rank >= 2 with at least one zero (what the
prune stage masks); for a tensor without zeros both terms equal its dense bytes.

The int8 floor (:func:`int8_floor_bytes`) is the same formula at 1 byte per kept
value, with the kept positions those of the int8 weights: symmetric per output
channel quantization (what both int8 exporters use) rounds |w| < max|w_channel| / 254
to zero as well. Other tensors (biases, norms) count at their fp32 bytes: they
stay 32-bit in an int8 model (int32 biases, float scales).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


def binary_entropy(p: float) -> float:
    """H(p) in bits; 0 at p in {0, 1}."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def _as_numpy(t: Any) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    return t.detach().cpu().numpy()  # torch tensor (lazy: no torch import here)


def is_float(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.floating)


def tensor_floor(a: np.ndarray) -> float:
    """Floor bytes of one tensor (dense bytes unless it is pruned)."""
    if a.ndim < 2 or a.size == 0:
        return float(a.nbytes)
    nnz = int(np.count_nonzero(a))
    return nnz * a.itemsize + a.size * binary_entropy(nnz / a.size) / 8


def size_report(state: Mapping[str, Any]) -> dict:
    """``dense_bytes``, ``floor_bytes`` and ``sparsity`` (over pruned tensors) of a float state dict.

    Integer buffers (e.g. BatchNorm's ``num_batches_tracked``) are not weights and are skipped.
    """
    dense = floor = 0.0
    pruned_numel = pruned_zeros = 0
    for a in (_as_numpy(v) for v in state.values()):
        if not is_float(a):
            continue
        dense += a.nbytes
        floor += tensor_floor(a)
        if a.ndim >= 2:
            pruned_numel += a.size
            pruned_zeros += a.size - int(np.count_nonzero(a))
    return {"dense_bytes": int(dense), "floor_bytes": int(math.ceil(floor)),
            "sparsity": pruned_zeros / pruned_numel if pruned_numel else 0.0}


def int8_weights(a: np.ndarray) -> np.ndarray:
    """Symmetric per-output-channel (axis 0) int8 rounding of a float tensor: round(127 w / max|w_c|)."""
    flat = np.abs(a.reshape(a.shape[0], -1)).max(axis=1) if a.ndim else np.abs(a)
    scale = np.where(flat > 0, flat / 127.0, 1.0).reshape((-1,) + (1,) * (a.ndim - 1))
    return np.clip(np.round(a / scale), -127, 127).astype(np.int8)


def int8_floor_bytes(state: Mapping[str, Any]) -> int:
    """Information floor of the int8 model: per pruned tensor nnz(int8) x 1 B + numel x H(density) / 8,
    plus the fp32 bytes of every other float tensor."""
    floor = 0.0
    for a in (_as_numpy(v) for v in state.values()):
        if not is_float(a):
            continue
        if a.ndim < 2 or a.size == 0 or np.count_nonzero(a) == a.size:
            floor += a.nbytes if a.ndim < 2 or a.size == 0 else a.size  # unpruned weights: 1 B each
            continue
        nnz = int(np.count_nonzero(int8_weights(a.astype(np.float32))))
        floor += nnz + a.size * binary_entropy(nnz / a.size) / 8
    return int(math.ceil(floor))
