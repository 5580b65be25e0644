"""Why each row won or lost, in one line; every comparison decided inside noise says so."""
from __future__ import annotations

from typing import Iterable

from .core import OBJECTIVES, ORDER, Verdict, compare_rows, fmt_value
from .noise import Comparison, Tolerances

MAX_TIES = 3  # ties listed in one reason


def _noisy(cs: Iterable[Comparison]) -> str:
    return "; ".join(c.describe(fmt_value) for c in cs if c.within_noise)


def explain(v: Verdict, choice: Verdict | None, eligible: list[Verdict], tol: Tolerances) -> str:
    """The ``reason`` of an eligible row (the chosen one included)."""
    if v.chosen:
        return _chosen(v, eligible, tol)
    if v.violations:
        text = "breaks " + "; ".join(x.describe() for x in v.violations)
        return text + (f"; also dominated by {v.dominated_by[0]}" if v.dominated_by else "")
    if v.dominated_by:
        return _dominated(v, {o.row.key: o for o in eligible}, tol)
    if v.lost_to is not None:
        return _lost(v, tol)
    assert choice is not None  # a feasible front row exists, so a choice was made
    noisy = _noisy(compare_rows(v.row, choice.row, tol).values())
    if not noisy:
        return f"identical figures to {choice.row.key}; tie broken by key order"
    return f"ties {choice.row.key} on every objective ({noisy}); tie broken by key order"


def _dominated(v: Verdict, by_key: dict[str, Verdict], tol: Tolerances) -> str:
    best = by_key[v.dominated_by[0]].row
    cs = compare_rows(v.row, best, tol)
    if not any(c.outcome < 0 for c in cs.values()):  # dominated under the exact fallback (see choose)
        cs = compare_rows(v.row, best, None)
    better = [o for o, c in cs.items() if c.outcome < 0]
    more = f" (+{len(v.dominated_by) - 1} more)" if len(v.dominated_by) > 1 else ""
    noisy = _noisy(cs.values())
    return f"dominated by {best.key}{more}: better on {', '.join(better)}" + (
        f", and {noisy}" if noisy else ", no worse elsewhere")


def _lost(v: Verdict, tol: Tolerances) -> str:
    obj, best = v.lost_to
    cs = compare_rows(v.row, best.row, tol)
    earlier = [o for o in ORDER[:ORDER.index(obj)] if cs[o].tie]
    pre = f"ties {best.row.key} on {', '.join(earlier)}" if earlier else "feasible and on the front,"
    worse = "lower" if OBJECTIVES[obj] == "max" else "higher"
    c = cs[obj]
    text = (f"{pre} but has {worse} {obj} than {best.row.key} "
            f"({fmt_value(obj, c.a)} vs {fmt_value(obj, c.b)}" + (", beyond noise)" if c.threshold else ")"))
    noisy = _noisy(cs[o] for o in earlier)
    return text + (f"; {noisy}" if noisy else "")


def _chosen(v: Verdict, eligible: list[Verdict], tol: Tolerances) -> str:
    rivals = [o for o in eligible if o is not v and o.pareto and o.feasible]
    if not rivals:
        return "chosen: the only feasible row on the Pareto front"
    head = "chosen: the most accurate feasible row on the Pareto front"
    if any(o.lost_to is None or o.lost_to[0] != ORDER[0] for o in rivals):
        head += " within noise, then first by " + ", ".join(f"{o} ({'higher' if OBJECTIVES[o] == 'max' else 'lower'})"
                                                             for o in ORDER[1:]) + ", key"
    ties = []
    for o in rivals:
        upto = ORDER[:ORDER.index(o.lost_to[0]) + 1] if o.lost_to else ORDER
        cs = compare_rows(v.row, o.row, tol)
        ties += [f"{o.row.key} on {x} ({cs[x].short(fmt_value)})" for x in upto if cs[x].within_noise]
    if not ties:
        return head
    more = f" (+{len(ties) - MAX_TIES} more)" if len(ties) > MAX_TIES else ""
    return f"{head}; within noise of " + "; ".join(ties[:MAX_TIES]) + more
