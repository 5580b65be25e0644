"""Pareto front, budgets and the choice over benchmark rows. Pure: no I/O.

A row is one (candidate x format) with four objective figures. Dominance is
the usual weak-everywhere/strict-somewhere relation, so rows with identical
figures (duplicates) never dominate each other. Budgets are per-objective
thresholds, hence monotone: if A dominates a feasible B, A is feasible too.
Differences inside a figure's uncertainty are ties (:mod:`.noise`): a row
dominates another only when it is better beyond noise somewhere and worse
beyond noise nowhere. That relation is not monotone under budgets (a row can
be within noise of a feasible one yet break a budget), so a feasible row is
only knocked off the front by feasible rows. Among the feasible front rows
the choice filters objective by objective (:data:`TIE_BREAK`): keep the rows
that tie with the best, so that among ties the smaller and lighter artifact
wins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

from ..precision import ArtifactKey
from .noise import Comparison, Tolerances, compare

# objective -> sense; "size_mb" is MB = 10^6 bytes of the artifact file
OBJECTIVES: dict[str, str] = {"accuracy": "max", "size_mb": "min", "latency_ms": "min", "peak_ram_mb": "min"}
UNITS: dict[str, str] = {"accuracy": "top-1 fraction", "size_mb": "MB (10^6 bytes, artifact file)",
                         "latency_ms": "ms (median, one batch)", "peak_ram_mb": "MB (peak RSS)"}
# budget name -> (objective, CLI flag)
BUDGETS: dict[str, tuple[str, str]] = {
    "max_size_mb": ("size_mb", "--max-size-mb"),
    "max_ram_mb": ("peak_ram_mb", "--max-ram-mb"),
    "max_latency_ms": ("latency_ms", "--max-latency-ms"),
    "min_accuracy": ("accuracy", "--min-accuracy"),
}
ORDER = ("accuracy", "latency_ms", "size_mb", "peak_ram_mb")  # tie-break order among feasible front rows
TIE_BREAK = ["accuracy (higher)", "latency_ms (lower)", "size_mb (lower)", "peak_ram_mb (lower)", "key (A-Z)"]
TIE_RULE = ("per objective, in the tie-break order, the rows that tie with the best stay; a tie is a difference "
            "<= max(tolerance, sqrt(h_a^2 + h_b^2)), h = each figure's uncertainty half-width facing the other")
PROVENANCE_RANK = {"measured": 0, "measured-on-host": 1, "estimated": 2}


@dataclass(frozen=True)
class Figure:
    """One objective value, how it was obtained, and its uncertainty (see :mod:`.noise`)."""

    value: float
    provenance: str  # measured | measured-on-host | estimated | unknown
    method: str | None = None
    low: float | None = None  # what repeating the measurement could give
    high: float | None = None
    noise: str | None = None  # how low/high were obtained
    band: float | None = None  # an estimate's relative band (shared by the figures of one basis)
    basis: str | None = None  # figures of one basis share the band

    def to_json(self) -> dict:
        return {"value": self.value, "provenance": self.provenance, "method": self.method}

    def uncertainty(self) -> dict:
        return {"low": self.low, "high": self.high, "how": self.noise, "band": self.band}


@dataclass
class Row:
    """A (candidate x format x precision) row; ``figures`` maps each objective to a Figure."""

    candidate: str
    format: str
    figures: dict[str, Figure] = field(default_factory=dict)
    error: str | None = None
    info: dict = field(default_factory=dict)  # bench fields carried through (runtime, sha256, ...)
    precision: str = "fp32"

    @property
    def key(self) -> str:
        """The artifact's file name: ``<candidate>.<format>``, ``<candidate>.int8.<format>``."""
        return ArtifactKey(self.candidate, self.format, self.precision).name

    def value(self, objective: str) -> float:
        return self.figures[objective].value

    def missing(self) -> list[str]:
        return [o for o in OBJECTIVES if o not in self.figures or not _finite(self.figures[o].value)]


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass(frozen=True)
class Budgets:
    """Device limits; ``None`` means no limit on that objective."""

    max_size_mb: float | None = None
    max_ram_mb: float | None = None
    max_latency_ms: float | None = None
    min_accuracy: float | None = None

    def limits(self) -> Iterable[tuple[str, str, float]]:
        """(budget name, objective, limit) for every budget that is set."""
        for name, (objective, _) in BUDGETS.items():
            limit = getattr(self, name)
            if limit is not None:
                yield name, objective, float(limit)


