"""Prune stage: Mix-and-Match pruning (docs: shared/docs/mix-and-match.md).

``run_prune(PruneConfig(...), out)`` runs the stage into a run directory;
``edgeprune prune`` wraps it. The algorithm alone, on a model and calibration
batches in memory (:mod:`.mixmatch`): ``layer_ranges`` (Phase 1),
``strategy_plans`` (Phase 2), ``masks_for`` and ``apply_masks`` (one signal).
Pieces: ``layers`` (what is prunable, roles), ``importance`` (score registry),
``masks`` (thresholds), ``ranges`` (Phase 1 rules), ``strategies`` (Phase 2),
``candidate`` (one Phase 3 candidate), ``dense`` (the dense model),
``stage`` (files, cache and resume), ``executor`` (where Phase 3 candidates run: here or Ray).
"""
from .config import PruneConfig

# torch-free import of the package (the CLI reads PruneConfig): the rest loads on first use
_LAZY = {"calibration": "calib", "LayerRange": "ranges", **{name: "mixmatch" for name in (
    "prunable_layers", "scores", "baseline_scores", "layer_ranges", "strategy_plans", "plans_summary", "masks_for",
    "apply_masks")}}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_prune(cfg: PruneConfig, out, executor=None):
    """Run (or resume) the prune stage into the run directory ``out`` (see :func:`.stage.run_prune`)."""
    from .stage import run_prune as _run

    return _run(cfg, out, executor)


__all__ = ["PruneConfig", "run_prune", "LayerRange", "calibration", "prunable_layers", "scores", "baseline_scores",
           "layer_ranges", "strategy_plans", "plans_summary", "masks_for", "apply_masks"]
