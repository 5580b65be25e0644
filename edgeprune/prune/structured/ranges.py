"""Structured Phase 1: per-group removed-unit ranges, structural rules, and kept-unit rounding.

Baselines: global structured pruning with MAG, SNIP and GraSP group scores at
the global targets, now read as fractions of prunable *parameters* removed
(conv/linear weights). Scores are divided by their group's mean |score| so one
global ranking compares groups of different widths (Torch-Pruning's "mean"
normaliser; the mean of |s| keeps GraSP's signs). For each target the number of
lowest-ranked units removed is searched (bisection) until the parameter count,
computed exactly by :class:`~.cost.ParamModel`, reaches it; every group keeps at
least one unit. Range of a group = [min, max] of its removed fraction over the
nine runs, then the rules of the spec.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..config import GLOBAL_TARGETS
from ..ranges import LayerRange, Rule, _patch_embed, _small, apply_rules
from .cost import ParamModel
from .groups import ChannelGroup

BASELINES = ("mag", "snip", "grasp")
CLAMP = (0.0, 0.90)  # of a group's units
MIN_CHANNELS = 8
MIN_HEADS = 1
ROUND_TO = 8  # kept channels a multiple of 8 ...
ROUND_FROM = 32  # ... where the group has at least 32 channels
RULES_TEXT = ("norm layers follow their conv (part of its group, never scored alone); classifier outputs never "
              "removed (ignored layer); patch_embed -> [0.15,0.30]; < 10,000 params -> clamp to [0,0.10]; "
              "clamp [0,0.90]; first match wins. Realised counts: keep >= 8 channels (or >= 1 head); kept channels "
              "rounded to the nearest multiple of 8 (or all of them) where a group has >= 32, never removing more "
              "than the range's maximum")


def _clamp(layer, r: tuple[float, float]):
    lo, hi = CLAMP
    clamped = (min(max(r[0], lo), hi), min(max(r[1], lo), hi))
    return clamped if clamped != r else None


RULES: list[tuple[str, Rule]] = [("patch_embed", _patch_embed), ("small_layer", _small), ("clamp", _clamp)]


def _normalised(scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: s.double() / s.double().abs().mean().clamp_min(1e-30) for k, s in scores.items()}


def global_removal(scores: dict[str, torch.Tensor], groups: list[ChannelGroup], pm: ParamModel,
                   target: float) -> tuple[dict[str, int], float]:
    """Units removed per group by one global ranking so that >= ``target`` of prunable parameters go."""
    names = [g.name for g in groups]
    norm = _normalised({g.name: scores[g.name] for g in groups})
    flat = torch.cat([norm[n] for n in names]).numpy()
    owner = np.concatenate([np.full(len(norm[n]), i) for i, n in enumerate(names)])
    order = owner[np.argsort(flat, kind="stable")]
    cap = np.array([g.size - 1 for g in groups])

    def removed(k: int) -> dict[str, int]:
        counts = np.minimum(np.bincount(order[:k], minlength=len(names)), cap)
        return {n: int(c) for n, c in zip(names, counts)}

    lo, hi = 0, len(order)
    if pm.removal(removed(hi)) < target:  # unreachable with one unit left per group: take the maximum
        return removed(hi), pm.removal(removed(hi))
    while lo < hi:
        mid = (lo + hi) // 2
        if pm.removal(removed(mid)) >= target:
            hi = mid
        else:
            lo = mid + 1
    out = removed(lo)
    return out, pm.removal(out)


def derive_ranges(groups: list[ChannelGroup], baseline_scores: dict[str, dict[str, torch.Tensor]], pm: ParamModel,
                  targets=GLOBAL_TARGETS) -> tuple[list[LayerRange], dict[str, float]]:
    """Ranges per group, and the prunable-parameter fraction each baseline run actually removed."""
    observed: dict[str, dict[str, float]] = {g.name: {} for g in groups}
    achieved: dict[str, float] = {}
    for crit, scores in baseline_scores.items():
        for t in targets:
            run = f"{crit}@{int(round(t * 100))}"
            removed, achieved[run] = global_removal(scores, groups, pm, t)
            for g in groups:
                observed[g.name][run] = removed[g.name] / g.size
    out = []
    for g in groups:
        vals = list(observed[g.name].values())
        raw = (min(vals), max(vals)) if vals else (0.0, 0.0)
        final, rule, applied = apply_rules(g, raw, RULES)
        out.append(LayerRange(g.name, g.role, g.numel, observed[g.name], raw, final, rule, applied))
    return out, achieved


def kept_units(size: int, unit: str, rho: float, hi: float = CLAMP[1]) -> int:
    """Units kept when a fraction ``rho`` is planned away, under the spec's count rules."""
    hi = min(max(hi, 0.0), CLAMP[1])
    rho = min(max(rho, 0.0), hi)
    if rho <= 0.0:
        return size
    at_least = max(math.ceil(size * (1.0 - hi) - 1e-9), min(size, MIN_HEADS if unit == "head" else MIN_CHANNELS))
    target = size * (1.0 - rho)
    if unit == "channel" and size >= ROUND_FROM:
        options = [k for k in range(ROUND_TO, size, ROUND_TO) if k >= at_least] + [size]
        return min(options, key=lambda k: (abs(k - target), -k))
    return min(size, max(at_least, math.floor(target + 0.5)))


def realise(plan: dict[str, float], groups: list[ChannelGroup], ranges: list[LayerRange]) -> dict[str, int]:
    """Kept units per group for a plan of removed fractions."""
    hi = {r.name: r.hi for r in ranges}
    return {g.name: kept_units(g.size, g.unit, plan.get(g.name, 0.0), hi.get(g.name, CLAMP[1])) for g in groups}
