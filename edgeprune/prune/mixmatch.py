"""Mix-and-Match in memory: a model and calibration batches in, ranges, plans and masks out.

No run directory, no cache, no progress bars: :mod:`.stage` wraps these
functions with files and resume. ``calib`` is a list of ``(x, y)`` batches on
the model's device (:func:`edgeprune.prune.calib.calibration` draws them from a
data set's training split).

    layers = prunable_layers(model)
    ranges = layer_ranges(model, calib)                  # Phase 1
    plans, merged = strategy_plans(ranges)               # Phase 2
    masks = masks_for(model, plans["balanced"], "product", calib)
    apply_masks(model, masks)                            # weights zeroed; fit(..., masks=masks) keeps them so
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from . import importance
from .layers import Layer, discover, prunable
from .masks import build_masks, global_sparsity, planned_count
from .ranges import BASELINES, LayerRange, derive_ranges
from .strategies import Plan, make_plans

Batches = list[tuple[torch.Tensor, torch.Tensor]]
Scores = dict[str, torch.Tensor]


def prunable_layers(model: nn.Module) -> list[Layer]:
    """The weights Mix-and-Match may prune (conv/linear/attention; not norms)."""
    return prunable(discover(model))


def scores(criterion: str, model: nn.Module, calib: Batches, layers: list[Layer] | None = None) -> Scores:
    """Importance of every prunable weight under ``criterion`` (a signal or a Phase 1 baseline)."""
    return importance.score(criterion, model, layers if layers is not None else prunable_layers(model), calib)


def baseline_scores(model: nn.Module, calib: Batches, layers: list[Layer] | None = None,
                    progress: Callable[[Iterable], Iterable] = iter) -> tuple[dict[str, Scores], dict[str, str]]:
    """MAG/SNIP/GraSP scores, and the baselines skipped with why (GraSP on ops without double backward)."""
    pl = prunable(layers) if layers is not None else prunable_layers(model)
    out: dict[str, Scores] = {}
    skipped: dict[str, str] = {}
    for crit in progress(BASELINES):
        try:
            out[crit] = importance.score(crit, model, pl, calib)
        except RuntimeError as e:  # an op of this model has no double backward (GraSP)
            if "not implemented" not in str(e) or crit != "grasp":
                raise
            skipped[crit] = str(e).splitlines()[0]
    return out, skipped


def layer_ranges(model: nn.Module, calib: Batches, layers: list[Layer] | None = None,
                 baselines: dict[str, Scores] | None = None) -> list[LayerRange]:
    """Phase 1: a sparsity range per layer (every layer; norms get [0, 0]).

    ``baselines``: from :func:`baseline_scores` (scored here when None).
    """
    layers = layers if layers is not None else discover(model)
    if baselines is None:
        baselines, _ = baseline_scores(model, calib, layers)
    return derive_ranges(layers, baselines, baselines=tuple(baselines))


def strategy_plans(ranges: list[LayerRange], strategies: list[str] | None = None
                   ) -> tuple[dict[str, Plan], dict[str, list[str]]]:
    """Phase 2: per-layer sparsity per strategy (default all ten); identical plans kept once.

    Returns (plans by kept strategy name, kept name -> the names it absorbed).
    """
    return make_plans(ranges, strategies)


def plans_summary(plans: dict[str, Plan], merged: dict[str, list[str]], layers: list[Layer]) -> dict:
    """The ``strategies.json`` document: per plan its targets, whole-weight sparsities and global sparsity."""
    numel = {l.name: l.numel for l in layers}
    doc: dict = {"strategies": {}, "merged": {k: v for k, v in merged.items() if v}}
    for name, plan in plans.items():
        doc["strategies"][name] = {
            "target": plan,
            "planned": {n: planned_count(r, numel[n]) / numel[n] for n, r in plan.items()},
            "global_sparsity": global_sparsity(plan, [l for l in layers if l.name in plan]),
            "merged": merged[name],
        }
    return doc


def masks_for(model: nn.Module, plan: Plan, signal: str | Scores, calib: Batches | None = None,
              layers: list[Layer] | None = None) -> dict[str, torch.Tensor]:
    """Keep-masks meeting ``plan`` exactly (whole weights per layer), lowest scores removed.

    ``signal``: a criterion scored here on ``calib`` (``magnitude``, ``gradient``, ``product``, ...),
    or scores already computed (layer name -> tensor, e.g. random ones).
    """
    layers = layers if layers is not None else prunable_layers(model)
    if isinstance(signal, str):
        signal = scores(signal, model, calib or [], layers)
    return build_masks(signal, plan, layers)


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]):
    """Zero the masked weights in place; returns the :class:`~edgeprune.train.MaskHold` (``.apply()`` re-zeroes)."""
    from ..train import MaskHold

    return MaskHold(model, masks)


__all__ = ["Batches", "Scores", "prunable_layers", "scores", "baseline_scores", "layer_ranges", "strategy_plans",
           "plans_summary", "masks_for", "apply_masks"]
