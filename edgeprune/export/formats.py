"""The format registry: one :class:`Format` per artifact type, looked up by name.

Each converter module registers its own format when imported; the imports below
fix the registration order (onnx, tflite). Neither converter imports this module,
and none of them imports torch at module level: the package root stays torch-free.
"""
from __future__ import annotations

from . import onnx_format, tflite_format
from .format_base import FORMATS, Converted, Format, dist_version

CONVERTERS = (onnx_format, tflite_format)  # importing them registered their formats, in this order

__all__ = ["FORMATS", "Converted", "Format", "dist_version", "get_format"]


def get_format(name: str) -> Format:
    """The registered format ``name``; an unknown name is an EdgepruneError naming the known ones."""
    return FORMATS.get(name)
