"""Which tensors are prunable, and what role each plays (the dependency view).

Prunable: every Conv/Linear weight with >= 2 dims, including attention qkv/proj,
MLP fc1/fc2, the patch embedding and the classifier. Biases, position
embeddings, class tokens and norm parameters are never pruned. Roles drive the
structural rules (patch embedding) and the head-/feature-heavy strategies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
PRUNABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
ATTENTION_HINTS = ("attn", "attention")


@dataclass
class Layer:
    """One weight tensor. ``name`` is its state_dict key."""

    name: str
    module: str
    kind: str  # conv | linear | norm
    numel: int
    shape: list[int]
    role: str  # patch_embed | feature | last_stage | head | norm
    prunable: bool

    def to_json(self) -> dict:
        return asdict(self)


def _stage_names(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    names = []
    if info is not None:
        try:
            names = [d["module"] for d in (info.get_dicts() if hasattr(info, "get_dicts") else info)]
        except Exception:
            names = []
    return [n for n in names if n]


def _head_modules(model: nn.Module) -> set[str]:
    """Module names of the classifier (timm's get_classifier())."""
    if not hasattr(model, "get_classifier"):
        return set()
    heads = model.get_classifier()
    heads = heads if isinstance(heads, (tuple, list)) else (heads,)
    inside = {id(c) for h in heads if isinstance(h, nn.Module) for c in h.modules()}
    return {name for name, m in model.named_modules() if id(m) in inside}


def is_transformer(model: nn.Module) -> bool:
    return any(any(h in name.lower() for h in ATTENTION_HINTS) for name, _ in model.named_modules())


def discover(model: nn.Module) -> list[Layer]:
    """All Conv/Linear weights (prunable) and norm weights (never pruned), in module order.

    Roles: ``patch_embed`` is the conv/linear under a ``patch_embed`` module (or the
    stem of a transformer, e.g. LeViT); ``head`` is the classifier plus anything
    registered after the last feature stage (pre-logits, conv_head); ``last_stage``
    is the last timm feature stage; everything else is ``feature``.
    """
    stages = _stage_names(model)
    last_stage = stages[-1] if stages else None
    head_mods = _head_modules(model)
    transformer = is_transformer(model)
    layers: list[Layer] = []
    seen_last_stage = False
    for mname, m in model.named_modules():
        in_last = last_stage is not None and (mname == last_stage or mname.startswith(last_stage + "."))
        if in_last:
            seen_last_stage = True
        if isinstance(m, NORM_TYPES):
            if getattr(m, "weight", None) is not None:
                w = m.weight
                layers.append(Layer(f"{mname}.weight", mname, "norm", w.numel(), list(w.shape), "norm", False))
            continue
        if not isinstance(m, PRUNABLE_TYPES) or m.weight is None or m.weight.dim() < 2:
            continue
        if mname in head_mods:
            role = "head"
        elif "patch_embed" in mname or (transformer and mname.split(".")[0] == "stem"):
            role = "patch_embed"
        elif in_last:
            role = "last_stage"
        elif seen_last_stage and not in_last:
            role = "head"  # registered after the last stage: pre-logits / conv_head
        else:
            role = "feature"
        kind = "linear" if isinstance(m, nn.Linear) else "conv"
        w = m.weight
        layers.append(Layer(f"{mname}.weight", mname, kind, w.numel(), list(w.shape), role, True))
    return layers


def prunable(layers: list[Layer]) -> list[Layer]:
    return [l for l in layers if l.prunable]
