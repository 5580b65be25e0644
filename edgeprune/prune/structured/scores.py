"""Group scores: one number per unit (channel or head), higher = more important = kept.

Each criterion is an element-wise tensor over every conv/linear weight and a
finish applied to its sum over the unit's weights (every tensor slice the group
removes, as Torch-Pruning's group importances do):

- ``mag`` / ``magnitude``: w^2, finished with sqrt: the group L2 norm;
- ``snip``: w * dL/dw (gradient of the calibration set), finished with abs:
  first-order Taylor |sum w dL/dw|, the loss change of removing the unit;
- ``grasp``: w * (H g) by double back-prop, summed, no finish; the highest
  sum is kept (the lowest removed), consistent with the unstructured GraSP whose
  kept-importance is w * (H g) (remove the highest of S = -w * (H g));
- ``gradient``: mean |dL/dw| summed; ``product``: |w| * mean |dL/dw| summed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ...registry import Registry
from .. import importance
from ..layers import discover, prunable
from .groups import ROOT_TYPES, ChannelGroup, current_units, full_group, quiet

Batches = importance.Batches
Elements = Callable[[nn.Module, list, Batches], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Criterion:
    elements: Elements  # (model, layers, calib) -> {weight name: tensor like the weight}
    finish: Callable[[torch.Tensor], torch.Tensor]
    doc: str


def _w(model: nn.Module, layers) -> dict[str, torch.Tensor]:
    named = dict(model.named_parameters())
    return {l.name: named[l.name].detach() for l in layers}


def _squares(model, layers, calib):
    return {k: w * w for k, w in _w(model, layers).items()}


def _taylor(model, layers, calib):
    g, _ = importance.gradients(model, layers, calib)
    return {k: w * g[k] for k, w in _w(model, layers).items()}


def _grad_abs(model, layers, calib):
    return importance.gradients(model, layers, calib)[1]


def _product(model, layers, calib):
    _, g_abs = importance.gradients(model, layers, calib)
    return {k: w.abs() * g_abs[k] for k, w in _w(model, layers).items()}


def hessian_gradient(model: nn.Module, layers, calib: Batches) -> dict[str, torch.Tensor]:
    """H g per weight (g: gradient of the whole calibration set), by double back-prop."""
    named = dict(model.named_parameters())
    params = [named[l.name] for l in layers]
    g, _ = importance.gradients(model, layers, calib)
    g_list = [g[l.name] for l in layers]
    hg = [torch.zeros_like(p) for p in params]
    with importance.double_backward_safe():
        for xb, yb in calib:
            grads = torch.autograd.grad(importance._loss(model, xb, yb), params, create_graph=True)
            z = sum((gi * g0).sum() for gi, g0 in zip(grads, g_list))
            for acc, h in zip(hg, torch.autograd.grad(z, params)):
                acc += h / len(calib)
    return {l.name: h for l, h in zip(layers, hg)}


def _grasp(model, layers, calib):
    hg = hessian_gradient(model, layers, calib)
    return {k: w * hg[k] for k, w in _w(model, layers).items()}


def _ident(x: torch.Tensor) -> torch.Tensor:
    return x


CRITERIA: Registry[Criterion] = Registry("group criterion")
_L2 = Criterion(_squares, torch.sqrt, "group L2 norm of the weights")
CRITERIA.add("mag", _L2)
CRITERIA.add("magnitude", _L2)
CRITERIA.add("snip", Criterion(_taylor, torch.abs, "first-order Taylor |sum w * dL/dw| over the group"))
CRITERIA.add("grasp", Criterion(_grasp, _ident, "group sum of w * (H g); the lowest sums are removed"))
CRITERIA.add("gradient", Criterion(_grad_abs, _ident, "group sum of mean |dL/dw|"))
CRITERIA.add("product", Criterion(_product, _ident, "group sum of |w| * mean |dL/dw|"))


def element_scores(criterion: str, model: nn.Module, calib: Batches) -> dict[str, torch.Tensor]:
    """Element tensors of ``criterion`` for every conv/linear weight (model left in eval mode, grads cleared)."""
    elements = CRITERIA.get(criterion).elements
    layers = prunable(discover(model))
    model.eval()
    with torch.enable_grad():
        out = elements(model, layers, calib)
    model.zero_grad(set_to_none=True)
    return {k: v.detach().float() for k, v in out.items()}


def unit_scores(criterion: str, dg, model: nn.Module, groups: list[ChannelGroup],
                elements: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-unit score of every group: the criterion's elements summed over each unit's slices, finished."""
    names = {m: n for n, m in model.named_modules()}
    finish = CRITERIA.get(criterion).finish
    out = {}
    for g in groups:
        n_units = current_units(model, g)
        acc = torch.zeros(n_units * g.width, dtype=torch.float64)
        with quiet():
            group = full_group(dg, model, g)
        for item in group:
            dep, idxs, root_idxs = item.dep, item.idxs, item.root_idxs
            mod = dep.target.module
            if not isinstance(mod, ROOT_TYPES) or f"{names.get(mod)}.weight" not in elements:
                continue
            if any(r is None for r in root_idxs):
                continue
            e = elements[f"{names[mod]}.weight"].double()
            if dg.is_out_channel_pruning_fn(dep.handler):
                local = e[idxs].flatten(1).sum(1)
            else:
                if isinstance(mod, nn.Conv2d) and mod.groups == mod.in_channels and mod.groups > 1:
                    continue  # depthwise: its output side already counts these weights
                local = e.transpose(0, 1).flatten(1).sum(1)
                if isinstance(mod, nn.Conv2d) and mod.groups > 1:
                    local = local.repeat(mod.groups)
                local = local[idxs]
            acc.scatter_add_(0, torch.tensor(root_idxs, dtype=torch.long), local)
        out[g.name] = finish(acc.view(n_units, g.width).sum(1)).float()
    return out


def group_scores(criterion: str, dg, model: nn.Module, groups: list[ChannelGroup], calib: Batches) -> dict[str, torch.Tensor]:
    """:func:`element_scores` then :func:`unit_scores`."""
    return unit_scores(criterion, dg, model, groups, element_scores(criterion, model, calib))
