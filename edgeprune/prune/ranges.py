"""Phase 1: per-layer sparsity ranges from MAG/SNIP/GraSP baselines plus structural rules."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from .config import GLOBAL_TARGETS
from .layers import Layer
from .masks import global_layer_sparsity

BASELINES = ("mag", "snip", "grasp")
SMALL_LAYER_PARAMS = 10_000
SMALL_LAYER_RANGE = (0.0, 0.10)
PATCH_EMBED_RANGE = (0.15, 0.30)
CLAMP = (0.0, 0.98)


@dataclass
class LayerRange:
    name: str
    role: str
    params: int
    observed: dict[str, float]  # "mag@70" -> sparsity the baseline gave this layer
    raw: tuple[float, float] | None  # [min, max] over the 9 runs, before rules
    range: tuple[float, float]
    rule: str  # which rule set the final range
    rules_applied: list[str] = field(default_factory=list)

    @property
    def lo(self) -> float:
        return self.range[0]

    @property
    def hi(self) -> float:
        return self.range[1]

    def to_json(self) -> dict:
        d = asdict(self)
        d["raw"] = list(self.raw) if self.raw else None
        d["range"] = list(self.range)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LayerRange":
        return cls(d["name"], d["role"], d["params"], d["observed"], tuple(d["raw"]) if d["raw"] else None,
                   tuple(d["range"]), d["rule"], d.get("rules_applied", []))


# Structural rules in precedence order: the first that matches sets the range.
# Each returns the new range or None when it does not apply.
Rule = Callable[[Layer, tuple[float, float]], "tuple[float, float] | None"]


def _norm(layer: Layer, r: tuple[float, float]):
    return (0.0, 0.0) if layer.role == "norm" else None


def _patch_embed(layer: Layer, r: tuple[float, float]):
    return PATCH_EMBED_RANGE if layer.role == "patch_embed" else None


def _small(layer: Layer, r: tuple[float, float]):
    if layer.numel < SMALL_LAYER_PARAMS:
        lo, hi = SMALL_LAYER_RANGE
        return (min(max(r[0], lo), hi), min(max(r[1], lo), hi))
    return None


def _clamp(layer: Layer, r: tuple[float, float]):
    lo, hi = CLAMP
    clamped = (min(max(r[0], lo), hi), min(max(r[1], lo), hi))
    return clamped if clamped != r else None


RULES: list[tuple[str, Rule]] = [
    ("norm", _norm),
    ("patch_embed", _patch_embed),
    ("small_layer", _small),
    ("clamp", _clamp),
]


def apply_rules(layer: Layer, raw: tuple[float, float],
                rules: list[tuple[str, Rule]] | None = None) -> tuple[tuple[float, float], str, list[str]]:
    """Final range, the rule that set it (``baselines`` if none), and every rule that matched."""
    rules = RULES if rules is None else rules
    applied = [name for name, rule in rules if rule(layer, raw) is not None]
    for name, rule in rules:
        r = rule(layer, raw)
        if r is not None:
            return r, name, applied
    return raw, "baselines", applied


def derive_ranges(layers: list[Layer], baseline_scores: dict[str, dict], targets=GLOBAL_TARGETS,
                  baselines: tuple[str, ...] = BASELINES) -> list[LayerRange]:
    """``baseline_scores``: criterion -> {layer name: score tensor} for mag, snip, grasp."""
    observed: dict[str, dict[str, float]] = {l.name: {} for l in layers if l.prunable}
    for crit in baselines:
        for t in targets:
            for name, s in global_layer_sparsity(baseline_scores[crit], t).items():
                observed[name][f"{crit}@{int(round(t * 100))}"] = s
    out = []
    for l in layers:
        if l.prunable:
            vals = list(observed[l.name].values())
            raw = (min(vals), max(vals))
        else:
            raw = None
        final, rule, applied = apply_rules(l, raw or (0.0, 0.0))
        out.append(LayerRange(l.name, l.role, l.numel, observed.get(l.name, {}), raw, final, rule, applied))
    return out
