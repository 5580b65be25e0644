"""Structured Mix-and-Match: channels and attention heads physically removed.

The same three phases as the unstructured method at the granularity of coupled
channel groups (docs: shared/docs/mix-and-match.md, "Structured variant").
Torch-Pruning's DependencyGraph finds and applies the groups. Pieces:
``groups`` (groups, heads, unit removal), ``cost`` (exact parameter counts and
the support probe), ``scores`` (group MAG/SNIP/GraSP and the three signals),
``ranges`` (Phase 1 and the count rules), ``plan`` (channel plan JSON and the
rebuild), ``candidate`` (Phase 3) and ``stage`` (files and caching).
"""
from .groups import ChannelGroup, StructuredUnsupported
from .plan import ChannelPlan, rebuild

__all__ = ["ChannelGroup", "ChannelPlan", "StructuredUnsupported", "rebuild"]
