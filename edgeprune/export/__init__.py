"""Export stage: pruned PyTorch model -> sparse-aware ONNX and TFLite artifacts, parity-checked.

Public API::

    export_run(run, formats=None, candidates=None, skip_hint=...) -> {id: record}
    export_model(model, checkpoint, input_shape, out, formats=None, model_kwargs=None) -> record

Modules by concern: :mod:`.formats` (registry), :mod:`.onnx_format` and
:mod:`.tflite_format` (converters), :mod:`.sparse_onnx` and :mod:`.sparse_tflite`
(weight encodings and their numpy readers), :mod:`.onnx_ram` (ONNX encodings
chosen under ONNX Runtime's measured peak RAM), :mod:`.floor` (size floor),
:mod:`.parity` (rules), :mod:`.prepare` (mask stripping), :mod:`.failures`,
:mod:`.pipeline` (caching and records). Importing this package does not import torch.
"""
from .failures import ExportFailed
from .formats import FORMATS, Converted, Format, get_format
from .pipeline import N_PARITY, ParityInputs, Source, export_model, export_run, export_source

__all__ = ["FORMATS", "Converted", "ExportFailed", "Format", "N_PARITY", "ParityInputs", "Source", "export_model",
           "export_run", "export_source", "get_format"]
