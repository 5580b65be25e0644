"""Fidelity of an int8 artifact: agreement with its fp32 twin, both run in their own runtime.

An int8 file is not bit-exact, so instead of parity (max |diff| <= atol) it must
agree with its fp32 twin (same candidate, same format) on the held-out test
split: top-1 agreement and the max logit error are recorded, and an artifact
whose top-1 agreement is below :data:`AGREEMENT_FLOOR` is rejected with the
reason in its record (it keeps no file and is never benched, selected or
shipped). The floor is 0.95: the project's goal is an int8 accuracy drop of at
most ~1 point, and a file that changes more than 1 prediction in 20 against
its own fp32 twin cannot be trusted to meet it on other images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .failures import ExportFailed

AGREEMENT_FLOOR = 0.95


class Int8Rejected(ExportFailed):
    """The int8 artifact agrees too little with its fp32 twin (a quality verdict, not a tool failure)."""

    def __init__(self, problem: str, fix: str, agreement: dict):
        super().__init__(problem, fix)
        self.agreement = agreement


def _run(path: Path, suffix: str, layout: str, x: np.ndarray):
    from ..runtimes import runtime_for
    from .prepare import quiet

    with quiet():  # LiteRT announces its XNNPACK delegate on stderr
        runner = runtime_for(path, suffix).open(Path(path), None, layout)
        return runner, runner.run(x)


def check_agreement(path: Path, suffix: str, twin: Path, twin_name: str, layout: str, x: np.ndarray,
                    y: np.ndarray | None, origin: str, label: str, floor: float = AGREEMENT_FLOOR) -> tuple[dict, dict]:
    """``(agreement record, io record)`` of the int8 file at ``path`` against its fp32 twin at ``twin``.

    ``suffix`` picks the runtime (either file may be a temp path). Raises :class:`Int8Rejected` below
    ``floor`` (or on NaN), :class:`ExportFailed` if it does not run.
    """
    twin_runner, ref = _run(twin, suffix, layout, x)
    runner, out = _run(path, suffix, layout, x)
    if out.shape != ref.shape:
        raise ExportFailed(f"{label}: output shape {list(out.shape)} != its fp32 twin's {list(ref.shape)}.",
                           "Re-export; if it persists report the model.")
    err = float(np.abs(out.astype(np.float64) - ref).max()) if out.size else 0.0
    agree = float((out.argmax(axis=1) == ref.argmax(axis=1)).mean()) if len(out) else 1.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    rec = {"twin": twin_name, "runtime": runner.runtime, "version": runner.version, "top1_agreement": agree,
           "max_abs_logit_error": err, "max_abs_fp32_logit": scale,
           "relative_logit_error": err / scale if scale else None, "n": int(len(x)), "inputs": origin,
           "floor": floor}
    if y is not None and len(y) == len(x):
        rec["accuracy_fp32"] = float((ref.argmax(axis=1) == y).mean())
        rec["accuracy_int8"] = float((out.argmax(axis=1) == y).mean())
    rec["passed"] = bool(agree >= floor and np.isfinite(err))
    if not rec["passed"]:
        raise Int8Rejected(f"{label}: rejected, int8 top-1 agreement with {twin_name} is {agree:.1%} on {len(x)} "
                           f"test images (floor {floor:.0%}; max logit error {err:.3g} of {scale:.3g}).",
                           "It is not shipped; use the fp32 artifact of this candidate.", rec)
    io = {"input": {"name": runner.input_name, "shape": runner.input_shape, "dtype": "float32"},
          "output": {"name": runner.output_name, "shape": [runner.batch or 1, *out.shape[1:]]}}
    del twin_runner
    return rec, io
