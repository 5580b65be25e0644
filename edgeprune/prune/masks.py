"""Masks from scores: global thresholds (Phase 1) and per-layer exact counts (Phase 3)."""
from __future__ import annotations

import torch

from .layers import Layer


def global_layer_sparsity(scores: dict[str, torch.Tensor], target: float) -> dict[str, float]:
    """Per-layer sparsity when the lowest ``target`` fraction of all scores is removed.

    One global threshold; weights tied at the threshold are split between layers
    in proportion to how many tied weights each holds, so the global count is exact.
    """
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = int(round(target * flat.numel()))
    if k <= 0:
        return {name: 0.0 for name in scores}
    thr = torch.kthvalue(flat, k).values
    below = {n: int((s < thr).sum()) for n, s in scores.items()}
    ties = {n: int((s == thr).sum()) for n, s in scores.items()}
    need = k - sum(below.values())
    total_ties = sum(ties.values())
    out = {}
    for n, s in scores.items():
        extra = need * ties[n] / total_ties if total_ties else 0.0
        out[n] = (below[n] + extra) / s.numel()
    return out


def planned_count(rho: float, numel: int) -> int:
    """Whole weights to prune for sparsity ``rho`` (the plan is in weights, not percent)."""
    return int(min(numel, max(0, round(rho * numel))))


def layer_mask(score: torch.Tensor, n_prune: int) -> torch.Tensor:
    """Bool keep-mask removing exactly ``n_prune`` lowest-scoring entries (ties by index)."""
    flat = score.flatten()
    keep = torch.ones_like(flat, dtype=torch.bool)
    if n_prune > 0:
        order = torch.argsort(flat, stable=True)
        keep[order[:n_prune]] = False
    return keep.view_as(score)


def build_masks(scores: dict[str, torch.Tensor], plan: dict[str, float], layers: list[Layer]) -> dict[str, torch.Tensor]:
    """Keep-masks for every layer in ``plan`` (sparsity per layer)."""
    numel = {l.name: l.numel for l in layers}
    return {name: layer_mask(scores[name], planned_count(rho, numel[name])) for name, rho in plan.items()}


def measured_sparsity(state_dict: dict[str, torch.Tensor], names) -> dict[str, float]:
    """Fraction of exact zeros per tensor."""
    return {n: float((state_dict[n] == 0).sum()) / state_dict[n].numel() for n in names}


def global_sparsity(per_layer: dict[str, float], layers: list[Layer]) -> float:
    numel = {l.name: l.numel for l in layers}
    total = sum(numel[n] for n in per_layer)
    return sum(per_layer[n] * numel[n] for n in per_layer) / total if total else 0.0
