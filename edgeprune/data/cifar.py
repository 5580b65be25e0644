"""CIFAR-10 / CIFAR-100 in the original python (pickle) format.

The batches are pickles, so they are read with an unpickler that only admits
the handful of numpy/builtin constructors the real files use; anything else
(e.g. ``os.system``) is refused instead of executed.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import EdgepruneError
from . import register
from .base import Dataset, resize_batch, split_stratified

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("builtins", "bytearray"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


_FIX = "Point --data at the extracted cifar-10-batches-py or cifar-100-python directory."


def _load(path: Path, keys: tuple[str, ...] = ()) -> dict:
    """One batch as a dict with str keys; it must hold ``keys`` (one-line error otherwise)."""
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise EdgepruneError(f"{path}: not a valid CIFAR python batch ({e}).", _FIX) from None
    if not isinstance(d, dict):
        raise EdgepruneError(f"{path}: not a CIFAR python batch (it holds a {type(d).__name__}, not a dict).", _FIX)
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    missing = [k for k in keys if k not in d]
    if missing:
        raise EdgepruneError(f"{path}: not a CIFAR python batch (no {', '.join(repr(k) for k in missing)}; "
                             f"it has {', '.join(map(repr, d)) or 'nothing'}).", _FIX)
    return d


def _kind(spec: str) -> str | None:
    p = Path(spec)
    if (p / "data_batch_1").is_file() and (p / "test_batch").is_file():
        return "cifar10"
    if (p / "train").is_file() and (p / "test").is_file() and (p / "meta").is_file():
        return "cifar100"
    return None


@register("cifar", lambda spec: _kind(spec) is not None)
def load_cifar(spec: str, input_size: int | None = None) -> Dataset:
    root = Path(spec)
    kind = _kind(spec)
    if kind == "cifar10":
        train = [_load(p, ("data", "labels")) for p in sorted(root.glob("data_batch_*"))]
        x_tr = np.concatenate([np.asarray(b["data"]) for b in train])
        y_tr = np.concatenate([np.asarray(b["labels"]) for b in train])
        test = _load(root / "test_batch", ("data", "labels"))
        x_te, y_te = np.asarray(test["data"]), np.asarray(test["labels"])
        meta = _load(root / "batches.meta") if (root / "batches.meta").is_file() else {}
        names = meta.get("label_names")
    else:
        train, test = _load(root / "train", ("data", "fine_labels")), _load(root / "test", ("data", "fine_labels"))
        x_tr, y_tr = np.asarray(train["data"]), np.asarray(train["fine_labels"])
        x_te, y_te = np.asarray(test["data"]), np.asarray(test["fine_labels"])
        names = _load(root / "meta").get("fine_label_names")
    n_cls = int(max(y_tr.max(), y_te.max())) + 1
    labels = [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else [str(i) for i in range(n_cls)]

    def prep(x: np.ndarray) -> np.ndarray:
        if x.size % (3 * 32 * 32) or x.size == 0:
            raise EdgepruneError(f"{root}: CIFAR 'data' of shape {x.shape} is not a stack of 3x32x32 images.", _FIX)
        x = x.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        return resize_batch(x, input_size) if input_size and input_size != 32 else x

    x_tr, y_tr = prep(x_tr), y_tr.astype(np.int64)
    tr, va = split_stratified(y_tr, (0.9, 0.1))  # validation comes out of train, never test
    return Dataset(
        name=kind, source=str(root.resolve()), labels=labels,
        x_train=x_tr[tr], y_train=y_tr[tr], x_val=x_tr[va], y_val=y_tr[va],
        x_test=prep(x_te), y_test=y_te.astype(np.int64),
        notes={"val": "10% of the training batches, stratified, fixed seed"},
    )
