"""Sizes a pruned model cannot beat: dense bytes and the information floor.

floor = sum over pruned tensors of (nnz x bytes per value + numel x H(density) / 8)
        + dense bytes of every other tensor,
with H the binary entropy in bits: the cost of the values plus the cheapest
possible description of which positions are kept (without value modelling).
A pruned tensor is a float tensor of rank >= 2 with at least one zero (what the
prune stage masks); for a tensor without zeros both terms equal its dense bytes.
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
