"""Select: the Pareto-optimal (candidate x format x precision) row that fits a device budget.

``select(run, target, ...)`` reads ``RUN/bench/<target>.json``, applies the
target profile's default budgets (overridden by the keyword arguments), picks
the row and writes ``RUN/selection.json`` atomically. The decision itself is
pure (:mod:`edgeprune.select.core`). Torch-free.

Format policy: the front and the choice use only rows of the shipped format,
which is ``fmt`` if given, else the target's preferred format; the figures of
the choice are therefore those of the exact file that ``ship`` bundles. Rows
of other formats are listed in ``selection.json`` with the reason they were
excluded. fp32 and int8 rows of the shipped format compete on their own
measured figures (each int8 row has its own accuracy through its runtime).

Tie rule: a difference inside the figures' uncertainty (or the tolerances,
``tolerances=``; see :mod:`edgeprune.select.noise`) decides nothing; among
ties the smaller and lighter artifact wins.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EdgepruneError, NothingFeasible
from ..records import DENSE, BenchRecord, CandidateRecord, granularity_of
from ..runio import RunDir, sha256_file
from .core import (BUDGETS, OBJECTIVES, TIE_BREAK, TIE_RULE, UNITS, Budgets, Figure, Outcome, Row, Verdict, choose,
                   fmt_value)
from .noise import TOLERANCE_FLAGS, Tolerances
from .rows import rows_from_bench
from .screen import current_screen
from .store import write_selection

if TYPE_CHECKING:
    import os

    from ..targets import Target

__all__ = ["select", "choose", "Budgets", "Row", "Figure", "Tolerances", "summary", "FORMATS",
           "tolerances_from"]

FORMATS = ("onnx", "tflite")


EXAMPLES = {"max_size_mb": "5", "max_ram_mb": "256", "max_latency_ms": "50", "min_accuracy": "0.95 for 95%"}


def _check_budget(name: str, value: float | None) -> None:
    """Budgets obey the same rules as a profile's: maxima > 0, accuracy a fraction in [0, 1]."""
    flag = BUDGETS[name][1]
    if value is None:
        return
    example = f"Example: {flag} {EXAMPLES[name]}."
    if name == "min_accuracy":
        if not math.isfinite(value) or not 0 <= value <= 1:
            raise EdgepruneError(f"--min-accuracy {value} is not a fraction in [0, 1].", example)
    elif not math.isfinite(value) or value <= 0:
        raise EdgepruneError(f"{flag} {value} is not a number > 0.", example)


def tolerances_from(given: "Tolerances | dict[str, float | None] | None") -> tuple[Tolerances, dict[str, str]]:
    """Checked :class:`Tolerances` (defaults where ``given`` has None) and where each value came from."""
    if isinstance(given, Tolerances):
        given = given.to_json()
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(TOLERANCE_FLAGS))
    if unknown:
        raise EdgepruneError(f"Unknown tolerance {unknown[0]!r}.", f"Use one of {', '.join(TOLERANCE_FLAGS)}.")
    for obj, v in given.items():
        flag = TOLERANCE_FLAGS[obj][0]
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise EdgepruneError(f"{flag} {v} is not a non-negative number.", f"Example: {flag} 0.05")
        if obj == "accuracy" and v > 1:
            raise EdgepruneError(f"--accuracy-tolerance {v} is above 1; accuracy is a fraction.",
                                 "Example: --accuracy-tolerance 0.005 for half a percentage point.")
    sources = {obj: TOLERANCE_FLAGS[obj][0] if obj in given else "default" for obj in TOLERANCE_FLAGS}
    return Tolerances(**{k: float(v) for k, v in given.items()}), sources


def select(run: str | Path, target: "str | os.PathLike | Target", *, max_size_mb: float | None = None, max_ram_mb: float | None = None,
           max_latency_ms: float | None = None, min_accuracy: float | None = None,
           fmt: str | None = None, tolerances: "Tolerances | dict[str, float | None] | None" = None) -> dict:
    """Choose a row for ``target``, write ``RUN/selection.json`` and return it.

    ``target``: a :class:`~edgeprune.targets.Target` (a build passes the one it
    loaded), a built-in profile's name or a profile's ``.toml`` path.

    ``tolerances``: per objective the smallest difference that may decide
    (see :class:`Tolerances`; missing or None entries take the default).

    When no row meets every budget, writes ``RUN/selection.failed.json`` instead
    (the last good ``selection.json`` is kept) and raises :class:`NothingFeasible`
    (exit code 2).
    """
    rd = RunDir(run)
    overrides = dict(max_size_mb=max_size_mb, max_ram_mb=max_ram_mb, max_latency_ms=max_latency_ms,
                     min_accuracy=min_accuracy)
    for k, v in overrides.items():
        _check_budget(k, v)
    tol, tol_sources = tolerances_from(tolerances)
    if fmt is not None and fmt not in FORMATS:
        raise EdgepruneError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    from ..targets import Target, load_target

    prof = load_target(target)
    target_arg = prof.name if isinstance(target, Target) else str(target)
    bench_path = rd.bench_json(prof.name)
    bench = _read_bench(bench_path, run, target_arg)
    rows = rows_from_bench(bench)
    ship_fmt = fmt or prof.preferred_format
    if not any(r.format == ship_fmt for r in rows):
        have = sorted({r.format for r in rows})
        raise EdgepruneError(f"{bench_path} has no {ship_fmt} rows (it has: {', '.join(have) or 'none'}).",
                             f"Export and bench {ship_fmt}, or pass --format {have[0]}." if have else
                             "Re-run 'edgeprune export' and 'edgeprune bench'.")
    budgets = Budgets(**{k: overrides[k] if overrides[k] is not None else getattr(prof.budgets, k) for k in BUDGETS})
    sources = {k: (BUDGETS[k][1] if overrides[k] is not None else f"target {prof.name}") for k in BUDGETS}
    outcome = choose(rows, budgets, ship_fmt, tol)
    doc = selection_document(outcome, budgets, sources, tol_sources, prof=prof, target_arg=target_arg, fmt=ship_fmt,
                             fmt_source="--format" if fmt else f"preferred by target {prof.name}",
                             bench_path=bench_path, bench=bench, run=rd)
    kept = write_selection(rd, doc)
    if outcome.choice is None:
        raise NothingFeasible(doc["nothing_feasible"]["problem"] + kept, doc["nothing_feasible"]["fix"])
    return doc


