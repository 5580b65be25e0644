"""Run an artifact in its own runtime and compare it with PyTorch on the same inputs.

The comparison is a rule object (:class:`LogitsRule` by default) so that other
artifact kinds can bring their own (an int8 artifact is judged by agreement,
not by logit differences). A rule's ``judge`` returns the record written to
``<id>.json`` under ``parity``: the rule, its parameters and what was measured.

:class:`LogitsRule`: ``max |artifact - PyTorch| <= max(atol, rtol x max |PyTorch logit|)``
over the parity inputs, and no top-1 change outside a tie (a sample whose
PyTorch top two logits are within 2 x that tolerance may flip either way
without any error beyond it). Relative, because fp32 reassociation noise
scales with the logits: a fixed 1e-4 stopped a real mobilenetv3 build at
1.18e-4. Defaults rtol 1e-4, atol 1e-5: ONNX Runtime and LiteRT differed from
PyTorch by 1.1e-6 to 2.6e-6 of max |logit| on resnet18, mobilenetv3_small_100,
efficientnet_b0 and deit_tiny (random init, also with the classifier scaled by
1e3), so rtol leaves ~40x for deeper nets and other kernels, while a wrong
weight or layout moves logits by 1e-2 of their scale or more; atol only
matters for logits within 0.1 of zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .failures import ExportFailed


@dataclass(frozen=True)
class LogitsRule:
    """Logits within a tolerance relative to their scale, and the same top-1 outside ties."""

    rtol: float = 1e-4
    atol: float = 1e-5
    name: str = "logits-relative"

    def judge(self, out: np.ndarray, ref: np.ndarray) -> dict:
        """The parity record: the rule, what was measured, and ``passed``."""
        ref = ref.astype(np.float64)
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        tol = max(self.atol, self.rtol * scale)
        diff = float(np.abs(out.astype(np.float64) - ref).max()) if out.size else 0.0
        top_out, top_ref = (out.argmax(axis=1), ref.argmax(axis=1)) if len(out) else (np.zeros(0, int),) * 2
        rows = np.arange(len(ref))
        margin = ref[rows, top_ref] - ref[rows, top_out]  # how much PyTorch prefers its own top-1
        flips = int(((top_out != top_ref) & (margin > 2 * tol)).sum())
        agree = float((top_out == top_ref).mean()) if len(out) else 1.0
        return {"rule": self.name, "rtol": self.rtol, "atol": self.atol, "logit_scale": scale, "tolerance": tol, "max_abs_diff": diff,
                "rel_diff": diff / scale if scale else None, "top1_agreement": agree, "top1_changes_outside_ties": flips,
                "passed": bool(diff <= tol and flips == 0)}  # NaN fails too

    def failure(self, rec: dict) -> str:
        return (f"max abs diff {rec['max_abs_diff']:.2e} ({_rel(rec)} of max |logit| {rec['logit_scale']:.3g}), "
                f"top-1 agreement {rec['top1_agreement']:.1%}; need <= {rec['tolerance']:.2e} "
                f"(max(atol {self.atol:g}, rtol {self.rtol:g} x max |logit|)) and no top-1 change outside ties")


def _rel(rec: dict) -> str:
    return "n/a" if rec["rel_diff"] is None else f"{rec['rel_diff']:.1e}"


DEFAULT_RULE = LogitsRule()


def reference(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """PyTorch logits for NCHW ``x``."""
    import torch

    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + batch])).float().numpy() for i in range(0, len(x), batch)])


def check(path: Path, suffix: str, layout: str, x: np.ndarray, ref: np.ndarray, origin: str,
          label: str, rule=None) -> tuple[dict, dict]:
    """``(parity record, io record)`` of the artifact at ``path``; raises ExportFailed on mismatch.

    ``suffix`` picks the runtime (the file may be a temp path with another suffix);
    ``rule`` defaults to :data:`DEFAULT_RULE`.
    """
    from ..runtimes import runtime_for
    from .prepare import quiet

    rule = rule or DEFAULT_RULE
    with quiet():  # LiteRT announces its XNNPACK delegate on stderr
        runner = runtime_for(path, suffix).open(Path(path), None, layout)
        out = runner.run(x)
    if out.shape != ref.shape:
        raise ExportFailed(f"{label}: output shape {list(out.shape)} != PyTorch {list(ref.shape)}.",
                           "Re-export; if it persists the converter changed the model.")
    judged = rule.judge(out, ref)
    if not judged.pop("passed"):
        raise ExportFailed(f"{label}: {runner.runtime} disagrees with PyTorch ({rule.failure(judged)}).",
                           "No artifact written; report the model.")
    parity = {"runtime": runner.runtime, "version": runner.version, "n": int(len(x)), "inputs": origin, **judged}
    io = {"input": {"name": runner.input_name, "shape": runner.input_shape, "dtype": "float32"},
          "output": {"name": runner.output_name, "shape": [runner.batch or 1, *out.shape[1:]]}}
    return parity, io
