"""Calibration batches for the gradient signals, and the cache key they imply."""
from __future__ import annotations

import numpy as np
import torch

from ..data import Dataset
from .config import PruneConfig


def calib_key(cfg: PruneConfig) -> dict:
    """What decides the calibration batches, hence every gradient score (Phase 1 ranges, gradient and product)."""
    return {"size": cfg.calib_size, "batch": cfg.calib_batch, "seed": cfg.seed}


def calibration(data: Dataset, cfg: PruneConfig) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A few hundred labelled *training* images, fixed by the seed (never test data)."""
    rng = np.random.default_rng(cfg.seed)
    idx = np.sort(rng.choice(len(data.y_train), size=min(cfg.calib_size, len(data.y_train)), replace=False))
    x = data.normalize(data.x_train[idx])
    y = data.y_train[idx]
    return [(torch.from_numpy(x[i:i + cfg.calib_batch]), torch.from_numpy(y[i:i + cfg.calib_batch]))
            for i in range(0, len(y), cfg.calib_batch)]
