"""Settled after round 1: artifacts that no later latency round could bring back onto the front.

Round 1 measures everything; later rounds only refine latency (see
:class:`.settings.BenchSettings`). An artifact ``X`` needs no more rounds when
another artifact ``Y`` of the same kind (format and precision: one latency
scale) is, on round 1's figures,

- no larger on disk (exact bytes) and no heavier in peak RAM (the figure the row
  reports is round 1's),
- at least as accurate on the same eval split (or neither was evaluated), and
- faster by more than ``margin`` (``BenchSettings.settle_margin``; round-1 figure times ``margin`` still below
  ``X``'s): far outside the spread between one round and the median of several
  (``stable_within``, 7.5% by default), so no later round can reverse it.

Then ``Y`` dominates ``X`` on every objective whatever ``X``'s remaining rounds
would measure, so ``X`` can be neither chosen nor on the Pareto front; its row
keeps its one-round latency and says why. The run's dense anchor of a kind is
never settled (the others' estimates lean on its rounds).
"""
from __future__ import annotations

from .artifacts import Artifact
from .rounds import round_figures


def _figures(first: dict) -> tuple[int, float, float | None, float] | None:
    """(bytes, peak RAM MB, accuracy, latency figure) of a clean round 1, else None."""
    if not first or first.get("error") or first.get("skipped"):
        return None
    lat = round_figures(first, [])
    size = (first.get("file") or {}).get("size_bytes")
    ram = first.get("peak_ram_mb")
    if not lat or size is None or ram is None:
        return None
    return size, ram, first.get("accuracy"), lat[0]


def _beats(y: tuple, x: tuple, margin: float) -> bool:
    (ys, yr, ya, yl), (xs, xr, xa, xl) = y, x
    if (ya is None) != (xa is None):
        return False
    accurate = ya is None or ya >= xa
    return ys <= xs and yr <= xr and accurate and yl * margin < xl


def settled_after_first(artifacts: list[Artifact], first: list[dict | None], margin: float) -> dict[int, str]:
    """Index -> why, for every artifact whose later latency rounds could not change the selection."""
    figs = [_figures(f) if f else None for f in first]
    out: dict[int, str] = {}
    for i, (a, x) in enumerate(zip(artifacts, figs)):
        if x is None or a.anchor:
            continue
        for j, (b, y) in enumerate(zip(artifacts, figs)):
            if j == i or y is None or b.kind != a.kind or not _beats(y, x, margin):
                continue
            out[i] = (f"dominated after round 1 by {b.display} (no larger, no more peak RAM, at least as accurate "
                      f"and {x[3] / y[3]:.2f}x faster, beyond the {margin:g}x margin): no later round could change "
                      "the selection, so it was timed in one round")
            break
    return out
