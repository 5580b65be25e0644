"""Datasets: a registry of loaders that return a :class:`Dataset` of numpy arrays.

``load_dataset(spec)`` is the one entry point. ``spec`` is ``"digits"`` (built in),
a CIFAR-10/100 python-format directory, or an image-folder root. Loaders return
images as float32 NCHW in [0, 1]; normalisation (per-channel mean/std of the
training split) is applied by the consumer and recorded in ``run.json``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import EdgepruneError
from ..registry import Registry
from .base import Dataset, split_stratified


@dataclass(frozen=True)
class Loader:
    """A dataset layout: ``detect(spec)`` says whether ``spec`` is one; ``load`` reads it."""

    detect: Callable[[str], bool]
    load: Callable[..., Dataset]  # (spec, input_size=None) -> Dataset


#: name -> loader, in registration order: the first loader whose detector matches wins.
DATASETS: Registry[Loader] = Registry("dataset")
_MODULES = ("cifar", "digits", "folder")  # importing them registers their loaders, in this order


def register(name: str, detect: Callable[[str], bool]):
    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.add(name, Loader(detect, fn))
        return fn

    return deco


def _registered() -> Registry[Loader]:
    import importlib

    for mod in _MODULES:
        importlib.import_module(f".{mod}", __name__)
    return DATASETS


def list_datasets() -> list[str]:
    return _registered().names()


def load_dataset(spec: str, input_size: int | None = None) -> Dataset:
    """Load ``spec`` (``digits``, a CIFAR directory or an image-folder root).

    Splits use a fixed seed (:data:`.base.SPLIT_SEED`), never the run's: the test set stays fixed.
    """
    for _, loader in _registered().items():
        if loader.detect(spec):
            return loader.load(spec, input_size=input_size)
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


__all__ = ["DATASETS", "Dataset", "Loader", "load_dataset", "list_datasets", "register", "split_stratified"]
