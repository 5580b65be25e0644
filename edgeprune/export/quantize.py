"""Static int8 post-training quantization of a converted fp32 artifact, one quantizer per format.

Both quantizers start from the *dense* fp32 artifact the converter produced
(:attr:`~.formats.Converted.dense`, before the sparse encodings) and are
calibrated on the run's training images only (:mod:`.calibration`); then the
sparse encodings are applied to the int8 weights. Symmetric int8 weights keep
a pruned weight at exactly 0, so the zeros survive quantization.

- ONNX: ``onnxruntime.quantization.quantize_static``, QDQ format, int8 weights
  symmetric per output channel, int8 activations asymmetric per tensor, MinMax
  calibration. Input and output stay float32 (QuantizeLinear after the input,
  DequantizeLinear before the output). The int8 weight initializers are then
  encoded like fp32 ones (:mod:`.sparse_onnx`), under the same peak-RAM limit
  (:mod:`.onnx_ram`: within 1.1x the unencoded int8 graph's peak, measured);
  ORT folds the decode subgraph at load, before its QDQ fusions, so the fused
  int8 kernels see constants.
- TFLite: ``ai-edge-quantizer``'s static int8 recipe (``static_wi8_ai8``:
  weights int8 symmetric per channel, activations int8 per tensor, min/max
  calibration through LiteRT) on the litert-torch fp32 file, with the recipe's
  ``INPUT``/``OUTPUT`` left unquantized, so the file has float32 input and
  output and QUANTIZE/DEQUANTIZE ops at the edges. Chosen over litert-torch's
  PT2E path because it quantizes the exact fp32 graph that was just converted
  and parity-checked, needs only ai-edge-litert (no TensorFlow), and costs no
  second litert-torch conversion (the slowest export step). Then int8
  CONV_2D/DEPTHWISE_CONV_2D weights are stored as CSR + DENSIFY
  (:mod:`.sparse_tflite`; a conv with no dimension <= 256 is first split along
  its output channels, :mod:`.tflite_split`, for uint8 indices); int8 FULLY_CONNECTED weights stay dense (LiteRT's
  XNNPACK delegate refuses a DENSIFY-fed int8 FULLY_CONNECTED).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .formats import Converted, dist_version
from .onnx_ram import RAM_LIMIT
from .prepare import quiet


def _batches(x: np.ndarray, batch: int) -> list[np.ndarray]:
    """Full batches of ``x`` (the artifacts have a static batch size)."""
    n = len(x) - len(x) % batch if len(x) >= batch else 0
    return [np.ascontiguousarray(x[i:i + batch]) for i in range(0, n, batch)]


# ---------------------------------------------------------------- ONNX
ONNX_SCHEME = {
    "tool": "onnxruntime.quantization.quantize_static",
    "format": "QDQ",
    "weights": "int8, symmetric, per output channel",
    "activations": "int8, asymmetric, per tensor",
    "calibration_method": "MinMax",
    "io": "float32 input and output (QuantizeLinear after the input, DequantizeLinear before the output)",
    "sparse": "int8 weight initializers encoded like fp32 ones (decode subgraph folded by ONNX Runtime at load), "
              "within the same peak-RAM limit against the unencoded int8 graph",
}


def quantize_onnx_file(src: Path, dst: Path, calib: np.ndarray) -> int:
    """``quantize_static`` of the ONNX file ``src`` into ``dst`` (the scheme above); returns the batches used."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    inp = onnx.load(str(src), load_external_data=False).graph.input[0]
    name, batch = inp.name, (inp.type.tensor_type.shape.dim[0].dim_value or 1)
    batches = _batches(calib, batch)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(batches)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {name: x}

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return len(batches)


def quantize_onnx(converted: Converted, calib: np.ndarray, ram_limit: float | None = RAM_LIMIT) -> Converted:
    """int8 QDQ ONNX of ``converted.dense`` calibrated on NCHW ``calib``, then sparse-encoded within
    ``ram_limit`` x the unencoded int8 graph's peak RAM at load (as fp32: :mod:`.onnx_ram`)."""
    import onnx

    from .onnx_ram import encode_within_ram

    with tempfile.TemporaryDirectory(prefix="edgeprune-int8-") as d:
        src, dst = Path(d) / "fp32.onnx", Path(d) / "int8.onnx"
        src.write_bytes(converted.dense)
        with quiet():
            n = quantize_onnx_file(src, dst, calib)
        proto = onnx.load(str(dst))
    encoding, ram = encode_within_ram(proto, ram_limit)  # the unencoded int8 graph is the dense int8 peak
    onnx.checker.check_model(proto, full_check=True)
    details = {k: v for k, v in converted.details.items() if k in ("opset", "simplifier")}
    return Converted(proto.SerializeToString(), encoding,
                     {**details, **({"ram": ram} if ram else {}), "quantization": {**ONNX_SCHEME, "version": dist_version("onnxruntime"),
                                                  "calibration_batches": n}})


