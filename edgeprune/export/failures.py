"""Turn a converter crash into one line naming the unsupported op and the module that calls it."""
from __future__ import annotations

import re

from ..errors import EdgepruneError


class ExportFailed(EdgepruneError):
    """One format of one artifact could not be produced (conversion or parity)."""


# The op a converter reports, in the shapes litert-torch and torch.onnx (dynamo) use.
_OP_PATTERNS = [
    re.compile(r"Lowering not found: (?P<op>[\w.]+)"),
    re.compile(r"OpOverload\(op='(?P<op>[\w.]+)', overload='(?P<ov>\w+)'\)"),
    re.compile(r"target=torch\.ops\.(?P<op>[\w.]+)"),
    re.compile(r"\b(?P<op>(?:aten|prims|torchvision)(?:\.|::)\w+(?:\.\w+)?)"),
]


def _messages(exc: BaseException) -> list[str]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return out


def find_op(exc: BaseException) -> str | None:
    """``aten.cumprod.default``-style op name from an exception chain, if any."""
    for pattern in _OP_PATTERNS:
        for msg in _messages(exc):
            m = pattern.search(msg)
            if m:
                op = m["op"].replace("::", ".")
                ov = m.groupdict().get("ov")
                return f"{op}.{ov}" if ov else op
    return None


def _short(op: str) -> str:
    """``aten.cumprod.default`` -> ``aten.cumprod``."""
    parts = op.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else op


def find_module(model, sample, op: str, decompose=None) -> tuple[str, str] | None:
    """``(qualified name, class name)`` of the innermost module that calls ``op``.

    Uses ``torch.export`` and each node's ``nn_module_stack``: first the graph
    as exported, then decomposed as the converter does it (``decompose``), then
    with torch's default decompositions (converters often report decomposed ops).
    """
    import torch

    from .prepare import quiet, static_shapes

    want = _short(op)
    try:
        with quiet(), static_shapes():
            ep = torch.export.export(model, (sample,), strict=False)
    except Exception:
        return None
    passes = [lambda p: p, decompose, lambda p: p.run_decompositions()]
    for step in [p for p in passes if p is not None]:
        try:
            with quiet():
                program = step(ep)
        except Exception:  # best effort: a pass that fails only hides the module name
            continue
        for node in program.graph.nodes:
            if node.op == "call_function" and _short(str(node.target)) == want:
                stack = list((node.meta.get("nn_module_stack") or {}).values())
                if not stack:
                    return "<root>", type(model).__name__
                path, cls = stack[-1]
                name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", str(cls))
                return path or "<root>", name.rsplit(".", 1)[-1]
    return None


def _first_line(exc: BaseException) -> str:
    for msg in reversed(_messages(exc)):  # the root cause is usually the most specific
        line = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
        if line:
            return re.sub(r"\x1b\[[0-9;]*m", "", line)[:200]
    return type(exc).__name__


def describe(fmt, exc: BaseException, model, sample) -> ExportFailed:
    """One-line error for a failed conversion of ``model`` to ``fmt`` (a :class:`~.formats.Format`)."""
    op = find_op(exc)
    if op is None:
        return ExportFailed(f"{fmt.name}: {fmt.converter} failed ({_first_line(exc)}).", "Report this model.")
    where = find_module(model, sample, op, fmt.decompose)
    place = f" in module '{where[0]}' ({where[1]})" if where else ""
    return ExportFailed(f"{fmt.name}: {fmt.converter} cannot convert op {_short(op)}{place}.",
                        "Replace that layer, or report this model.")
