"""Which encoding per tensor: the smallest files whose decode holds at most a byte budget at load.

An :class:`Option` is one encoding of one initializer with its file bytes and
the bytes its decode holds while ONNX Runtime folds it (:mod:`.sparse_onnx`);
:func:`plan` chooses one per tensor under a budget; :func:`apply` rewrites the
model. :mod:`.onnx_ram` sets the budget from measured peak RAM.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from .sparse_onnx import ENCODINGS, METADATA_KEY, Encoded, choose, encodable, options


@dataclass(frozen=True)
class Option:
    name: str
    nbytes: int
    held: int
    enc: Encoded | None
    shared: tuple[str, ...] = ()  # the shared zero tensors it scatters into


def tensor_options(model) -> dict[str, list[Option]]:
    """Per encodable initializer, its encodings smaller than dense (and dense itself)."""
    from onnx import numpy_helper

    out = {}
    for init in encodable_initializers(model):
        dense = init.ByteSize()
        opts = options(numpy_helper.to_array(init), init.name, dense)
        out[init.name] = [Option(k, dense, 0, None) if e is None else Option(k, e.nbytes, e.held, e, tuple(e.shared))
                          for k, e in opts.items()]
    return out


def zero_tensor_bytes(tensors: dict[str, list[Option]]) -> dict[str, int]:
    return {k: v[2] for opts in tensors.values() for o in opts if o.enc for k, v in o.enc.shared.items()}


def held_bytes(chosen: dict[str, Option], zero_bytes: dict[str, int]) -> int:
    """Bytes a plan holds while ORT folds it: each tensor's own, plus each shared zero tensor once."""
    return sum(o.held for o in chosen.values()) + sum(zero_bytes[k] for k in {k for o in chosen.values() for k in o.shared})


def plan(tensors: dict[str, list[Option]], budget: int | None) -> dict[str, Option]:
    """One option per tensor: small files whose held bytes (:func:`held_bytes`) sum to at most ``budget``.

    Lagrangian relaxation: each tensor minimises ``nbytes + lam * held``; a
    shared zero tensor costs ``lam * bytes`` once and is dropped while dropping
    it lowers the total; lam is bisected to the smallest value that fits. At
    lam = 0 this is the smallest file; a large lam holds nothing (dense or zeros).
    """
    zero_bytes = zero_tensor_bytes(tensors)

    def pick(lam: float) -> dict[str, Option]:
        def cost(o: Option) -> tuple[float, int]:
            return o.nbytes + lam * o.held, o.held

        closed: set[str] = set()
        while True:
            chosen = {t: min((o for o in opts if closed.isdisjoint(o.shared)), key=cost) for t, opts in tensors.items()}
            used = {k for o in chosen.values() for k in o.shared}
            gains = {}
            for k in used:  # drop zero tensor k: its users take their best option among the other open ones
                others = used - {k}
                gain = -lam * zero_bytes[k]
                for t, o in chosen.items():
                    if k in o.shared:
                        gain += cost(min((x for x in tensors[t] if set(x.shared) <= others), key=cost))[0] - cost(o)[0]
                if gain < 0:
                    gains[k] = gain
            if not gains:
                return chosen
            closed.add(min(gains, key=gains.get))

    best = pick(0.0)
    if budget is None or held_bytes(best, zero_bytes) <= budget:
        return best
    lo, hi = 0.0, 1.0
    while held_bytes(pick(hi), zero_bytes) > budget and hi < 1e9:
        hi *= 4
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if held_bytes(pick(mid), zero_bytes) <= budget else (mid, hi)
    return _fill(pick(hi), tensors, zero_bytes, budget)


