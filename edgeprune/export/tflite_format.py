"""PyTorch -> TFLite with litert-torch (no TensorFlow), NHWC input, then TFLite sparse weights.

The input is NHWC: TFLite's native layout and a camera frame's, so the device
feeds frames without a transpose; litert-torch's ``to_channel_last_io`` moves
the transpose into the graph where the converter folds it into the first op.

Tensor names are shortened to the torch module path: litert-torch writes every
module's full class path into each name (``timm.models.vision_transformer.
VisionTransformer_wrapped/.../timm.layers.norm.LayerNorm_norm2;8``), a third of
a small model's file; ``blocks.0.norm2;8`` carries the same information.
"""
from __future__ import annotations

from .format_base import FORMATS, Converted, Format, dist_version
from .prepare import quiet, static_shapes


def versions() -> dict[str, str]:
    return {d: dist_version(d) for d in ("torch", "litert-torch", "ai-edge-litert")}


def to_tflite(model, sample) -> bytes:
    """Dense ``.tflite`` bytes of ``model`` (NCHW ``sample``) with NHWC input."""
    import torch

    if sample.dim() != 4:
        raise ValueError(f"expected an NCHW image input, got shape {list(sample.shape)}")
    with quiet(), static_shapes(), torch.no_grad():
        import litert_torch  # its import logs through absl on fd 2

        wrapped = litert_torch.to_channel_last_io(model, args=[0]).eval()
        edge = litert_torch.convert(wrapped, (sample.permute(0, 2, 3, 1).contiguous(),))
        return bytes(edge.model_content())


_WRAPPER = "wrapped"  # attribute of to_channel_last_io's wrapper module


def module_path_name(name: bytes) -> bytes:
    """``a.B_wrapped/c.D_blocks/e.F_0/g.H_norm2;8`` -> ``blocks.0.norm2;8`` (others unchanged)."""
    text = name.decode("utf-8", "replace")
    if "/" not in text:
        return name
    parts = []
    for seg in text.split("/"):
        if "." not in seg:  # not a "pkg.module.Class_attr" segment: keep
            parts.append(seg)
            continue
        tail = seg.rsplit(".", 1)[1]  # "Class_attr"; the root module has no attr
        if "_" in tail:
            parts.append(tail.split("_", 1)[1])
    if parts and parts[0] == _WRAPPER:
        parts = parts[1:]
    return ".".join(parts).encode() or name


def shorten_names(model) -> None:
    """Apply :func:`module_path_name` to every tensor of a ModelT (I/O names have no path and stay)."""
    for sg in model.subgraphs:
        for t in sg.tensors:
            if t.name:
                t.name = module_path_name(t.name)


def convert(model, sample) -> Converted:
    from .sparse_tflite import load_model, pack_model, sparsify_model

    dense = to_tflite(model, sample)
    flat = load_model(dense)
    encoding = sparsify_model(flat)
    shorten_names(flat)
    return Converted(pack_model(flat), encoding, {}, dense)


FORMATS.add("tflite", Format("tflite", ".tflite", "NHWC", "litert-torch", convert, versions))