@dataclass(frozen=True)
class Violation:
    """A budget a row breaks, and by how much."""

    budget: str
    objective: str
    value: float
    limit: float

    @property
    def excess(self) -> float:
        """How far past the limit (positive, in the objective's unit)."""
        return self.limit - self.value if OBJECTIVES[self.objective] == "max" else self.value - self.limit

    @property
    def relative(self) -> float:
        return self.excess / abs(self.limit) if self.limit else math.inf

    def describe(self) -> str:
        op = "<" if OBJECTIVES[self.objective] == "max" else ">"
        sign = "-" if OBJECTIVES[self.objective] == "max" else "+"
        v, lim, ex = (fmt_value(self.objective, x) for x in (self.value, self.limit, self.excess))
        rel = f", {sign}{self.relative:.0%}" if math.isfinite(self.relative) else ""
        return f"{self.objective} {v} {op} {self.budget} {lim} ({sign}{ex}{rel})"

    def to_json(self) -> dict:
        return {"budget": self.budget, "objective": self.objective, "value": self.value, "limit": self.limit,
                "excess": self.excess, "relative": self.relative if math.isfinite(self.relative) else None,
                "text": self.describe()}


def fmt_value(objective: str, v: float) -> str:
    """A figure with its unit, for messages."""
    if objective == "accuracy":
        return f"{v:.4f}"
    unit = "ms" if objective == "latency_ms" else "MB"
    return f"{v:.3g} {unit}" if abs(v) < 100 else f"{v:.1f} {unit}"


def compare_rows(a: Row, b: Row, tol: Tolerances | None) -> dict[str, Comparison]:
    """Every objective of ``a`` against ``b`` (``outcome`` > 0: ``a`` is better); ``tol`` None: exact."""
    out = {}
    for obj, sense in OBJECTIVES.items():
        if tol is None:
            x, y = a.value(obj), b.value(obj)
            better = (x > y) if sense == "max" else (x < y)
            out[obj] = Comparison(obj, x, y, 0 if x == y else (1 if better else -1), 0.0, 0.0, 0.0)
        else:
            out[obj] = compare(obj, sense, a.figures[obj], b.figures[obj], tol)
    return out


def dominates(a: Row, b: Row, tol: Tolerances | None = None) -> bool:
    """True if ``a`` is no worse than ``b`` on every objective and better on one.

    With ``tol``, "better" means beyond the figures' uncertainty and the tolerance; without, any difference.
    """
    cs = compare_rows(a, b, tol).values()
    return all(c.outcome >= 0 for c in cs) and any(c.outcome > 0 for c in cs)


def pareto_front(rows: list[Row], tol: Tolerances | None = None) -> list[Row]:
    """The non-dominated rows (duplicates of a front row are all kept), in input order."""
    return [r for r in rows if not any(dominates(o, r, tol) for o in rows if o is not r)]


def violations(row: Row, budgets: Budgets) -> list[Violation]:
    out = []
    for name, obj, limit in budgets.limits():
        v = Violation(name, obj, row.value(obj), limit)
        if v.excess > 0:
            out.append(v)
    return out


def rank_key(row: Row) -> tuple:
    """Exact order of the rows (see TIE_BREAK): used to list dominators and to find each stage's best."""
    return (-row.value("accuracy"), row.value("latency_ms"), row.value("size_mb"), row.value("peak_ram_mb"), row.key)


