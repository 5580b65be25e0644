"""What the bundle README and the report say about an artifact's precision: the facts, read once.

Both render :func:`int8_facts` of the manifest (markdown and HTML); an fp32
artifact has none.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Int8Facts:
    """How an int8 artifact was quantized and how close it is to its fp32 twin (from the manifest)."""

    quantizer: str
    weights: str
    activations: str
    io: str
    calibration: dict  # n, split, file
    agreement: dict  # twin, n, inputs, top1_agreement, floor, max_abs_logit_error, max_abs_fp32_logit
    accuracy: tuple[float, float] | None  # (int8, fp32) on the agreement images, when measured


def int8_facts(manifest: dict) -> Int8Facts | None:
    """None for an fp32 artifact."""
    p = manifest.get("precision_notes") or {"precision": manifest.get("precision", "fp32")}
    if p.get("precision", "fp32") == "fp32":
        return None
    a = p.get("agreement") or {}
    acc = (a["accuracy_int8"], a["accuracy_fp32"]) if a.get("accuracy_int8") is not None else None
    return Int8Facts(str(p.get("quantizer")), str(p.get("weights")), str(p.get("activations")), str(p.get("io")),
                     p.get("calibration") or {}, {"top1_agreement": 0, "floor": 0, "max_abs_logit_error": 0,
                                                  "max_abs_fp32_logit": 0, **a}, acc)
