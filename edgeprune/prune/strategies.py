"""Phase 2: ten deterministic layer-wise strategies sampled from the ranges."""
from __future__ import annotations

from typing import Callable

from ..registry import Registry
from .ranges import LayerRange

Plan = dict[str, float]
Strategy = Callable[[list[LayerRange]], Plan]
STRATEGIES: Registry[Strategy] = Registry("strategy")
register = STRATEGIES.register
HEAD_ROLES = ("head",)
LAST_ROLES = ("head", "last_stage")


def _lerp(r: LayerRange, a: float) -> float:
    return r.lo + a * (r.hi - r.lo)


def _interp(a: float) -> Strategy:
    return lambda ranges: {r.name: _lerp(r, a) for r in ranges}


register("conservative")(_interp(0.0))
register("aggressive")(_interp(1.0))
register("balanced")(_interp(0.5))
for _a in (0.3, 0.5, 0.7, 0.9):
    register(f"interp-{_a}")(_interp(_a))


@register("param-proportional")
def param_proportional(ranges: list[LayerRange]) -> Plan:
    """Big layers pruned harder: b = min(1, n_l / mean_n * 0.1)."""
    mean_n = sum(r.params for r in ranges) / len(ranges)
    return {r.name: _lerp(r, min(1.0, r.params / mean_n * 0.1)) for r in ranges}


@register("head-heavy")
def head_heavy(ranges: list[LayerRange]) -> Plan:
    """Head and last-stage layers at rho_max, others at rho_min."""
    return {r.name: r.hi if r.role in LAST_ROLES else r.lo for r in ranges}


@register("feature-heavy")
def feature_heavy(ranges: list[LayerRange]) -> Plan:
    """Feature extractor at rho_max, head at the midpoint."""
    return {r.name: _lerp(r, 0.5) if r.role in HEAD_ROLES else r.hi for r in ranges}


def make_plans(ranges: list[LayerRange], names: list[str] | None = None) -> tuple[dict[str, Plan], dict[str, list[str]]]:
    """Plans for the prunable layers; identical plans kept once.

    Returns (plans by kept strategy name, merged: kept name -> names it absorbed).
    """
    prunable = [r for r in ranges if r.role != "norm"]
    wanted = names or list(STRATEGIES)
    STRATEGIES.check(wanted)
    plans: dict[str, Plan] = {}
    merged: dict[str, list[str]] = {}
    for name in wanted:
        plan = STRATEGIES.get(name)(prunable)
        key = tuple(round(plan[r.name], 9) for r in prunable)
        twin = next((k for k, p in plans.items() if tuple(round(p[r.name], 9) for r in prunable) == key), None)
        if twin is not None:
            merged[twin].append(name)
            continue
        plans[name] = plan
        merged[name] = []
    return plans, merged
