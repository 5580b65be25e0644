"""Pruning schedules shared by both granularities: one shot, or N prune/fine-tune cycles.

``iterative`` reaches each strategy's per-layer targets over N steps within the
same total fine-tuning budget as one shot (the epochs are split across steps).
Weights follow the cubic ramp of Zhu & Gupta (2017), s_t = s_f (1 - (1 - t/N)^3);
channels follow Torch-Pruning's linear ``iterative_steps`` schedule, t/N.
"""
from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("oneshot", "iterative")


@dataclass(frozen=True)
class Schedule:
    name: str = "oneshot"
    steps: int = 1

    @property
    def n(self) -> int:
        return 1 if self.name == "oneshot" else self.steps

    def to_json(self) -> dict:
        return {"name": self.name, "steps": self.n}


def split_epochs(total: int, steps: int) -> list[int]:
    """``total`` epochs over ``steps`` cycles, the remainder to the last ones (sum == total)."""
    base, extra = divmod(total, steps)
    return [base + (1 if i >= steps - extra else 0) for i in range(steps)]


def cubic(step: int, steps: int) -> float:
    """Fraction of the final sparsity reached after ``step`` of ``steps`` (Zhu & Gupta, initial sparsity 0)."""
    return 1.0 - (1.0 - step / steps) ** 3


def linear(step: int, steps: int) -> float:
    """Fraction of the final channel removal after ``step`` (Torch-Pruning's linear_scheduler)."""
    from torch_pruning.pruner.algorithms.scheduler import linear_scheduler

    return linear_scheduler(1.0, steps)[step]