def _read_bench(path: Path, run: str | Path, target: str) -> BenchRecord:
    if not path.is_file():
        raise EdgepruneError(f"{path} does not exist.", f"Run 'edgeprune bench {run} --target {target}' first.")
    bench = BenchRecord.read(path, "Re-run 'edgeprune bench'.")
    if not bench.rows:
        raise EdgepruneError(f"{path} has no rows.", "Re-run 'edgeprune bench'.")
    return bench


def row_json(v: Verdict) -> dict:
    r = v.row
    return {
        "key": r.key, "candidate": r.candidate, "format": r.format, "precision": r.precision,
        **{obj: (r.figures[obj].value if obj in r.figures else None) for obj in OBJECTIVES},
        "provenance": {obj: f.provenance for obj, f in r.figures.items()},
        "methods": {obj: f.method for obj, f in r.figures.items() if f.method},
        "uncertainty": {obj: f.uncertainty() for obj, f in r.figures.items()},
        "eligible": v.eligible, "feasible": v.feasible, "pareto": v.pareto, "chosen": v.chosen,
        "reason": v.reason, "violations": [x.to_json() for x in v.violations], "dominated_by": v.dominated_by,
        "error": r.error, "bench": r.info,
    }


def selection_document(outcome: Outcome, budgets: Budgets, sources: dict[str, str], tol_sources: dict[str, str], *,
                       prof: "Target",
                       target_arg: str, fmt: str, fmt_source: str, bench_path: Path, bench: BenchRecord,
                       run: RunDir) -> dict:
    """The JSON written to ``selection.json`` (see docs/run-directory.md)."""
    rows = [{**row_json(v), "granularity": _granularity(run, v.row.candidate)} for v in outcome.verdicts]
    doc: dict[str, Any] = {
        "target": prof.name,
        "target_arg": target_arg,
        "target_profile": prof.to_json(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bench": {"file": str(bench_path.relative_to(run.root)), "sha256": sha256_file(bench_path),
                  "mode": bench.get("mode"), "reference": bench.get("reference")},
        "format": fmt,
        "format_policy": f"only {fmt} rows compete ({fmt_source}); ship bundles exactly the chosen file",
        "budgets": {k: {"limit": getattr(budgets, k), "objective": BUDGETS[k][0], "source": sources[k]}
                    for k in BUDGETS},
        "budgets_rationale": prof.budgets.source or None,
        "objectives": {obj: {"sense": sense, "unit": UNITS[obj]} for obj, sense in OBJECTIVES.items()},
        "figures_policy": "per objective, the best-provenance figure of the row: measured > measured-on-host > estimated",
        "tie_break": TIE_BREAK,
        "tolerances": {obj: {"value": outcome.tolerances.of(obj), "kind": kind, "flag": flag, "source": tol_sources[obj]}
                       for obj, (flag, kind) in TOLERANCE_FLAGS.items()},
        "tie_rule": TIE_RULE,
        "choice": next((r for r in rows if r["chosen"]), None),
        "front": outcome.front,
        "rows": rows,
        "notes": [],
    }
    screen = current_screen(run)
    benched = {r["candidate"] for r in rows}
    gone = [s for s in (screen or {}).get("screened", []) if s.get("candidate") not in benched]
    if gone:  # not exported or benched by the build: said here so the choice is read against every candidate
        doc["screened"] = {"rule": screen["rule"], "candidates": gone}
    if not any(r["candidate"] == DENSE for r in rows):
        doc["notes"].append("the dense baseline is not in the bench file (not exported or not benchmarked)")
    if outcome.choice is None:
        doc["nothing_feasible"] = _nothing_feasible(outcome, prof.name, fmt)
    return doc


def _granularity(run: RunDir, cid: str) -> str | None:
    """``dense``, ``unstructured`` (zeros) or ``structured`` (channels removed); None if unknown."""
    return granularity_of(cid, None if cid == DENSE else CandidateRecord.read_or_none(run.candidate_json(cid)))


def _nothing_feasible(outcome: Outcome, target: str, fmt: str) -> dict:
    c = outcome.closest
    if c is None:
        return {"closest": None, "problem": f"No {fmt} row for {target} has complete bench figures.",
                "fix": "See the reasons in selection.json; re-run 'edgeprune bench'."}
    flags = ", ".join(BUDGETS[x.budget][1] for x in c.violations)
    return {"closest": c.row.key,
            "problem": f"Nothing meets the {target} budget: the closest row, {c.row.key}, breaks "
                       + "; ".join(x.describe() for x in c.violations) + ".",
            "fix": f"Relax {flags}, or prune harder."}


def summary(doc: dict) -> str:
    """One line for the terminal."""
    c = doc["choice"]
    figs = ", ".join(f"{o} {fmt_value(o, c[o])} ({c['provenance'][o]})" for o in OBJECTIVES)
    return (f"selected {c['key']} for {doc['target']}: {figs}; "
            f"front {len(doc['front'])} of {len(doc['rows'])} rows")
