"""Where the bytes of a sparse .tflite go, and the least an int8 CSR + DENSIFY file can weigh.

Builds one model exactly as ``benchmarks/size.py`` does (random-init timm model at 32x32, 10 classes,
random unstructured masks, random-normal calibration), converts it with edgeprune's own TFLite
converter and int8 quantizer (``tflite_format.convert``, ``quantize.quantize_tflite``'s steps: the files
``edgeprune export`` writes, without the parity/agreement checks), then reads each file back by
schema and prints its bytes by category: sparse values, CSR indices and segments by integer width,
quantization vectors (each distinct vector once: :func:`~edgeprune.export.tflite_flat.pack_model`
shares them), dense buffers, names, and the rest (tables, vtables, alignment).

For the int8 file it also prints a lower bound on any CSR + DENSIFY encoding LiteRT loads
(``int8_lower_bound``) and checks that LiteRT's outputs equal the unencoded int8 file's.

    python benchmarks/size_breakdown.py                      # resnet18 at 90%
    python benchmarks/size_breakdown.py --model vgg11 --sparsity 0.7
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def breakdown(data: bytes) -> Counter:
    """Bytes of a ``.tflite`` by category (sums to ``len(data)`` with ``other``)."""
    from edgeprune.export.sparse_tflite import _schema, load_model

    S = _schema()
    names = {v: k for k, v in vars(S.TensorType).items() if not k.startswith("_")}
    model = load_model(data)
    out: Counter = Counter()
    seen: set = set()

    def vector(kind: str, values, dtype) -> int:
        a = np.asarray(values, dtype)
        key = (kind, a.dtype.str, a.shape, a.tobytes())
        if key in seen:
            return 0
        seen.add(key)
        return a.nbytes

    for sg in model.subgraphs:
        for t in sg.tensors:
            out["names"] += len(t.name or b"")
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale):
                out["quantization scales (float32)"] += vector("scale", q.scale, np.float32)
                out["quantization zero points (int64)"] += vector("zero", q.zeroPoint, np.int64)
            nbytes = len(model.buffers[t.buffer].data if model.buffers[t.buffer].data is not None else [])
            if t.sparsity is None:
                if nbytes:
                    out[f"dense buffers {names[t.type]}"] += nbytes
                continue
            out["sparse values"] += nbytes
            for level in t.sparsity.dimMetadata:
                if level.format == S.DimensionType.SPARSE_CSR:
                    idx, seg = np.asarray(level.arrayIndices.values), np.asarray(level.arraySegments.values)
                    out[f"CSR indices {idx.dtype}"] += idx.nbytes
                    out[f"CSR segments {seg.dtype}"] += seg.nbytes
    out["other (tables, vtables, shapes, alignment)"] = len(data) - sum(out.values())
    return out


def int8_lower_bound(dense_int8: bytes) -> dict:
    """Least bytes of any CSR + DENSIFY encoding of ``dense_int8`` that LiteRT loads, from the weights alone.

    Per int8 conv kernel: 1 B a kept value and 1 B a CSR index (uint8 is the narrowest index type, and
    each stored value has an index in the innermost SPARSE_CSR level; a DENSE innermost level stores
    zeros at 1 B each instead: for randomly placed kept weights at a density p < 0.5 a dense block of d
    costs (1 - (1 - p)^d)(d + 1) / d > 2p a weight), plus 2 B a CSR row with rows >= numel / 256 (a uint8
    index addresses at most 256 positions, and LiteRT reads only DENSE block levels, so a level is one
    tensor dimension or a dense block). uint8 segments only fit a tensor of fewer than 256 kept values:
    a conv split into that many slices saves at most 1 B a row (about 10 B a slice) and pays an op and
    two tensors (over 100 B) a slice, so it is left out. Plus 4 B a float32 scale per output channel
    (the densified filter needs its per-channel scales), the int32 biases and the weights stored
    dense (int8 FULLY_CONNECTED: XNNPACK refuses them behind DENSIFY). Not counted: bias scales,
    zero points, activation parameters, the graph; so the true minimum is higher.
    """
    from edgeprune.export.sparse_tflite import _schema, dense_weights, load_model

    S = _schema()
    model = load_model(dense_int8)
    convs = [w for w in dense_weights(dense_int8).values() if w.ndim == 4 and w.dtype == np.int8]
    nnz = sum(int(np.count_nonzero(w)) for w in convs)
    rows = sum(-(-w.size // 256) + 1 for w in convs)
    channels = sum(w.shape[0] for w in convs)
    fc = S.BuiltinOperator.FULLY_CONNECTED
    fc_bytes = sum(len(model.buffers[sg.tensors[op.inputs[1]].buffer].data) for sg in model.subgraphs
                   for op in sg.operators if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                                                 model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == fc)
    int32 = sum(len(model.buffers[t.buffer].data) for sg in model.subgraphs for t in sg.tensors
                if t.type == S.TensorType.INT32 and model.buffers[t.buffer].data is not None)
    parts = {"values": nnz, "indices": nnz, "segments": 2 * rows, "filter scales": 4 * channels,
             "int32 biases": int32, "dense int8 FULLY_CONNECTED": fc_bytes}
    return {"parts": parts, "bytes": sum(parts.values())}


def same_outputs(a: bytes, b: bytes, n: int = 4) -> bool:
    """LiteRT (default XNNPACK and builtin kernels) gives identical outputs for ``a`` and ``b`` on ``n`` inputs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        outs = []
        for blob in (a, b):
            it = Interpreter(model_content=blob, experimental_op_resolver_type=resolver, num_threads=1)
            it.allocate_tensors()
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
            rng = np.random.default_rng(0)
            rows = []
            for _ in range(n):
                it.set_tensor(inp["index"], rng.standard_normal(inp["shape"]).astype(np.float32))
                it.invoke()
                rows.append(it.get_tensor(out["index"]).copy())
            outs.append(np.stack(rows))
        if not np.array_equal(outs[0], outs[1]):
            return False
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--sparsity", type=float, default=0.9)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from edgeprune.export.floor import int8_floor_bytes, size_report
    from edgeprune.export.quantize import encode_int8_tflite, quantize_tflite_bytes
    from edgeprune.export.tflite_format import convert
    from edgeprune.runtimes import to_layout
    from size import int8_settings, make_model, masked_state

    _, model = make_model(args.model)
    state = masked_state(model, args.sparsity)
    model.load_state_dict(state)
    converted = convert(model.eval(), torch.zeros(1, 3, 32, 32))  # fp32: converted.data; unencoded: .dense
    dense_int8 = quantize_tflite_bytes(converted.dense, to_layout(int8_settings().calibration.x, "NHWC"))
    int8, _ = encode_int8_tflite(dense_int8)  # what quantize.quantize_tflite ships
    floors = {"fp32": size_report(state)["floor_bytes"], "int8": int8_floor_bytes(state)}
    print(f"{args.model} at {args.sparsity:.0%} (measured: files read back by schema)")
    for prec, data in (("fp32", converted.data), ("int8", int8)):
        print(f"\n{prec} .tflite: {len(data):,} bytes ({len(data) / floors[prec]:.3f}x its {floors[prec]:,} B floor)")
        for k, v in sorted(breakdown(data).items(), key=lambda kv: -kv[1]):
            print(f"  {k:<44} {v:>11,}")
    lb = int8_lower_bound(dense_int8)
    print(f"\nint8 lower bound for CSR + DENSIFY (computed from the weights, graph not counted): {lb['bytes']:,} B")
    for k, v in lb["parts"].items():
        print(f"  {k:<44} {v:>11,}")
    print(f"\nint8 file vs unencoded int8 file, LiteRT outputs identical (XNNPACK and builtin): "
          f"{same_outputs(dense_int8, int8)}")


if __name__ == "__main__":
    main()
