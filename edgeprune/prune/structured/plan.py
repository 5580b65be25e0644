"""Channel plans: what a structured candidate removed, as plain JSON, and the rebuild from it.

A plan lists, per group, the units removed in the dense network's numbering.
Rebuilding never unpickles: build the dense architecture from its spec, trace
it with Torch-Pruning, remove exactly those units, then load the candidate's
safetensors state_dict strictly (every shape must match).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ...errors import EdgepruneError
from ...models import ModelSpec, create_model, load_weights, read_state_dict
from ...runio import read_json
from .groups import ChannelGroup, build_graph, current_units, remove_units

PLAN_FORMAT = "edgeprune.channel-plan/1"


@dataclass
class GroupCut:
    group: ChannelGroup
    removed: list[int] = field(default_factory=list)  # unit indices in the dense network

    @property
    def kept(self) -> int:
        return self.group.size - len(self.removed)

    def to_json(self) -> dict:
        return {**self.group.to_json(), "kept": self.kept, "removed": sorted(self.removed)}

    @classmethod
    def from_json(cls, d: dict) -> "GroupCut":
        fields = {k: d[k] for k in ChannelGroup.__dataclass_fields__}
        return cls(ChannelGroup(**fields), [int(i) for i in d["removed"]])


@dataclass
class ChannelPlan:
    model: dict  # ModelSpec.to_json() of the dense architecture
    input_shape: list[int]
    cuts: list[GroupCut]

    def to_json(self) -> dict:
        import torch_pruning as tp

        return {"format": PLAN_FORMAT, "model": self.model, "input_shape": list(self.input_shape),
                "torch_pruning": tp.__version__, "groups": [c.to_json() for c in self.cuts]}

    @classmethod
    def from_json(cls, d: dict) -> "ChannelPlan":
        if d.get("format") != PLAN_FORMAT:
            raise EdgepruneError(f"Channel plan format {d.get('format')!r} is not {PLAN_FORMAT!r}.",
                                 "Re-run edgeprune prune with this edgeprune version.")
        return cls(dict(d["model"]), [int(s) for s in d["input_shape"]], [GroupCut.from_json(g) for g in d["groups"]])


def example_input(input_shape: list[int]) -> torch.Tensor:
    return torch.zeros([1, *[int(s) for s in input_shape[1:]]])


def apply_plan(model: nn.Module, plan: ChannelPlan) -> nn.Module:
    """Remove the plan's units from a dense ``model`` in place (its weights are irrelevant)."""
    dg = build_graph(model, example_input(plan.input_shape), plan.model["name"])
    for cut in plan.cuts:
        if current_units(model, cut.group) != cut.group.size:
            raise EdgepruneError(f"Channel plan group {cut.group.name} expects {cut.group.size} {cut.group.unit}s; "
                                 f"the model has {current_units(model, cut.group)}.",
                                 "Rebuild from the run's own model spec.")
        remove_units(dg, model, cut.group, cut.removed)
    return model


def rebuild(plan: ChannelPlan | dict | str | Path, weights: str | Path | None = None) -> nn.Module:
    """The pruned network of ``plan`` (a plan, its JSON, or a path), with ``weights`` loaded; eval mode."""
    if isinstance(plan, (str, Path)):
        plan = read_json(plan)
    if isinstance(plan, dict):
        plan = ChannelPlan.from_json(plan)
    model = create_model(ModelSpec.from_json(plan.model)).eval()
    apply_plan(model, plan)
    if weights is not None:
        load_weights(model, read_state_dict(weights), source=str(weights))
    return model.eval()
