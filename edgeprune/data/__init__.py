"""Datasets: a registry of loaders that return a :class:`Dataset` of numpy arrays.

``load_dataset(spec)`` is the one entry point. ``spec`` is ``"digits"`` (built in),
a CIFAR-10/100 python-format directory, or an image-folder root. Loaders return
images as float32 NCHW in [0, 1]; normalisation (per-channel mean/std of the
training split) is applied by the consumer and recorded in ``run.json``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import EdgepruneError
from .base import Dataset, split_stratified

# name -> (detector, loader). Detectors look at a path; the first match wins.
_LOADERS: dict[str, tuple[Callable[[str], bool], Callable[..., Dataset]]] = {}


def register(name: str, detect: Callable[[str], bool]):
    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        _LOADERS[name] = (detect, fn)
        return fn

    return deco


def list_datasets() -> list[str]:
    return list(_LOADERS)


def load_dataset(spec: str, input_size: int | None = None, seed: int = 0) -> Dataset:
    """Load ``spec`` (``digits``, a CIFAR directory or an image-folder root)."""
    import importlib

    for mod in ("cifar", "digits", "folder"):  # importing them registers their loaders
        importlib.import_module(f".{mod}", __name__)

    for name, (detect, loader) in _LOADERS.items():
        if detect(spec):
            return loader(spec, input_size=input_size, seed=seed)
    p = Path(spec)
    if not p.exists():
        raise EdgepruneError(
            f"--data {spec!r}: no such directory and not a built-in dataset.",
            "Use 'digits', a CIFAR-10/100 python-format directory, or an image folder with one subfolder per class.",
        )
    raise EdgepruneError(
        f"--data {spec!r}: not a recognised dataset layout.",
        "Expected class subfolders of images (optionally under train/ val/ test/), or CIFAR-10/100 python batches.",
    )


__all__ = ["Dataset", "load_dataset", "list_datasets", "register", "split_stratified"]
