"""Structured Phase 3: remove each plan's units with one signal, fine-tune, write the candidate.

One shot removes every planned unit, then fine-tunes. Iterative does N cycles
of (re-score on the current network, remove up to the step's share of each
group's planned units, fine-tune for its share of the epochs). After every cut
the BatchNorm statistics are re-estimated on training images before
fine-tuning (:func:`recover`). No masks: the removed weights no longer exist.
Units are removed lowest score first, within each group (the plan fixes how
many).
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...data import Dataset
from ...models import ModelSpec, build
from ...records import CandidateRecord, write_document
from ...rundir import CANDIDATE_FILE, STRUCTURE_FILE, WEIGHTS_FILE
from ...runio import RunDir, atomic_dir, sha256_file, write_json
from ...train import TrainConfig, accuracy, fit, predict, recalibrate_batchnorm
from ..config import PruneConfig
from ..progress import epoch_bar
from ..recipes import structured_finetune_recipe
from ..schedule import Schedule, linear, split_epochs
from .cost import prunable_params
from .groups import ChannelGroup, build_graph, current_units, remove_units
from .plan import ChannelPlan, GroupCut, example_input, rebuild
from .scores import group_scores

ROUND_TRIP_ATOL = 1e-5


def count(model: nn.Module, example: torch.Tensor, layer_wise: bool = False) -> dict:
    """Parameters (all, and prunable conv/linear weights) and MACs (Torch-Pruning's op counter);
    ``layer_wise`` adds ``layers``: params and MACs of every conv/linear layer by module name."""
    import torch_pruning as tp

    macs, _, layer_macs, layer_params = tp.utils.count_ops_and_params(model, example, layer_wise=True)
    named = dict(model.named_parameters())
    out = {"params": sum(p.numel() for p in model.parameters()),
           "prunable_params": sum(named[n].numel() for n in prunable_params(model)), "macs": int(macs)}
    if layer_wise:
        out["layers"] = {n: {"params": int(layer_params.get(m) or 0), "macs": int(layer_macs.get(m) or 0)}
                         for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    return out


def _cut(model, dg, groups: list[ChannelGroup], kept: dict[str, int], scores: dict[str, torch.Tensor],
         alive: dict[str, list[int]]) -> None:
    for g in groups:
        n_remove = current_units(model, g) - kept[g.name]
        if n_remove <= 0:
            continue
        units = sorted(torch.argsort(scores[g.name], stable=True)[:n_remove].tolist())
        remove_units(dg, model, g, units)
        gone = set(units)
        alive[g.name] = [a for i, a in enumerate(alive[g.name]) if i not in gone]


def recover(model: nn.Module, data: Dataset, recipe: TrainConfig, bar=None) -> dict:
    """After a cut: re-estimate BatchNorm statistics, then fine-tune (early stopping on validation).

    Returns the step's log: validation accuracy right after the cut and after the re-estimate, and
    the fine-tuning's epochs, best epoch and best validation accuracy (the epoch-0 state counts).
    """
    x_va = data.normalize(data.x_val)
    rec = {"val_accuracy_after_cut": accuracy(model, x_va, data.y_val), "epochs": 0, "best_epoch": 0}
    recalibrated = recalibrate_batchnorm(model, data, recipe.batch_size, recipe.seed) > 0
    if recipe.epochs > 0:
        res = fit(model, data, recipe, on_epoch=epoch_bar(bar))
        start = res.history[0]["val_accuracy"]  # fit evaluates the state it starts from: no second pass
        rec.update(epochs=res.epochs, best_epoch=res.best_epoch, val_accuracy=res.best_val_accuracy)
    elif recalibrated:
        start = accuracy(model, x_va, data.y_val)
    if recalibrated:
        rec["val_accuracy_after_bn_recalibration"] = start
    return rec


def prune_and_finetune(spec: ModelSpec, dense_path: Path, groups: list[ChannelGroup], kept: dict[str, int],
                       signal: str, calib, data: Dataset, cfg: PruneConfig, schedule: Schedule, bar=None):
    """The pruned, fine-tuned model, its channel plan and a per-step log."""
    model = build(spec, dense_path)
    example = example_input(data.input_shape)
    dg = build_graph(model, example, spec.name)
    alive = {g.name: list(range(g.size)) for g in groups}
    recipe = structured_finetune_recipe(cfg)
    steps = []
    for step, epochs in enumerate(split_epochs(recipe.epochs, schedule.n), start=1):
        frac = linear(step, schedule.n)
        step_kept = {g.name: g.size - math.floor((g.size - kept[g.name]) * frac + 0.5) for g in groups}
        _cut(model, dg, groups, step_kept, group_scores(signal, dg, model, groups, calib), alive)
        rec = {"step": step, "removed_fraction_of_plan": frac}
        rec.update(recover(model, data, dataclasses.replace(recipe, epochs=epochs), bar))
        steps.append(rec)
    model.eval()
    plan = ChannelPlan(spec.to_json(), list(data.input_shape),
                       [GroupCut(g, sorted(set(range(g.size)) - set(alive[g.name]))) for g in groups])
    return model, plan, steps


def write_candidate(rd: RunDir, cand: dict, model: nn.Module, plan: ChannelPlan, probe_x: np.ndarray) -> dict:
    """Weights + channel plan + record, atomically; the rebuild from plan and weights is checked first."""
    from ..candidate import save_weights

    with atomic_dir(rd.candidate_dir(cand["id"])) as tmp:
        cand["sha256"] = save_weights(model, tmp / WEIGHTS_FILE)
        write_json(tmp / STRUCTURE_FILE, plan.to_json())
        cand["structure_sha256"] = sha256_file(tmp / STRUCTURE_FILE)
        rebuilt = rebuild(tmp / STRUCTURE_FILE, tmp / WEIGHTS_FILE)
        diff = float(np.abs(predict(rebuilt, probe_x) - predict(model, probe_x)).max())
        if not diff <= ROUND_TRIP_ATOL:  # a bug, not user error
            raise RuntimeError(f"{cand['id']}: rebuild from its channel plan differs by {diff:.2e}")
        cand["round_trip_max_abs_diff"] = diff
        write_document(CandidateRecord, tmp / CANDIDATE_FILE, cand)
    return cand


def run_candidate(cid: str, signal: str, strategy: str, target: dict[str, float], kept: dict[str, int],
                  groups: list[ChannelGroup], spec: ModelSpec, dense_path: Path, dense_counts: dict, calib,
                  data: Dataset, cfg: PruneConfig, schedule: Schedule, rd: RunDir, merged: list[str], key: str,
                  bar=None) -> dict:
    t0 = time.perf_counter()
    model, plan, steps = prune_and_finetune(spec, dense_path, groups, kept, signal, calib, data, cfg, schedule, bar)
    seconds = time.perf_counter() - t0
    resulting = {g.name: current_units(model, g) for g in groups}
    wrong = [n for n in kept if resulting[n] != kept[n]]
    if wrong:  # a bug: the plan must be met exactly
        raise RuntimeError(f"{cid}: {wrong[0]} has {resulting[wrong[0]]} units, planned {kept[wrong[0]]}")
    counts = count(model, example_input(data.input_shape), layer_wise=True)
    x_va, x_te = data.normalize(data.x_val), data.normalize(data.x_test)
    size = {g.name: g.size for g in groups}
    cand = {
        "id": cid, "granularity": "structured", "signal": signal, "strategy": strategy, "merged": merged,
        "schedule": schedule.to_json(),
        "planned": {n: 1 - kept[n] / size[n] for n in kept},
        "measured": {n: 1 - resulting[n] / size[n] for n in kept},
        "channels": {g.name: {"unit": g.unit, "size": g.size, "target": target.get(g.name, 0.0),
                              "planned": kept[g.name], "resulting": resulting[g.name]} for g in groups},
        "global_sparsity": 1 - counts["prunable_params"] / dense_counts["prunable_params"],
        "params": {"dense": dense_counts["params"], "pruned": counts["params"]},
        "prunable_params": {"dense": dense_counts["prunable_params"], "pruned": counts["prunable_params"]},
        "macs": {"dense": dense_counts["macs"], "pruned": counts["macs"], "counter": "torch_pruning.utils.count_ops_and_params"},
        "layers": {n: {"dense": dense_counts.get("layers", {}).get(n), "pruned": v} for n, v in counts["layers"].items()},
        "val_accuracy": accuracy(model, x_va, data.y_val),
        "test_accuracy": accuracy(model, x_te, data.y_test),
        "epochs": sum(s["epochs"] for s in steps), "best_epoch": steps[-1]["best_epoch"], "steps": steps,
        "seconds": round(seconds, 2), "recipe": structured_finetune_recipe(cfg).to_json(),
        "weights": "model.safetensors", "structure": "structure.json", "key": key,
    }
    return write_candidate(rd, cand, model, plan, x_va[:32])