def _fill(chosen: dict[str, Option], tensors: dict[str, list[Option]], zero_bytes: dict[str, int],
          budget: int) -> dict[str, Option]:
    """Spend what the Lagrangian plan left of ``budget``: switch the tensor that saves most file bytes per
    held byte to a smaller option, while it fits (similar tensors jump together at one lam otherwise)."""
    chosen = dict(chosen)
    users: dict[str, int] = {}
    for o in chosen.values():
        for k in o.shared:
            users[k] = users.get(k, 0) + 1
    held = held_bytes(chosen, zero_bytes)
    while True:
        best = None
        for t, cur in chosen.items():
            for o in tensors[t]:
                if o.nbytes >= cur.nbytes:
                    continue
                dh = o.held - cur.held + sum(zero_bytes[k] for k in set(o.shared) - set(cur.shared) if not users.get(k)) \
                    - sum(zero_bytes[k] for k in set(cur.shared) - set(o.shared) if users.get(k) == 1)
                if held + dh <= budget:
                    score = (cur.nbytes - o.nbytes) / max(dh, 1)
                    if best is None or score > best[0]:
                        best = (score, t, o, dh)
        if best is None:
            return chosen
        _, t, o, dh = best
        for k in chosen[t].shared:
            users[k] -= 1
        for k in o.shared:
            users[k] = users.get(k, 0) + 1
        chosen[t], held = o, held + dh


def limited(chosen: dict[str, Option], tensors: dict[str, list[Option]]) -> dict[str, dict]:
    """Tensors stored larger than their smallest encoding, with both sizes and held bytes."""
    out = {}
    for k, o in chosen.items():
        small = min(tensors[k], key=lambda x: (x.nbytes, x.held))
        if small.name != o.name:
            out[k] = {"chosen": o.name, "smallest": small.name, "bytes": [o.nbytes, small.nbytes],
                      "held": [o.held, small.held]}
    return out


def encodable_initializers(model) -> list:
    """Initializers an encoding may replace: stored in the file, float or int8 weights (:func:`.sparse_onnx.encodable`)."""
    return [i for i in model.graph.initializer if encodable(i)]


def apply(model, chosen: dict[str, tuple[str, Encoded | None]]) -> dict[str, int]:
    """Replace initializers by their chosen encodings (name -> (encoding, Encoded)); returns counts.

    The encoding per tensor is recorded in ``metadata_props`` under
    :data:`METADATA_KEY` (JSON name -> encoding), for inspection only.
    """
    from onnx import helper

    graph = model.graph
    counts = Counter(enc_name for enc_name, _ in chosen.values())
    used = {k: v for k, v in chosen.items() if v[1] is not None}
    if used:
        kept = [i for i in graph.initializer if i.name not in used]
        shared = {k: v for _, enc in used.values() for k, v in enc.shared.items()}
        added = [i for _, inits, _ in shared.values() for i in inits] + [p for _, enc in used.values() for p in enc.initializers]
        new_nodes = [n for n, _, _ in shared.values()] + [n for _, enc in used.values() for n in enc.nodes]
        taken = {i.name for i in kept} | {o for n in graph.node for o in n.output}
        clash = taken & ({i.name for i in added} | {o for n in new_nodes for o in n.output if o not in used})
        if clash:
            raise ValueError(f"encoded constant names collide with the graph: {sorted(clash)[:3]}")
        graph.ClearField("initializer")
        graph.initializer.extend(kept + added)
        nodes = list(graph.node)
        graph.ClearField("node")
        graph.node.extend(new_nodes + nodes)
        meta = {p.key: p.value for p in model.metadata_props}
        helper.set_model_props(model, {**meta, METADATA_KEY: json.dumps({k: v[0] for k, v in used.items()})})
    return {k: counts[k] for k in ["dense", *ENCODINGS] if counts[k]}


def encode_model(model) -> dict[str, int]:
    """Replace pruned float (and int8 weight) initializers of ``model`` in place by their smallest encodings; returns counts.

    No RAM budget: :func:`.onnx_ram.encode_within_ram` is what the exporter uses.
    """
    from onnx import numpy_helper

    return apply(model, {i.name: choose(numpy_helper.to_array(i), i.name, i.ByteSize()) for i in encodable_initializers(model)})