@dataclass
class Verdict:
    """What selection decided about one row, and why."""

    row: Row
    eligible: bool = False
    feasible: bool = False
    pareto: bool = False
    chosen: bool = False
    violations: list[Violation] = field(default_factory=list)
    dominated_by: list[str] = field(default_factory=list)
    reason: str = ""
    lost_to: tuple[str, "Verdict"] | None = None  # (objective, that stage's best) in the tie-break


@dataclass
class Outcome:
    verdicts: list[Verdict]
    front: list[str]
    choice: Verdict | None
    closest: Verdict | None  # set when nothing is feasible
    tolerances: Tolerances = field(default_factory=Tolerances)

    def verdict(self, key: str) -> Verdict:
        return next(v for v in self.verdicts if v.row.key == key)


def choose(rows: list[Row], budgets: Budgets, fmt: str | None = None, tol: Tolerances | None = None) -> Outcome:
    """Front, feasibility, choice and a reason for every row that lost.

    ``fmt`` restricts the eligible rows to one format (the shipped one); other
    rows are reported but take no part in the front or the choice. ``tol``:
    the tie rule's tolerances (default :class:`Tolerances`).
    """
    tol = tol or Tolerances()
    keys = [r.key for r in rows]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate row keys: {sorted(dup)}")
    verdicts = [Verdict(r) for r in sorted(rows, key=lambda r: r.key)]
    for v in verdicts:
        if v.row.error is not None:
            v.reason = f"excluded: the bench failed on it ({v.row.error})"
        elif v.row.missing():
            why = "; ".join(f"{o}: {w}" for o, w in v.row.info.get("missing", {}).items())
            v.reason = f"excluded: no {', '.join(v.row.missing())} figure in the bench" + (f" ({why})" if why else "")
        else:
            v.violations = violations(v.row, budgets)
            v.feasible = not v.violations
            v.eligible = fmt is None or v.row.format == fmt
            if not v.eligible:
                v.reason = f"excluded: format {v.row.format} is not the shipped format {fmt}"
    eligible = sorted((v for v in verdicts if v.eligible), key=lambda o: rank_key(o.row))
    _front(eligible, tol)
    if any(v.feasible for v in eligible) and not any(v.pareto and v.feasible for v in eligible):
        _front(eligible, None)  # near-ties can form a cycle in which every row is dominated: fall back to exact
    choice = _tie_break([v for v in eligible if v.pareto and v.feasible], tol)
    closest = None
    if choice is None and eligible:
        closest = min(eligible, key=lambda v: (sum(x.relative for x in v.violations), v.row.key))
    from .reasons import explain

    for v in eligible:
        v.reason = explain(v, choice, eligible, tol)
    return Outcome(verdicts, [v.row.key for v in verdicts if v.pareto], choice, closest, tol)


def _front(eligible: list[Verdict], tol: Tolerances | None) -> None:
    """Set ``dominated_by`` (best-ranked first) and ``pareto``; a feasible row only yields to feasible rows."""
    for v in eligible:
        rivals = [o for o in eligible if o is not v and (o.feasible or not v.feasible)]
        v.dominated_by = [o.row.key for o in rivals if dominates(o.row, v.row, tol)]
        v.pareto = not v.dominated_by


def _tie_break(pool: list[Verdict], tol: Tolerances) -> Verdict | None:
    """Per objective in ORDER keep the rows that tie with the best; then the first key. Sets ``lost_to``."""
    for obj in ORDER:
        if len(pool) < 2:
            break
        best = min(pool, key=lambda v: (_signed(v.row, obj), rank_key(v.row)))
        keep = []
        for v in pool:
            if compare(obj, OBJECTIVES[obj], v.row.figures[obj], best.row.figures[obj], tol).outcome < 0:
                v.lost_to = (obj, best)
            else:
                keep.append(v)
        pool = keep
    choice = min(pool, key=lambda v: v.row.key) if pool else None
    if choice is not None:
        choice.chosen = True
    return choice


def _signed(row: Row, obj: str) -> float:
    return -row.value(obj) if OBJECTIVES[obj] == "max" else row.value(obj)
