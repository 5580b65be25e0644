"""PyTorch -> ONNX: dynamo export, onnxslim, then compact sparse encodings, then the full checker."""
from __future__ import annotations

from .format_base import FORMATS, Converted, Format, dist_version
from .onnx_ram import RAM_LIMIT
from .prepare import quiet, static_shapes

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "input", "logits"
MAX_PROTO_BYTES = 2**31 - 1  # protobuf limit of a single-file model


def versions() -> dict[str, str]:
    return {d: dist_version(d) for d in ("torch", "onnx", "onnxscript", "onnxslim")}


def decompose(program):
    """The exporter's own decomposition of an ExportedProgram: it reports failing ops of this graph.

    Private torch API, used only to name the module of a failing op; callers tolerate its absence.
    """
    from torch.onnx._internal.exporter import _fx_passes, _registration

    return _fx_passes.decompose_with_registry(program, _registration.ONNXRegistry.from_torchlib())


def to_onnx(model, sample):
    """Dense, simplified ModelProto of ``model`` at ``sample``'s static shape."""
    import onnxslim
    import torch

    with quiet(), static_shapes(), torch.no_grad():
        program = torch.onnx.export(model, (sample,), dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], optimize=True, verbose=False, external_data=False)
    proto = program.model_proto
    if proto.ByteSize() > MAX_PROTO_BYTES:
        raise ValueError("model exceeds the 2 GB single-file ONNX limit")
    with quiet():
        return onnxslim.slim(proto)


def convert(model, sample, ram_limit: float | None = RAM_LIMIT) -> Converted:
    """Dense export, simplification, then sparse encoding (in this order: see sparse_onnx).

    Encodings are chosen so that ONNX Runtime's peak RAM stays within
    ``ram_limit`` x the dense graph's, measured (see onnx_ram); None: the smallest, unmeasured.
    """
    import onnx

    from .onnx_ram import encode_within_ram

    proto = to_onnx(model, sample)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 17:
        raise ValueError(f"exported opset {opset} < 17")
    dense = proto.SerializeToString()  # what int8 quantizes (see quantize)
    encoding, ram = encode_within_ram(proto, ram_limit)
    onnx.checker.check_model(proto, full_check=True)
    details = {"opset": opset, "simplifier": "onnxslim", **({"ram": ram} if ram else {})}
    return Converted(proto.SerializeToString(), encoding, details, dense)


FORMATS.add("onnx", Format("onnx", ".onnx", "NCHW", "the ONNX exporter (torch.onnx, dynamo)", convert, versions, decompose))
