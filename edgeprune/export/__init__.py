"""Export stage: pruned PyTorch model -> sparse-aware ONNX and TFLite artifacts, parity-checked.

Public API::

    export_run(run, formats=None, candidates=None, precisions=None, skip_hint=...) -> {id: record}
    export_model(model, checkpoint, input_shape, out, formats=None, model_kwargs=None, precisions=None,
                 calib=None) -> record

Modules by concern: :mod:`.formats` (registry), :mod:`.onnx_format` and
:mod:`.tflite_format` (converters), :mod:`.sparse_onnx` and :mod:`.sparse_tflite`
(weight encodings and their numpy readers; :mod:`.tflite_split` splits wide convs for
uint8 CSR indices, :mod:`.tflite_flat` reads and writes the flatbuffer), :mod:`.onnx_plan` and :mod:`.onnx_ram`
(ONNX encodings chosen under ONNX Runtime's measured peak RAM, fp32 and int8),
:mod:`.floor` (size floor), :mod:`.parity` (rules), :mod:`.prepare` (mask stripping),
:mod:`.failures`, int8: :mod:`.calibration` (training images), :mod:`.quantize`
(quantizers), :mod:`.agreement` (vs the fp32 twin), :mod:`.int8`;
:mod:`.sources` (what is exported, parity inputs), :mod:`.records` (the ``<id>.json``
record, caching, failures) and :mod:`.pipeline` (orchestration).
Importing this package does not import torch.
"""
from .failures import ExportFailed
from .formats import FORMATS, Converted, Format, get_format
from .pipeline import N_PARITY, Int8Settings, ParityInputs, Source, export_model, export_run, export_source

__all__ = ["FORMATS", "Converted", "ExportFailed", "Format", "Int8Settings", "N_PARITY", "ParityInputs", "Source",
           "export_model",
           "export_run", "export_source", "get_format"]
