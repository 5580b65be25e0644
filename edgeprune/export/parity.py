"""Run an artifact in its own runtime and compare it with PyTorch on the same inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .failures import ExportFailed

ATOL = 1e-4


def reference(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """PyTorch logits for NCHW ``x``."""
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).float().numpy() for i in range(0, len(x), batch)])


def check(path: Path, suffix: str, layout: str, x: np.ndarray, ref: np.ndarray, origin: str,
          label: str, atol: float | None = None) -> tuple[dict, dict]:
    """``(parity record, io record)`` of the artifact at ``path``; raises ExportFailed on mismatch.

    ``suffix`` picks the runtime (the file may be a temp path with another suffix).
    """
    from ..runtimes import RUNTIMES
    from .prepare import quiet

    atol = ATOL if atol is None else atol
    with quiet():  # LiteRT announces its XNNPACK delegate on stderr
        runner = RUNTIMES[suffix](Path(path), None, layout)
        out = runner.run(x)
    if out.shape != ref.shape:
        raise ExportFailed(f"{label}: output shape {list(out.shape)} != PyTorch {list(ref.shape)}.",
                           "Re-export; if it persists the converter changed the model.")
    diff = float(np.abs(out.astype(np.float64) - ref).max()) if out.size else 0.0
    agree = float((out.argmax(axis=1) == ref.argmax(axis=1)).mean()) if len(out) else 1.0
    parity = {"runtime": runner.runtime, "version": runner.version, "max_abs_diff": diff, "top1_agreement": agree,
              "n": int(len(x)), "inputs": origin, "atol": atol}
    if not (diff <= atol and agree == 1.0):  # NaN fails too
        raise ExportFailed(f"{label}: {runner.runtime} disagrees with PyTorch (max abs diff {diff:.2e}, "
                           f"top-1 agreement {agree:.1%}; need <= {atol:g} and 100%).",
                           "No artifact written; report the model, or export the other format with --formats.")
    io = {"input": {"name": runner.input_name, "shape": runner.input_shape, "dtype": "float32"},
          "output": {"name": runner.output_name, "shape": [runner.batch or 1, *out.shape[1:]]}}
    return parity, io
