"""The in-memory dataset passed from the data loaders to training and export."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLIT_SEED = 0  # splits never depend on the run seed: the test set stays fixed
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Dataset:
    """Images as float32 NCHW in [0, 1] with int64 labels, split three ways."""

    name: str
    source: str
    labels: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = self.x_train
        # per-channel statistics of the training split only
        self.mean = [float(v) for v in x.mean(axis=(0, 2, 3))]
        self.std = [max(float(v), 1e-3) for v in x.std(axis=(0, 2, 3))]

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> list[int]:
        """Shape of one model input batch of size 1, NCHW."""
        return [1, *self.x_train.shape[1:]]

    def normalize(self, x: np.ndarray) -> np.ndarray:
        m = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        s = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return ((x - m) / s).astype(np.float32)

    def info(self) -> dict:
        """What later stages and the ship manifest need to feed the model."""
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": self.input_shape,
            "layout": "NCHW",
            "dtype": "float32",
            "value_range": [0.0, 1.0],
            "mean": self.mean,
            "std": self.std,
            "preprocessing": "x = (pixel / 255 - mean) / std per channel, after resizing to input_shape",
            "labels": self.labels,
            "num_classes": self.num_classes,
            "splits": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
            **({"notes": self.notes} if self.notes else {}),
        }


def split_stratified(
    y: np.ndarray, fractions: tuple[float, ...] = SPLIT_FRACTIONS, seed: int = SPLIT_SEED
) -> list[np.ndarray]:
    """Index arrays for a stratified split by ``fractions`` (fixed seed)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        bounds = np.round(np.cumsum(fractions) / sum(fractions) * len(idx)).astype(int)
        start = 0
        for i, end in enumerate(bounds):
            parts[i].extend(idx[start:end].tolist())
            start = end
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an NCHW float batch to ``size`` x ``size`` (numpy only)."""
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x.astype(np.float32)
    ys = (np.arange(size) + 0.5) * h / size - 0.5
    xs = (np.arange(size) + 0.5) * w / size - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1 = np.clip(y0 + 1, 0, h - 1)
    x1 = np.clip(x0 + 1, 0, w - 1)
    wy = np.clip(ys - y0, 0, 1).reshape(1, 1, -1, 1).astype(np.float32)
    wx = np.clip(xs - x0, 0, 1).reshape(1, 1, 1, -1).astype(np.float32)
    top = x[:, :, y0][:, :, :, x0] * (1 - wx) + x[:, :, y0][:, :, :, x1] * wx
    bot = x[:, :, y1][:, :, :, x0] * (1 - wx) + x[:, :, y1][:, :, :, x1] * wx
    return (top * (1 - wy) + bot * wy).astype(np.float32)
