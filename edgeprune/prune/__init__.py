"""Prune stage: Mix-and-Match pruning (docs: shared/docs/mix-and-match.md).

``run_prune(PruneConfig(...), out)`` is the API; ``edgeprune prune`` wraps it.
Pieces: ``layers`` (what is prunable, roles), ``importance`` (score registry),
``masks`` (thresholds), ``ranges`` (Phase 1), ``strategies`` (Phase 2),
``stage`` (Phase 3 and resume), ``executor`` (where Phase 3 candidates run: here or Ray).
"""
from .config import PruneConfig


def run_prune(cfg: PruneConfig, out, executor=None):
    from .stage import run_prune as _run

    return _run(cfg, out, executor)


__all__ = ["PruneConfig", "run_prune"]
