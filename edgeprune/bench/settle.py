"""Settled after round 1: artifacts that no later latency round could bring back onto the front.

Round 1 measures everything; later rounds only refine latency (see
:class:`.settings.BenchSettings`): size, peak RAM and accuracy in a row are
round 1's. An artifact ``X`` needs no more rounds when another artifact ``Y``
of the same kind (format and precision: one latency scale) is, on round 1's
figures, no larger on disk (exact bytes), no heavier in peak RAM and at least
as accurate on the same eval split (or neither was evaluated), and

- **faster**: ``Y``'s round-1 latency times ``margin`` (``BenchSettings.settle_margin``,
  1.5) is still below ``X``'s, far outside the spread between one round and the
  median of several (rounds agree within ``stable_within``, 7.5%); or
- **the same network**: both are the run's dense network (the dense model or an
  unstructured candidate: every runtime on our targets densifies sparse weights
  at load, so they run the same operations) and ``X`` was not faster than ``Y``
  in round 1 beyond ``stable_within``: later rounds can only refine two
  figures of the same network, whose difference is noise. ``Y`` must then be
  strictly better on size, RAM or accuracy (two twins both keep their rounds).

Then ``Y`` is at least as good as ``X`` on every objective whatever ``X``'s
remaining rounds would measure, so ``X`` cannot be chosen over ``Y``; its row
keeps its one-round latency and says why. The run's dense anchor of a kind is
never settled (the others' estimates lean on its rounds).
"""
from __future__ import annotations

from .artifacts import Artifact
from .rounds import round_figures


def _figures(first: dict | None) -> tuple[int, float, float | None, float] | None:
    """(bytes, peak RAM MB, accuracy, latency figure) of a clean round 1, else None."""
    if not first or first.get("error") or first.get("skipped"):
        return None
    lat = round_figures(first, [])
    size = (first.get("file") or {}).get("size_bytes")
    ram = first.get("peak_ram_mb")
    if not lat or size is None or ram is None:
        return None
    return size, ram, first.get("accuracy"), lat[0]


def _no_worse(y: tuple, x: tuple) -> bool:
    """``y`` no larger, no heavier and at least as accurate as ``x`` (round-1 figures, all final)."""
    (ys, yr, ya, _), (xs, xr, xa, _) = y, x
    if (ya is None) != (xa is None):
        return False
    return ys <= xs and yr <= xr and (ya is None or ya >= xa)


def _why(a: Artifact, b: Artifact, x: tuple, y: tuple, margin: float, within: float) -> str | None:
    """Why ``b`` (figures ``y``) settles ``a`` (figures ``x``), or None."""
    if b.kind != a.kind or not _no_worse(y, x):
        return None
    head = f"dominated after round 1 by {b.display} (no larger, no more peak RAM, at least as accurate"
    if y[3] * margin < x[3]:
        return f"{head} and {x[3] / y[3]:.2f}x faster, beyond the {margin:g}x margin): timed in one round"
    if a.dense_network and b.dense_network and x[3] >= y[3] * (1 - within) and y[:3] != x[:3]:
        return (f"{head}, and the same dense network once the runtime densifies the weights: latency {x[3] / y[3]:.2f}x "
                f"of it in round 1, a difference later rounds could only refine within noise): timed in one round")
    return None


def settled_after_first(artifacts: list[Artifact], first: list[dict | None], margin: float,
                        within: float) -> dict[int, str]:
    """Index -> why, for every artifact whose later latency rounds could not change the selection."""
    figs = [_figures(f) for f in first]
    out: dict[int, str] = {}
    for i, (a, x) in enumerate(zip(artifacts, figs)):
        if x is None or a.anchor:
            continue
        for j, (b, y) in enumerate(zip(artifacts, figs)):
            why = None if j == i or y is None else _why(a, b, x, y, margin, within)
            if why:
                out[i] = why
                break
    return out
