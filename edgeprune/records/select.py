"""``selection.json`` (and ``selection.failed.json``) and ``build.json``."""
from __future__ import annotations

from dataclasses import dataclass

from .base import ABSENT, Record


@dataclass(kw_only=True)
class SelectionRecord(Record):
    """What ``edgeprune select`` chose for a target, every row's verdict and why."""

    FIX = "Re-run 'edgeprune select' for this target."
    DOC = "## selection.json"

    target: str
    target_arg: str = ABSENT
    target_profile: dict = ABSENT
    created: str = ABSENT
    bench: dict
    format: str = ABSENT
    format_policy: str = ABSENT
    budgets: dict
    budgets_rationale: str | None = ABSENT
    objectives: dict = ABSENT
    figures_policy: str = ABSENT
    tie_break: list = ABSENT
    tolerances: dict = ABSENT
    tie_rule: str = ABSENT
    choice: dict | None = ABSENT
    front: list
    rows: list
    notes: list = ABSENT
    screened: dict = ABSENT
    nothing_feasible: dict = ABSENT

    def is_for(self, target: str) -> bool:
        """Whether this selection was made for ``target`` (its profile name or the name given)."""
        return target in (self.target, self.get("target_arg"))


@dataclass(kw_only=True)
class BuildRecord(Record):
    """``build.json``: what ``edgeprune build`` ran, per stage time, status and peak RSS."""

    FIX = "Re-run 'edgeprune build': it is rewritten."
    DOC = "## build.json"

    target: str = ABSENT
    finished: str = ABSENT
    seconds: float = ABSENT
    formats: list = ABSENT
    precisions: list = ABSENT
    skipped_formats: dict = ABSENT
    screened_candidates: list | None = ABSENT
    stages: list = ABSENT
