"""Where torch computes: ``auto`` picks CUDA, then MPS, then the CPU.

One registry of probes (name -> "is it usable here?"), so adding a backend is
one entry. ``resolve_device("cuda")`` on a machine without CUDA is a one-line
user error, never a silent fallback: the user asked for it by name.

The device is *not* part of any cache key: a candidate fine-tuned on a GPU
is the same recipe as one fine-tuned on the CPU (their weights agree to
training noise, not bit for bit), so a run started on one resumes on the
other. Each record says where it was computed (``device`` field).
"""
from __future__ import annotations

from typing import Callable

from .errors import EdgepruneError

DEVICES = ("auto", "cpu", "cuda", "mps")
AUTO_ORDER = ("cuda", "mps", "cpu")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _mps() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


PROBES: dict[str, Callable[[], bool]] = {"cuda": _cuda, "mps": _mps, "cpu": lambda: True}


def resolve_device(requested: str = "auto") -> str:
    """``cpu``, ``cuda`` or ``mps`` for ``requested`` (one of :data:`DEVICES`)."""
    if requested not in DEVICES:
        raise EdgepruneError(f"Unknown device {requested!r}.", f"Use one of {', '.join(DEVICES)}.")
    if requested == "auto":
        return next(d for d in AUTO_ORDER if PROBES[d]())
    if not PROBES[requested]():
        why = {"cuda": "torch.cuda.is_available() is False (no NVIDIA driver/GPU, or a CPU-only torch build)",
               "mps": "torch.backends.mps.is_available() is False (not Apple silicon, or macOS < 12.3)"}[requested]
        raise EdgepruneError(f"--device {requested} is not usable here: {why}.", "Use --device auto or --device cpu.")
    return requested


def describe(device: str) -> str:
    """Human name of a resolved device, e.g. ``cuda (NVIDIA H100 80GB HBM3)``."""
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return device


def device_record(requested: str, resolved: str) -> dict:
    """What run.json records about the device of this invocation."""
    return {"requested": requested, "resolved": resolved, "name": describe(resolved)}
