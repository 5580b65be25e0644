"""Coupled channel groups of a network, found by Torch-Pruning's DependencyGraph.

A :class:`ChannelGroup` is one set of channels that must shrink together: the
output channels of a conv/linear with its norm layer, the next layer's input
channels, residual partners and so on (Torch-Pruning traces them; we never do).
In timm attention blocks the unit is a whole head (``qkv`` rows and ``proj``
columns of that head); elsewhere it is one channel. The classifier's output
units are never a group (it is an ignored layer).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
from torch import nn

from ...errors import EdgepruneError
from ..layers import _head_modules, discover

ROOT_TYPES = (nn.Conv2d, nn.Linear)


class StructuredUnsupported(EdgepruneError):
    """Torch-Pruning cannot prune this network's channels (names the layer)."""

    def __init__(self, model: str, layer: str | None, reason: str):
        self.model, self.layer, self.reason = model, layer, reason
        where = f" at {layer}" if layer else ""
        super().__init__(f"Structured pruning of {model} is not possible{where}: {reason}.",
                         "Use --granularity unstructured.")


@dataclass
class ChannelGroup:
    """One prunable group. ``name`` is its canonical root (first out-pruned layer in module order)."""

    name: str
    role: str  # patch_embed | feature | last_stage | head (role of the root, or patch_embed if it holds one)
    unit: str  # channel | head
    size: int  # units in the dense network
    width: int  # channels per unit (head_dim for heads)
    numel: int  # weights of the conv/linear layers whose outputs this group prunes (the "layer size" of the rules)
    root: str  # module handed to Torch-Pruning to select the group
    root_dim: str  # out | in (heads are selected through proj's input columns)
    outputs: list[str]  # layers whose output channels shrink
    inputs: list[str]  # layers whose input channels shrink

    @property
    def params(self) -> int:  # LayerRange / strategy vocabulary
        return self.numel

    def channels(self, units: list[int]) -> list[int]:
        """Root channel indices of ``units``."""
        return [u * self.width + i for u in units for i in range(self.width)]

    def to_json(self) -> dict:
        return asdict(self)


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """timm-style attention blocks (``qkv``, ``proj``, ``num_heads``, ``head_dim``) by module name."""
    return {n: m for n, m in model.named_modules()
            if isinstance(getattr(m, "qkv", None), nn.Linear) and isinstance(getattr(m, "proj", None), nn.Linear)
            and isinstance(getattr(m, "num_heads", None), int) and isinstance(getattr(m, "head_dim", None), int)}


def classifier_modules(model: nn.Module) -> list[nn.Module]:
    """The classifier's conv/linear layers (timm's get_classifier()); else the last conv/linear."""
    named = dict(model.named_modules())
    heads = [named[n] for n in _head_modules(model) if isinstance(named[n], ROOT_TYPES)]
    return heads or [m for m in model.modules() if isinstance(m, ROOT_TYPES)][-1:]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Torch-Pruning's warnings (expected on timm models) inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unwrapped parameters detected" (pos_embed, cls_token: last dim is right)
        yield


def build_graph(model: nn.Module, example: torch.Tensor, model_name: str):
    """Torch-Pruning's DependencyGraph of ``model`` traced on ``example``."""
    import torch_pruning as tp

    try:
        with quiet(), torch.enable_grad():
            return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    except Exception as e:  # any tracing failure: this family is not supported structurally
        raise StructuredUnsupported(model_name, None, f"Torch-Pruning cannot trace it ({_first_line(e)})") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def discover_groups(model: nn.Module, dg) -> list[ChannelGroup]:
    """Every prunable group of ``model`` (classifier outputs excluded), in module order."""
    names = {m: n for n, m in model.named_modules()}
    named = dict(model.named_modules())
    order = {n: i for i, n in enumerate(names.values())}
    roles = {l.module: l.role for l in discover(model) if l.prunable}
    attn_by_qkv = {m.qkv: (n, m) for n, m in attention_modules(model).items()}
    out: list[ChannelGroup] = []
    with quiet():
        all_groups = list(dg.get_all_groups(ignored_layers=classifier_modules(model), root_module_types=ROOT_TYPES))
    for g in all_groups:
        outs, ins = [], []
        for dep, _ in g:
            mod = dep.target.module
            if isinstance(mod, ROOT_TYPES) and mod in names:
                (outs if dg.is_out_channel_pruning_fn(dep.handler) else ins).append(names[mod])
        if not outs:
            continue
        outs = sorted(set(outs), key=order.get)
        ins = sorted(set(ins) - set(outs), key=order.get)
        canonical = outs[0]
        numel = sum(named[n].weight.numel() for n in outs)
        role = "patch_embed" if any(roles.get(n) == "patch_embed" for n in outs) else roles.get(canonical, "feature")
        attn = next((attn_by_qkv[named[n]] for n in outs if named[n] in attn_by_qkv), None)
        if attn is not None:
            aname, a = attn
            out.append(ChannelGroup(f"{aname}.heads", roles.get(f"{aname}.qkv", role), "head", a.num_heads, a.head_dim,
                                    numel, f"{aname}.proj", "in", outs, ins))
        else:
            size = _out_channels(named[canonical])
            out.append(ChannelGroup(canonical, role, "channel", size, 1, numel, canonical, "out", outs, ins))
    out.sort(key=lambda c: order[c.root if c.unit == "channel" else c.name.removesuffix(".heads")])
    return [c for c in out if c.size > 1]


def _out_channels(m: nn.Module) -> int:
    return int(m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)


def _pruning_fn(dg, module: nn.Module, dim: str):
    pruner = dg.get_pruner_of_module(module)
    return pruner.prune_out_channels if dim == "out" else pruner.prune_in_channels


def full_group(dg, model: nn.Module, g: ChannelGroup):
    """Torch-Pruning group of every current channel of ``g`` (for scoring)."""
    module = dict(model.named_modules())[g.root]
    n = current_units(model, g) * g.width
    with quiet():
        return dg.get_pruning_group(module, _pruning_fn(dg, module, g.root_dim), list(range(n)))


def current_units(model: nn.Module, g: ChannelGroup) -> int:
    """Units of ``g`` in ``model`` now (heads read from the attention block)."""
    named = dict(model.named_modules())
    if g.unit == "head":
        return int(named[g.name.removesuffix(".heads")].num_heads)
    return _out_channels(named[g.root])


def remove_units(dg, model: nn.Module, g: ChannelGroup, units: list[int]) -> None:
    """Physically remove ``units`` (current positions) of ``g``; heads also update the attention block."""
    if not units:
        return
    named = dict(model.named_modules())
    module = named[g.root]
    with quiet():
        group = dg.get_pruning_group(module, _pruning_fn(dg, module, g.root_dim), g.channels(sorted(units)))
        if not dg.check_pruning_group(group):
            raise StructuredUnsupported(type(model).__name__, g.name, "the group would lose every channel")
        group.prune()
    if g.unit == "head":
        set_heads(named[g.name.removesuffix(".heads")], current_heads=None, removed=len(units))


def set_heads(attn: nn.Module, current_heads: int | None = None, removed: int = 0) -> None:
    """Keep a timm attention block's head bookkeeping in step with its pruned ``qkv``."""
    attn.num_heads = current_heads if current_heads is not None else attn.num_heads - removed
    if hasattr(attn, "attn_dim"):
        attn.attn_dim = attn.num_heads * attn.head_dim
