"""The on-device verification set: preprocessed inputs in the model's own layout.

Torch-free (numpy + the runtimes), shared by ``ship`` and ``verify``.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtimes import open_runner, to_nchw

EVAL_MAX_SAMPLES = 1000
EVAL_MAX_BYTES = 32 * 2**20  # keep the bundle small enough to copy to a device


@dataclass
class EvalResult:
    accuracy: float
    predictions: np.ndarray
    runtime: str
    runtime_version: str
    machine: str
    input_name: str
    input_shape: list[int]
    output_name: str
    output_shape: list[int]


def subset(n: int, sample_bytes: int) -> np.ndarray:
    """Indices kept from an ``n``-image test set: all, or an evenly spread subset under the caps."""
    keep = min(n, EVAL_MAX_SAMPLES, max(1, EVAL_MAX_BYTES // max(sample_bytes, 1)))
    return np.arange(n) if keep == n else np.unique(np.linspace(0, n - 1, keep).round().astype(np.int64))


def load_eval(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x, y, expected predictions or None) from an eval.npz, no pickles."""
    with np.load(path, allow_pickle=False) as d:
        return d["x"], d["y"], (d["pred"] if "pred" in d.files else None)


def run_eval(model: Path, x: np.ndarray, y: np.ndarray, layout: str, threads: int | None) -> EvalResult:
    """Top-1 accuracy of ``model`` on ``x`` (given in ``layout``) through its own runtime."""
    runner = open_runner(model, threads=threads, layout=layout)
    logits = runner.run(to_nchw(x, layout))
    pred = logits.argmax(axis=1).astype(np.int64)
    acc = float((pred == y).mean()) if len(y) else float("nan")
    out_shape = [runner.input_shape[0] or 1, *logits.shape[1:]]
    return EvalResult(acc, pred, runner.runtime, runner.version, platform.machine(), runner.input_name,
                      list(runner.input_shape), runner.output_name, [int(d) for d in out_shape])
