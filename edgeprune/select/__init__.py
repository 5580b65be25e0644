"""Select: the Pareto-optimal (candidate x format) row that fits a device budget.

``select(run, target, ...)`` reads ``RUN/bench/<target>.json``, applies the
target profile's default budgets (overridden by the keyword arguments), picks
the row and writes ``RUN/selection.json`` atomically. The decision itself is
pure (:mod:`edgeprune.select.core`). Torch-free.

Format policy: the front and the choice use only rows of the shipped format,
which is ``fmt`` if given, else the target's preferred format; the figures of
the choice are therefore those of the exact file that ``ship`` bundles. Rows
of other formats are listed in ``selection.json`` with the reason they were
excluded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EdgepruneError, NothingFeasible
from ..runio import RunDir, read_json, sha256_file, write_json
from .core import BUDGETS, OBJECTIVES, TIE_BREAK, UNITS, Budgets, Figure, Outcome, Row, Verdict, choose, fmt_value
from .rows import rows_from_bench

__all__ = ["select", "choose", "Budgets", "Row", "Figure", "TargetDefaults", "summary", "FORMATS"]

FORMATS = ("onnx", "tflite")


@dataclass(frozen=True)
class TargetDefaults:
    """What selection needs from a target profile."""

    name: str
    budgets: Budgets
    preferred_format: str
    budgets_source: str = ""  # why the profile's budgets are what they are
    profile: dict | None = None  # compact record of the profile (Target.to_json())


def _target_budgets_and_format(target: str) -> TargetDefaults:
    """Name, default budgets and preferred ship format of a profile (``edgeprune.targets``)."""
    from ..targets import load_target

    prof = load_target(target)
    return TargetDefaults(prof.name, Budgets(**prof.budgets.as_dict()), prof.preferred_format,
                          prof.budgets.source, prof.to_json())


def _check_budget(name: str, value: float | None) -> None:
    flag = BUDGETS[name][1]
    if value is None:
        return
    if not math.isfinite(value) or value < 0:
        raise EdgepruneError(f"{flag} {value} is not a non-negative number.", f"Example: {flag} 5")
    if name == "min_accuracy" and value > 1:
        raise EdgepruneError(f"--min-accuracy {value} is above 1; accuracy is a fraction.",
                             "Example: --min-accuracy 0.95 for 95%.")


def select(run: str | Path, target: str, *, max_size_mb: float | None = None, max_ram_mb: float | None = None,
           max_latency_ms: float | None = None, min_accuracy: float | None = None,
           fmt: str | None = None) -> dict:
    """Choose a row for ``target``, write ``RUN/selection.json`` and return it.

    Raises :class:`NothingFeasible` (exit code 2) after writing the file when
    no row meets every budget.
    """
    rd = RunDir(run)
    overrides = dict(max_size_mb=max_size_mb, max_ram_mb=max_ram_mb, max_latency_ms=max_latency_ms,
                     min_accuracy=min_accuracy)
    for k, v in overrides.items():
        _check_budget(k, v)
    if fmt is not None and fmt not in FORMATS:
        raise EdgepruneError(f"Unknown format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    prof = _target_budgets_and_format(target)
    bench_path = rd.bench_json(prof.name)
    bench = _read_bench(bench_path, run, target)
    rows = rows_from_bench(bench)
    ship_fmt = fmt or prof.preferred_format
    if not any(r.format == ship_fmt for r in rows):
        have = sorted({r.format for r in rows})
        raise EdgepruneError(f"{bench_path} has no {ship_fmt} rows (it has: {', '.join(have) or 'none'}).",
                             f"Export and bench {ship_fmt}, or pass --format {have[0]}." if have else
                             "Re-run 'edgeprune export' and 'edgeprune bench'.")
    budgets = Budgets(**{k: overrides[k] if overrides[k] is not None else getattr(prof.budgets, k) for k in BUDGETS})
    sources = {k: (BUDGETS[k][1] if overrides[k] is not None else f"target {prof.name}") for k in BUDGETS}
    outcome = choose(rows, budgets, ship_fmt)
    doc = selection_document(outcome, budgets, sources, prof=prof, target_arg=target, fmt=ship_fmt,
                             fmt_source="--format" if fmt else f"preferred by target {prof.name}",
                             bench_path=bench_path, bench=bench, run=rd)
    write_json(rd.selection_json, doc)
    if outcome.choice is None:
        raise NothingFeasible(doc["nothing_feasible"]["problem"], doc["nothing_feasible"]["fix"])
    return doc


def _read_bench(path: Path, run: str | Path, target: str) -> dict:
    if not path.is_file():
        raise EdgepruneError(f"{path} does not exist.", f"Run 'edgeprune bench {run} --target {target}' first.")
    try:
        bench = read_json(path)
    except (ValueError, OSError) as e:
        raise EdgepruneError(f"{path} is not readable JSON ({e}).", "Re-run 'edgeprune bench'.") from None
    rows = bench.get("rows") if isinstance(bench, dict) else None
    if not rows or not all(isinstance(r, dict) and "candidate" in r and "format" in r for r in rows):
        raise EdgepruneError(f"{path} has no rows with 'candidate' and 'format'.", "Re-run 'edgeprune bench'.")
    return bench


def row_json(v: Verdict) -> dict:
    r = v.row
    return {
        "key": r.key, "candidate": r.candidate, "format": r.format,
        **{obj: (r.figures[obj].value if obj in r.figures else None) for obj in OBJECTIVES},
        "provenance": {obj: f.provenance for obj, f in r.figures.items()},
        "methods": {obj: f.method for obj, f in r.figures.items() if f.method},
        "eligible": v.eligible, "feasible": v.feasible, "pareto": v.pareto, "chosen": v.chosen,
        "reason": v.reason, "violations": [x.to_json() for x in v.violations], "dominated_by": v.dominated_by,
        "error": r.error, "bench": r.info,
    }


def selection_document(outcome: Outcome, budgets: Budgets, sources: dict[str, str], *, prof: TargetDefaults,
                       target_arg: str, fmt: str, fmt_source: str, bench_path: Path, bench: dict,
                       run: RunDir) -> dict:
    """The JSON written to ``selection.json`` (see docs/run-directory.md)."""
    rows = [{**row_json(v), "granularity": _granularity(run, v.row.candidate)} for v in outcome.verdicts]
    doc: dict[str, Any] = {
        "target": prof.name,
        "target_arg": target_arg,
        "target_profile": prof.profile,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bench": {"file": str(bench_path.relative_to(run.root)), "sha256": sha256_file(bench_path),
                  "mode": bench.get("mode"), "reference": bench.get("reference")},
        "format": fmt,
        "format_policy": f"only {fmt} rows compete ({fmt_source}); ship bundles exactly the chosen file",
        "budgets": {k: {"limit": getattr(budgets, k), "objective": BUDGETS[k][0], "source": sources[k]}
                    for k in BUDGETS},
        "budgets_rationale": prof.budgets_source or None,
        "objectives": {obj: {"sense": sense, "unit": UNITS[obj]} for obj, sense in OBJECTIVES.items()},
        "figures_policy": "per objective, the best-provenance figure of the row: measured > measured-on-host > estimated",
        "tie_break": TIE_BREAK,
        "choice": next((r for r in rows if r["chosen"]), None),
        "front": outcome.front,
        "rows": rows,
        "notes": [],
    }
    if not any(r["candidate"] == "dense" for r in rows):
        doc["notes"].append("the dense baseline is not in the bench file (not exported or not benchmarked)")
    if outcome.choice is None:
        doc["nothing_feasible"] = _nothing_feasible(outcome, prof.name, fmt)
    return doc


def _granularity(run: RunDir, cid: str) -> str | None:
    """``dense``, ``unstructured`` (zeros) or ``structured`` (channels removed); None if unknown."""
    if cid == "dense":
        return "dense"
    try:
        return read_json(run.candidate_json(cid)).get("granularity", "unstructured")
    except (OSError, ValueError):
        return None


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
