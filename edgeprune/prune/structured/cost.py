"""Parameter counts as a function of removed units, and the check that a family prunes at all.

:func:`probe` removes one unit of every group from a copy of the network (with
Torch-Pruning, running a forward pass after each), which both proves that the
family can be pruned structurally (or names the group that breaks) and
measures how many channels of every parameter tensor one unit of each group
takes with it. Parameter counts of any plan then follow exactly, without
pruning: each tensor dimension loses ``removed units x channels per unit`` of
each group that owns it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .groups import ROOT_TYPES, ChannelGroup, StructuredUnsupported, _first_line, build_graph, current_units, remove_units


@dataclass
class ParamModel:
    shapes: dict[str, list[int]]  # dense parameter shapes
    prunable: list[str]  # conv/linear weights with >= 2 dims: the denominator of "parameters removed"
    shrink: dict[str, dict[str, list[int]]]  # group -> parameter -> channels lost per dim per removed unit

    def count(self, removed: dict[str, int], names: list[str] | None = None) -> int:
        """Parameters left (all, or only ``names``) after removing ``removed[group]`` units."""
        lost: dict[str, list[int]] = {}
        for g, k in removed.items():
            if k:
                for p, per_unit in self.shrink.get(g, {}).items():
                    acc = lost.setdefault(p, [0] * len(per_unit))
                    for d, s in enumerate(per_unit):
                        acc[d] += k * s
        total = 0
        for p in (names if names is not None else self.shapes):
            dims = self.shapes[p]
            gone = lost.get(p)
            total += math.prod(max(0, n - (gone[d] if gone else 0)) for d, n in enumerate(dims))
        return total

    def removal(self, removed: dict[str, int]) -> float:
        """Fraction of prunable parameters (conv/linear weights) removed."""
        dense = self.count({}, self.prunable)
        return 1.0 - self.count(removed, self.prunable) / dense if dense else 0.0


def prunable_params(model: nn.Module) -> list[str]:
    return [f"{n}.weight" for n, m in model.named_modules()
            if isinstance(m, ROOT_TYPES + (nn.Conv1d, nn.Conv3d)) and m.weight is not None and m.weight.dim() >= 2]


def probe(m: nn.Module, example: torch.Tensor, groups: list[ChannelGroup], model_name: str) -> ParamModel:
    """Remove one unit of each group from ``m`` (a fresh, expendable instance of the architecture; a forward
    pass after each) and record what shrank.

    Raises :class:`StructuredUnsupported` naming the first group whose removal
    Torch-Pruning refuses or after which the network no longer runs.
    """
    m.eval()
    dense_params = prunable_params(m)
    dg = build_graph(m, example, model_name)
    with torch.no_grad():
        n_out = m(example).shape
    before = {n: list(p.shape) for n, p in m.named_parameters()}
    dense = dict(before)
    shrink: dict[str, dict[str, list[int]]] = {}
    for g in groups:
        try:
            remove_units(dg, m, g, [current_units(m, g) - 1])
            with torch.no_grad():
                out = m(example)
        except StructuredUnsupported:
            raise
        except Exception as e:
            raise StructuredUnsupported(model_name, g.name, f"the network no longer runs after removing one {g.unit} "
                                        f"({_first_line(e)})") from e
        if out.shape != n_out:
            raise StructuredUnsupported(model_name, g.name, f"removing one {g.unit} changed the output shape "
                                        f"{tuple(n_out)} -> {tuple(out.shape)}")
        after = {n: list(p.shape) for n, p in m.named_parameters()}
        shrink[g.name] = {n: [b - a for b, a in zip(before[n], after[n])] for n in after if after[n] != before[n]}
        before = after
    return ParamModel(dense, dense_params, shrink)
