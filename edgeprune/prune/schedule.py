"""Pruning schedules shared by both granularities: one shot, or N prune/fine-tune cycles.

``iterative`` reaches each strategy's per-layer targets over N steps within the
same total fine-tuning budget as one shot (the epochs are split across steps).
Weights follow the cubic ramp of Zhu & Gupta (2017), s_t = s_f (1 - (1 - t/N)^3);
channels follow Torch-Pruning's linear ``iterative_steps`` schedule, t/N.
"""
from __future__ import annotations

import dataclasses
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


def masked_schedule(model, signal: str, plan: dict[str, float], scores, layers, calib, data, cfg, bar) -> list[dict]:
    """Masks reaching ``plan`` in one shot or over N cycles (cubic ramp, re-scored each cycle, nested masks)."""
    from ..train import MaskHold, fit
    from . import importance
    from .masks import build_masks
    from .progress import epoch_bar
    from .recipes import finetune_recipe

    schedule = Schedule(cfg.schedule, cfg.steps)
    recipe = finetune_recipe(cfg)
    steps, masks = [], None
    for step, epochs in enumerate(split_epochs(recipe.epochs, schedule.n), start=1):
        if step > 1:  # re-score the current network; weights already removed stay removed
            scores = importance.score(signal, model, layers, calib)
            scores = {n: s.masked_fill(~masks[n], float("-inf")) for n, s in scores.items()}
        frac = cubic(step, schedule.n)
        masks = build_masks(scores, {n: r * frac for n, r in plan.items()}, layers)
        rec = {"step": step, "sparsity_fraction_of_plan": frac, "epochs": 0, "best_epoch": 0}
        if epochs > 0:
            res = fit(model, data, dataclasses.replace(recipe, epochs=epochs), masks=masks,
                      on_epoch=epoch_bar(bar))
            rec.update(epochs=res.epochs, best_epoch=res.best_epoch, val_accuracy=res.best_val_accuracy)
        else:
            MaskHold(model, masks)
        steps.append(rec)
    return steps
