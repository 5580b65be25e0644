"""Uncertainty of the selection figures and the tie rule: no decision on a difference inside noise.

Every figure carries an interval ``[low, high]`` of what repeating its
measurement could give (:func:`figure_noise`):

- accuracy: the 95% Wilson score interval of top-1 over the ``n`` test images
  (binomial; one image is 100/n percentage points);
- latency: the spread of the bench's rounds around the reported median (off the
  device each round's artifact/anchor ratio, on it each round's median). An
  estimate also carries its band, the error of the host -> device scale;
- peak RAM: the spread over the bench's rounds (each a fresh process);
- size: exact (the file's bytes).

Two figures *tie* on an objective when ``|a - b| <= max(tolerance, sqrt(h_a^2 +
h_b^2))``, ``h`` being each figure's half-width on the side facing the other
(:func:`compare`). An estimate's band is one scale shared by every row estimated
in the same bench for the same format, so it cannot order them; it widens ``h``
only when the two figures do not share it (e.g. a device-measured row against an
estimated one). The tolerances are floors the user sets (:class:`Tolerances`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Protocol

Z95 = 1.959964  # two-sided 95% normal quantile

#: objective -> (CLI flag, kind); a relative tolerance is a fraction of the smaller figure
TOLERANCE_FLAGS: dict[str, tuple[str, str]] = {
    "accuracy": ("--accuracy-tolerance", "absolute (top-1 fraction)"),
    "latency_ms": ("--latency-tolerance", "relative"),
    "size_mb": ("--size-tolerance", "relative"),
    "peak_ram_mb": ("--ram-tolerance", "relative"),
}


@dataclass(frozen=True)
class Tolerances:
    """Per objective, the difference up to which figures tie even where their own uncertainty is narrower.

    Defaults: accuracy 0 (its binomial interval is the uncertainty); latency 6%
    of the smaller figure (two consecutive benches of the same 20 artifacts
    differed by up to 5.8%, ``benchmarks/repeat.py``); size 0 (a file's bytes are
    exact); peak RAM 1% (repeat benches differed by up to 0.16% on the build
    host; 1% leaves room for another host's allocator).
    """

    accuracy: float = 0.0
    latency_ms: float = 0.06
    size_mb: float = 0.0
    peak_ram_mb: float = 0.01

    def of(self, objective: str) -> float:
        return float(getattr(self, objective))

    def to_json(self) -> dict:
        return asdict(self)


class _Fig(Protocol):  # edgeprune.select.core.Figure
    value: float
    low: float | None
    high: float | None
    band: float | None
    basis: str | None
    noise: str | None


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _spread(value: float, samples: list[float] | None) -> tuple[float, float] | None:
    """``value`` scaled by the samples' min and max relative to their median (None with < 2 samples)."""
    xs = [float(s) for s in samples or [] if isinstance(s, (int, float)) and s > 0]
    if len(xs) < 2:
        return None
    med = statistics.median(xs)
    return value * min(xs) / med, value * max(xs) / med


def figure_noise(row: dict, objective: str, value: float) -> dict:
    """``low``, ``high`` and ``noise`` (how) of one figure of a bench row; ``band`` for an estimate."""
    if objective == "accuracy":
        n = row.get("n_eval")
        if not n:
            return {}
        lo, hi = wilson(value, int(n))
        return {"low": lo, "high": hi,
                "noise": f"95% Wilson interval over {n} test images (one image = {100 / n:.2f} pp)"}
    if objective == "size_mb":
        return {"low": value, "high": value, "noise": "exact: the file's bytes"}
    if objective == "peak_ram_mb":
        rounds = [float(r) for r in row.get("peak_ram_rounds_mb") or [] if isinstance(r, (int, float))]
        if len(rounds) < 2:
            return {}
        return {"low": min(value, *rounds), "high": max(value, *rounds),
                "noise": f"min-max peak RAM over {len(rounds)} bench rounds (fresh processes)"}
    if objective == "latency_ms":
        lat = row.get("latency_ms") or {}
        host = row.get("host_latency_ms") or lat
        ratios = host.get("paired_ratios")
        samples = ratios if ratios else host.get("round_medians")
        out: dict = {}
        span = _spread(value, samples)
        if span is not None:
            what = "artifact/anchor ratios" if ratios else "medians"
            out = {"low": span[0], "high": span[1],
                   "noise": f"spread of the round {what} over {len(samples)} bench rounds"}
        if lat.get("high") and lat.get("median"):
            out["band"] = lat["high"] / lat["median"] - 1
        return out
    return {}


@dataclass(frozen=True)
class Comparison:
    """One objective of two rows: who is better, or a tie, and by what rule."""

    objective: str
    a: float
    b: float
    outcome: int  # +1: a is better beyond the threshold, -1: b is, 0: a tie
    threshold: float  # the largest difference that is a tie
    noise: float  # the combined uncertainty part of the threshold
    tolerance: float  # the tolerance part (absolute)

    @property
    def tie(self) -> bool:
        return self.outcome == 0

    @property
    def within_noise(self) -> bool:
        """A tie between different figures (not merely equal ones)."""
        return self.tie and self.a != self.b

    def _diff(self, d: float) -> str:
        if self.objective == "accuracy":
            return f"{d * 100:.2g} pp"
        return f"{d / min(abs(self.a), abs(self.b)):.1%}" if min(abs(self.a), abs(self.b)) > 0 else f"{d:.3g}"

    def _pair(self, fmt) -> str:
        return f"{fmt(self.objective, self.a)} vs {fmt(self.objective, self.b)}"

    def _rule(self) -> str:
        """E.g. ``1.3% <= 6.0%, the tolerance``."""
        op = "<=" if self.tie else ">"
        which = "the figures' uncertainty" if self.noise >= self.tolerance else "the tolerance"
        return f"{self._diff(abs(self.a - self.b))} {op} {self._diff(self.threshold)}, {which}"

    def short(self, fmt) -> str:
        """E.g. ``0.383 ms vs 0.388 ms: 1.3% <= 6.0%, the tolerance``."""
        return f"{self._pair(fmt)}: " + ("equal" if self.a == self.b else self._rule())

    def describe(self, fmt) -> str:
        """E.g. ``latency_ms 0.383 ms vs 0.388 ms: a tie within noise (1.3% <= 6.0%, the tolerance)``."""
        if self.a == self.b:
            return f"{self.objective} equal ({fmt(self.objective, self.a)})"
        verdict = "a tie within noise" if self.tie else "beyond noise"
        return f"{self.objective} {self._pair(fmt)}: {verdict} ({self._rule()})"

    def to_json(self) -> dict:
        return asdict(self)


def _facing(f: _Fig, upward: bool, shared: bool) -> float:
    """Half-width of ``f``'s interval on the side towards the other figure."""
    h = 0.0
    if f.low is not None and f.high is not None:
        h = (f.high - f.value) if upward else (f.value - f.low)
    if not shared and f.band:
        h = max(h, f.value * f.band if upward else f.value - f.value / (1 + f.band))
    return max(h, 0.0)


def compare(objective: str, sense: str, a: _Fig, b: _Fig, tol: Tolerances) -> Comparison:
    """Compare two figures of ``objective`` (``sense`` ``max`` or ``min``) under the tie rule."""
    x, y = float(a.value), float(b.value)
    shared = a.basis == b.basis
    noise = math.hypot(_facing(a, y > x, shared), _facing(b, x > y, shared))
    t = tol.of(objective)
    tolerance = t if objective == "accuracy" else t * min(abs(x), abs(y))
    threshold = max(noise, tolerance)
    d = x - y if sense == "max" else y - x  # > 0: a is better
    outcome = 0 if abs(x - y) <= threshold * (1 + 1e-9) else (1 if d > 0 else -1)
    return Comparison(objective, x, y, outcome, threshold, noise, tolerance)
