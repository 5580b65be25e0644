"""Pareto front, budgets and the choice over benchmark rows. Pure: no I/O.

A row is one (candidate x format) with four objective figures. Dominance is
the usual weak-everywhere/strict-somewhere relation, so rows with identical
figures (duplicates) never dominate each other. Budgets are per-objective
thresholds, hence monotone: if A dominates a feasible B, A is feasible too.
So the feasible part of the front over all rows equals the front over the
feasible rows, and the most accurate feasible row always lies on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

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
TIE_BREAK = ["accuracy (higher)", "latency_ms (lower)", "size_mb (lower)", "peak_ram_mb (lower)", "key (A-Z)"]
PROVENANCE_RANK = {"measured": 0, "measured-on-host": 1, "estimated": 2}


@dataclass(frozen=True)
class Figure:
    """One objective value and how it was obtained."""

    value: float
    provenance: str  # measured | measured-on-host | estimated | unknown
    method: str | None = None

    def to_json(self) -> dict:
        return {"value": self.value, "provenance": self.provenance, "method": self.method}


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
        return f"{self.candidate}.{self.format}" if self.precision == "fp32" else \
            f"{self.candidate}.{self.precision}.{self.format}"

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


def dominates(a: Row, b: Row) -> bool:
    """True if ``a`` is no worse than ``b`` on every objective and better on one."""
    strictly = False
    for obj, sense in OBJECTIVES.items():
        x, y = a.value(obj), b.value(obj)
        if sense == "max":
            x, y = -x, -y
        if x > y:
            return False
        strictly = strictly or x < y
    return strictly


def pareto_front(rows: list[Row]) -> list[Row]:
    """The non-dominated rows (duplicates of a front row are all kept), in input order."""
    return [r for r in rows if not any(dominates(o, r) for o in rows if o is not r)]


def violations(row: Row, budgets: Budgets) -> list[Violation]:
    out = []
    for name, obj, limit in budgets.limits():
        v = Violation(name, obj, row.value(obj), limit)
        if v.excess > 0:
            out.append(v)
    return out


def rank_key(row: Row) -> tuple:
    """Order of preference among feasible front rows (see TIE_BREAK)."""
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


@dataclass
class Outcome:
    verdicts: list[Verdict]
    front: list[str]
    choice: Verdict | None
    closest: Verdict | None  # set when nothing is feasible

    def verdict(self, key: str) -> Verdict:
        return next(v for v in self.verdicts if v.row.key == key)


def choose(rows: list[Row], budgets: Budgets, fmt: str | None = None) -> Outcome:
    """Front, feasibility, choice and a reason for every row that lost.

    ``fmt`` restricts the eligible rows to one format (the shipped one); other
    rows are reported but take no part in the front or the choice.
    """
    keys = [r.key for r in rows]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate row keys: {sorted(dup)}")
    verdicts = [Verdict(r) for r in sorted(rows, key=lambda r: r.key)]
    complete = [v for v in verdicts if v.row.error is None and not v.row.missing()]
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
    eligible = [v for v in complete if v.eligible]
    for v in eligible:
        v.dominated_by = [o.row.key for o in sorted(eligible, key=lambda o: rank_key(o.row))
                          if o is not v and dominates(o.row, v.row)]
        v.pareto = not v.dominated_by
    front = [v for v in eligible if v.pareto]
    feasible_front = sorted((v for v in front if v.feasible), key=lambda v: rank_key(v.row))
    choice = feasible_front[0] if feasible_front else None
    closest = None
    if choice is not None:
        choice.chosen = True
        choice.reason = "chosen: the most accurate feasible row on the Pareto front"
    elif eligible:
        closest = min(eligible, key=lambda v: (sum(x.relative for x in v.violations), v.row.key))
    by_key = {v.row.key: v for v in verdicts}
    for v in eligible:
        if not v.chosen:
            v.reason = _loss_reason(v, choice, by_key)
    return Outcome(verdicts, [v.row.key for v in front], choice, closest)


def _loss_reason(v: Verdict, choice: Verdict | None, by_key: dict[str, Verdict]) -> str:
    if v.violations:
        text = "breaks " + "; ".join(x.describe() for x in v.violations)
        return text + (f"; also dominated by {v.dominated_by[0]}" if v.dominated_by else "")
    if v.dominated_by:
        best = by_key[v.dominated_by[0]].row
        better = [o for o in OBJECTIVES if best.value(o) != v.row.value(o)]
        more = f" (+{len(v.dominated_by) - 1} more)" if len(v.dominated_by) > 1 else ""
        return f"dominated by {best.key}{more}: better on {', '.join(better)}, no worse elsewhere"
    assert choice is not None  # a feasible front row exists, so a choice was made
    c = choice.row
    order = ("accuracy", "latency_ms", "size_mb", "peak_ram_mb")
    for i, obj in enumerate(order):
        if v.row.value(obj) != c.value(obj):
            worse = "lower" if obj == "accuracy" else "higher"
            pre = f"ties {c.key} on {', '.join(order[:i])} but has" if i else "feasible and on the front, but has"
            return (f"{pre} {worse} {obj} than {c.key} "
                    f"({fmt_value(obj, v.row.value(obj))} vs {fmt_value(obj, c.value(obj))})")
    return f"identical figures to {c.key}; tie broken by key order"
