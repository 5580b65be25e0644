"""Decode subgraphs for :mod:`.sparse_onnx` and :mod:`.sparse_delta4`: the :class:`Encoded` record and its builder.

An encoding replaces one initializer by constants and nodes that recompute it;
:class:`DecodeBuilder` names them uniquely, counts the bytes they hold while
ONNX Runtime folds them, and shares zero tensors per shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INT32 = 6  # onnx.TensorProto.INT32


@dataclass
class Encoded:
    """Nodes + initializers that compute one tensor (named like the initializer they replace).

    ``shared``: zero tensors it scatters into, by name -> (node, initializers,
    bytes); one per shape serves every tensor that needs it (ORT would merge
    duplicates anyway), so they are emitted once and costed once.
    """

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    held: int = 0  # bytes held while ORT folds the decode: constants + intermediate outputs (not ``shared``)
    shared: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        parts = self.nodes + self.initializers + [p for node, inits, _ in self.shared.values() for p in [node, *inits]]
        return sum(p.ByteSize() for p in parts)

    def graph_parts(self) -> tuple[list, list]:
        """(nodes, initializers) of a standalone decode, shared zero tensors included."""
        shared = list(self.shared.values())
        return [n for n, _, _ in shared] + self.nodes, [i for _, inits, _ in shared for i in inits] + self.initializers


class DecodeBuilder:
    """Collects private constants and nodes for one tensor, with unique names and their held bytes."""

    def __init__(self, name: str, dtype=np.float32):
        self.name, self.dtype, self.enc, self._n = name, np.dtype(dtype), Encoded(), 0

    def const(self, tag: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        value = np.asarray(value)
        cname = f"{self.name}::{tag}"
        self.enc.initializers.append(numpy_helper.from_array(value, cname))
        self.enc.held += value.nbytes
        return cname

    def node(self, op: str, inputs: list[str], output: str | None = None, nbytes: int = 0, **attrs) -> str:
        """Add a node; ``nbytes`` is the size of its output (held until folding ends, unless it is the result)."""
        from onnx import helper

        self._n += 1
        out = output or f"{self.name}::{self._n}"
        self.enc.nodes.append(helper.make_node(op, inputs, [out], **attrs))  # node names are optional: omitted
        if output is None:
            self.enc.held += nbytes
        return out

    def zeros(self, shape) -> str:
        """A zero tensor of ``shape``, shared with every other encoding that needs the same one."""
        from onnx import helper, numpy_helper

        name = f"edgeprune::zeros::{self.dtype.name}::{'x'.join(map(str, shape))}"
        dims = numpy_helper.from_array(np.array(shape, np.int64), f"{name}::shape")
        node = helper.make_node("ConstantOfShape", [dims.name], [name], value=numpy_helper.from_array(np.zeros(1, self.dtype)))
        self.enc.shared[name] = (node, [dims], int(np.prod(shape)) * self.dtype.itemsize)
        return name
