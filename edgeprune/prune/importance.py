"""Importance scores: higher = more important = kept. One registry, one place per criterion.

Each criterion maps (model, layers, calibration batches) to a score tensor per
prunable weight. Phase 1 uses ``mag``, ``snip`` and ``grasp`` with one global
threshold; Phase 3 uses the sensitivity signals ``magnitude``, ``gradient`` and
``product`` with per-layer thresholds. Adding a criterion means adding one
function here.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import Registry
from .layers import Layer

Batches = list[tuple[torch.Tensor, torch.Tensor]]

# What each Phase 1 baseline scores and removes, written into ranges.json and part of its cache
# key: a run whose ranges were scored under another definition recomputes them.
DEFINITIONS = {
    "mag": "|w|; lowest removed",
    "snip": "|w * dL/dw| (Lee et al. 2019); lowest removed",
    "grasp": "S = -w * (H g) (Wang et al. 2020, as published and in the authors' code); highest S removed",
}
Scorer = Callable[[nn.Module, list[Layer], Batches], dict[str, torch.Tensor]]
IMPORTANCE: Registry[Scorer] = Registry("importance criterion")
register = IMPORTANCE.register


def score(criterion: str, model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """Scores for every prunable layer under ``criterion`` (model left unchanged, eval mode)."""
    scorer = IMPORTANCE.get(criterion)
    model.eval()
    with torch.enable_grad():
        out = scorer(model, layers, calib)
    model.zero_grad(set_to_none=True)
    return {k: v.detach().float() for k, v in out.items()}


def _params(model: nn.Module, layers: Iterable[Layer]) -> dict[str, nn.Parameter]:
    named = dict(model.named_parameters())
    return {l.name: named[l.name] for l in layers}


def _loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(xb), yb)


def gradients(model: nn.Module, layers: list[Layer], calib: Batches) -> tuple[dict, dict]:
    """(mean gradient, mean |gradient|) over calibration batches, per layer."""
    params = _params(model, layers)
    mean = {k: torch.zeros_like(p) for k, p in params.items()}
    mean_abs = {k: torch.zeros_like(p) for k, p in params.items()}
    for xb, yb in calib:
        grads = torch.autograd.grad(_loss(model, xb, yb), list(params.values()))
        for (k, _), g in zip(params.items(), grads):
            mean[k] += g / len(calib)
            mean_abs[k] += g.abs() / len(calib)
    return mean, mean_abs


@register("mag", "magnitude")
def magnitude(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """|w|."""
    return {k: p.detach().abs() for k, p in _params(model, layers).items()}


@register("gradient")
def gradient(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """|dL/dw| averaged over calibration batches."""
    return gradients(model, layers, calib)[1]


@register("product")
def product(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """|w| * |dL/dw| (averaged |gradient|)."""
    _, g_abs = gradients(model, layers, calib)
    return {k: p.detach().abs() * g_abs[k] for k, p in _params(model, layers).items()}


@register("snip")
def snip(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """Connection sensitivity |w * dL/dw| (gradient of the whole calibration set)."""
    g, _ = gradients(model, layers, calib)
    return {k: (p.detach() * g[k]).abs() for k, p in _params(model, layers).items()}


def _hardsigmoid(x, inplace: bool = False):
    return F.relu6(x + 3.0) / 6.0


def _hardswish(x, inplace: bool = False):
    return x * F.relu6(x + 3.0) / 6.0


@contextlib.contextmanager
def double_backward_safe() -> Iterator[None]:
    """Ops with a second derivative: math attention instead of the fused CPU kernel,
    and hardsigmoid/hardswish written with relu6 (same values, twice differentiable)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    saved = F.hardsigmoid, F.hardswish
    F.hardsigmoid, F.hardswish = _hardsigmoid, _hardswish
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        F.hardsigmoid, F.hardswish = saved


@register("grasp")
def grasp(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    """GraSP (Wang et al., ICLR 2020): S = -w * (H g) by double back-prop; the highest S are removed.

    As published (and in the authors' code), the weights with the *highest* S are the ones whose
    removal preserves gradient flow best, so they go first and the lowest S are kept. Scores here
    follow this module's convention (higher = kept), so the returned score is ``-S = w * (H g)``.
    """
    with double_backward_safe():
        return _grasp(model, layers, calib)


def _grasp(model: nn.Module, layers: list[Layer], calib: Batches) -> dict[str, torch.Tensor]:
    params = _params(model, layers)
    plist = list(params.values())
    g, _ = gradients(model, layers, calib)
    g_list = [g[k] for k in params]
    hg = [torch.zeros_like(p) for p in plist]
    for xb, yb in calib:
        grads = torch.autograd.grad(_loss(model, xb, yb), plist, create_graph=True)
        z = sum((gi * g0).sum() for gi, g0 in zip(grads, g_list))
        for acc, h in zip(hg, torch.autograd.grad(z, plist)):
            acc += h / len(calib)
    # keep-score = -S = w * (H g): the highest S (= -w * Hg) are removed first.
    return {k: p.detach() * h for (k, p), h in zip(params.items(), hg)}
