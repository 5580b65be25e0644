"""Image folders: ``ROOT/<class>/*.png`` or ``ROOT/{train,val,test}/<class>/*``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgepruneError
from . import register
from .base import Dataset, split_stratified

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff"}
DEFAULT_SIZE = 224


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _detect(spec: str) -> bool:
    root = Path(spec)
    if not root.is_dir():
        return False
    base = root / "train" if (root / "train").is_dir() else root
    return any(_images(c) for c in _class_dirs(base)[:50])


def _read(paths: list[Path], size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), 3, size, size), dtype=np.float32)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                im = im.convert("RGB").resize((size, size), Image.BILINEAR)
                out[i] = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
        except (UnidentifiedImageError, OSError) as e:
            raise EdgepruneError(f"{p}: cannot read image ({e}).", "Remove or fix the file, then re-run.") from None
    return out


def _scan(base: Path, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, ys = [], []
    for i, name in enumerate(labels):
        d = base / name
        if d.is_dir():
            imgs = _images(d)
            paths += imgs
            ys += [i] * len(imgs)
    return paths, np.asarray(ys, dtype=np.int64)


def _carve(paths: list, y: np.ndarray) -> tuple[tuple[list, np.ndarray], tuple[list, np.ndarray]]:
    """Split 15% off ``paths``/``y`` (stratified, fixed seed): (the rest, the 15%)."""
    keep, cut = split_stratified(y, (0.85, 0.15))
    return ([paths[i] for i in keep], y[keep]), ([paths[i] for i in cut], y[cut])


@register("folder", _detect)
def load_folder(spec: str, input_size: int | None = None) -> Dataset:
    root = Path(spec)
    size = input_size or DEFAULT_SIZE
    has_splits = (root / "train").is_dir()
    base = root / "train" if has_splits else root
    labels = [p.name for p in _class_dirs(base)]
    if len(labels) < 2:
        raise EdgepruneError(f"--data {spec}: found {len(labels)} class folder(s).", "An image folder needs at least two class subfolders.")
    notes: dict = {}
    if has_splits:
        p_tr, y_tr = _scan(root / "train", labels)
        if (root / "val").is_dir():
            p_va, y_va = _scan(root / "val", labels)
        else:
            (p_tr, y_tr), (p_va, y_va) = _carve(p_tr, y_tr)
            notes["val"] = "15% of train/, stratified, fixed seed"
        if (root / "test").is_dir():
            p_te, y_te = _scan(root / "test", labels)
        else:
            (p_tr, y_tr), (p_te, y_te) = _carve(p_tr, y_tr)
            notes["test"] = "15% of train/, stratified, fixed seed"
    else:
        paths, y = _scan(root, labels)
        tr, va, te = split_stratified(y)
        p_tr, y_tr, p_va, y_va, p_te, y_te = [paths[i] for i in tr], y[tr], [paths[i] for i in va], y[va], [paths[i] for i in te], y[te]
        notes["split"] = "70/15/15 stratified, fixed seed"
    for split, ys in (("train", y_tr), ("val", y_va), ("test", y_te)):
        if len(ys) == 0:
            raise EdgepruneError(f"--data {spec}: the {split} split is empty.", "Add more images per class (at least 7) or provide train/ val/ test/ folders.")
    return Dataset(
        name="folder", source=str(root.resolve()), labels=labels,
        x_train=_read(p_tr, size), y_train=y_tr, x_val=_read(p_va, size), y_val=y_va,
        x_test=_read(p_te, size), y_test=y_te, notes=notes,
    )
