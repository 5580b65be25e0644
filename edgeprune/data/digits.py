"""scikit-learn's digits (1,797 8x8 images, shipped inside scikit-learn)."""
from __future__ import annotations

import numpy as np

from . import register
from .base import Dataset, resize_batch, split_stratified

DEFAULT_SIZE = 32


@register("digits", lambda spec: spec == "digits")
def load_digits(spec: str, input_size: int | None = None) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    size = input_size or DEFAULT_SIZE
    d = sk_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # N,1,8,8 in [0,1]
    x = np.repeat(resize_batch(x, size), 3, axis=1)  # grey -> RGB like a camera frame
    y = d.target.astype(np.int64)
    tr, va, te = split_stratified(y)
    return Dataset(
        name="digits",
        source="sklearn.datasets.load_digits (built in)",
        labels=[str(i) for i in range(10)],
        x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va], x_test=x[te], y_test=y[te],
        notes={"resized": f"8x8 -> {size}x{size} bilinear, grey replicated to 3 channels"},
    )