# ---------------------------------------------------------------- TFLite
TFLITE_SCHEME = {
    "tool": "ai-edge-quantizer (static int8 recipe, Quantizer.calibrate + quantize) on the litert-torch fp32 file",
    "weights": "int8, symmetric, per output channel",
    "activations": "int8, per tensor, min/max calibration",
    "io": "float32 input and output (recipe leaves INPUT/OUTPUT unquantized: QUANTIZE after the input, "
          "DEQUANTIZE before the output)",
    "why": "quantizes the exact fp32 graph that was converted and parity-checked, needs only ai-edge-litert (no "
           "TensorFlow) and no second litert-torch conversion; litert-torch's PT2E path would re-convert from "
           "PyTorch for every int8 artifact",
    "sparse": "int8 CONV_2D/DEPTHWISE_CONV_2D weights as CSR + DENSIFY (a CONV_2D with no dimension <= 256 split "
              "along output channels for uint8 indices); int8 FULLY_CONNECTED weights stay dense "
              "(LiteRT's XNNPACK delegate fails to prepare a DENSIFY-fed int8 FULLY_CONNECTED)",
}


def tflite_recipe() -> list:
    """``static_wi8_ai8`` with graph input and output left float32."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    op = qtyping.TFLOperationName
    rm = recipe_manager.RecipeManager()
    rm.add_static_config(".*", op.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
    for io in (op.INPUT, op.OUTPUT):
        rm.add_quantization_config(".*", io, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return rm.get_quantization_recipe()


def quantize_tflite_bytes(dense: bytes, calib_nhwc: np.ndarray) -> bytes:
    """Dense int8 ``.tflite`` (float I/O) of a dense fp32 ``.tflite``; calibration images in the file's layout
    (NHWC for edgeprune's artifacts)."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer

    with quiet():
        probe = Interpreter(model_content=dense)
        sigs = probe.get_signature_list()
        sig = next(iter(sigs))
        in_name = sigs[sig]["inputs"][0]
        shape = [int(d) for d in probe.get_input_details()[0]["shape"]]
        if list(calib_nhwc.shape[1:]) != shape[1:]:
            raise ValueError(f"calibration images {list(calib_nhwc.shape[1:])} do not match the input {shape[1:]}")
        batch = shape[0] or 1
        q = quantizer.Quantizer(bytearray(dense), tflite_recipe())
        result = q.calibrate({sig: [{in_name: x} for x in _batches(calib_nhwc, batch)]})
        out = q.quantize(result, enable_progress_report=False)
    return bytes(out.quantized_model)


def quantize_tflite(converted: Converted, calib: np.ndarray) -> Converted:
    """int8 ``.tflite`` of ``converted.dense`` calibrated on NCHW ``calib``, then CSR-encoded."""
    from ..runtimes import to_layout

    data, encoding = encode_int8_tflite(quantize_tflite_bytes(converted.dense, to_layout(calib, "NHWC")))
    return Converted(data, encoding, {"quantization": {**TFLITE_SCHEME, "version": dist_version("ai-edge-quantizer")}})


def encode_int8_tflite(dense_int8: bytes) -> tuple[bytes, dict]:
    """The shipped int8 ``.tflite`` of a dense int8 one: CSR + DENSIFY weights, short names; and its encoding stats."""
    from .sparse_tflite import load_model, pack_model, sparsify_model
    from .tflite_format import shorten_names

    flat = load_model(dense_int8)
    encoding = sparsify_model(flat)
    shorten_names(flat)
    return pack_model(flat), encoding


#: format name -> int8 quantizer (Converted fp32 with .dense, NCHW calibration images) -> Converted int8
QUANTIZERS: dict[str, Callable[[Converted, np.ndarray], Converted]] = {"onnx": quantize_onnx, "tflite": quantize_tflite}


def versions(fmt: str) -> dict[str, str]:
    return {"onnx": {"onnxruntime": dist_version("onnxruntime")},
            "tflite": {"ai-edge-quantizer": dist_version("ai-edge-quantizer")}}.get(fmt, {})
