"""Phase 3, one unstructured candidate: its cache key, its pure compute, and its files.

:func:`phase3_candidate` is what both executors run (:mod:`.executor`): it reads
only its arguments and returns the record and the weights' bytes;
:func:`write_candidate` alone puts them in the run directory.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..cachekey import stage_key
from ..models import create_model, load_weights
from ..records import CandidateRecord, write_document
from ..rundir import CANDIDATE_FILE, WEIGHTS_FILE
from ..runio import RunDir, atomic_dir, atomic_path, sha256_bytes, sha256_file
from ..train import accuracy
from .calib import calib_key
from .config import PruneConfig
from .executor import CandidateJob, Shared
from .masks import global_sparsity, measured_sparsity, planned_count
from .progress import progress as progress_bar
from .recipes import finetune_recipe
from .schedule import Schedule, masked_schedule


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as contiguous CPU copies (what safetensors saves)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, path: Path) -> str:
    """Write ``model``'s weights to ``path`` (safetensors, atomically); returns their sha256."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(cpu_state(model), str(tmp))
    return sha256_file(path)


def candidate_key(dense_sha: str, plan: dict[str, float], signal: str, cfg: PruneConfig) -> str:
    """Everything that changes a candidate: dense weights, plan, signal, fine-tune recipe (seed included),
    calibration, and the schedule when iterative (one-shot keys stay as they were, so existing runs resume)."""
    schedule = Schedule(cfg.schedule, cfg.steps)
    return stage_key("candidate", dense=dense_sha, plan=plan, signal=signal, recipe=finetune_recipe(cfg).to_json(),
                     calib=calib_key(cfg), schedule=schedule.to_json() if schedule.n > 1 else None).hex


def phase3_candidate(job: CandidateJob, scores: dict[str, torch.Tensor], shared: Shared, device: str = "cpu",
                     progress: bool = True) -> tuple[dict, bytes]:
    """Prune one plan with one signal, fine-tune with masks held on ``device``.

    Pure: reads only its arguments, writes nothing; returns the candidate record
    and its safetensors bytes (:func:`write_candidate` puts them in the run).
    """
    from safetensors.torch import load, save

    cid, plan, layers, data, cfg = job.cid, job.plan, shared.layers, shared.data, shared.cfg
    model = create_model(shared.spec)
    load_weights(model, load(shared.dense), source="dense weights")
    model.eval().to(device)
    numel = {l.name: l.numel for l in layers}
    planned = {n: planned_count(r, numel[n]) / numel[n] for n, r in plan.items()}
    recipe = finetune_recipe(cfg)
    t0 = time.perf_counter()
    bar = progress_bar(total=recipe.epochs, desc=f"  {cid}", leave=False, disable=not progress)
    calib = [(x.to(device), y.to(device)) for x, y in shared.calib]
    steps = masked_schedule(model, job.signal, plan, scores, layers, calib, data, cfg, bar)
    bar.close()
    epochs, best_epoch = sum(s["epochs"] for s in steps), steps[-1]["best_epoch"]
    sd = cpu_state(model)
    measured = measured_sparsity(sd, plan)
    off = {n: (measured[n], planned[n]) for n in plan if abs(measured[n] - planned[n]) > 1e-3}
    if off:  # a bug, not user error: masks must hold exactly
        n, (m, p) = next(iter(off.items()))
        raise RuntimeError(f"{cid}: {n} measured sparsity {m:.4f} != planned {p:.4f}")
    plan_layers = [l for l in layers if l.name in plan]
    cand = {
        "id": cid, "granularity": "unstructured", "signal": job.signal, "strategy": job.strategy, "merged": job.merged,
        "planned": planned, "measured": measured,
        "global_sparsity": global_sparsity(measured, plan_layers),
        "planned_global_sparsity": global_sparsity(planned, plan_layers),
        "val_accuracy": accuracy(model, data.normalize(data.x_val), data.y_val),
        "test_accuracy": accuracy(model, data.normalize(data.x_test), data.y_test),
        "epochs": epochs, "best_epoch": best_epoch, "seconds": round(time.perf_counter() - t0, 2),
        "recipe": recipe.to_json(), "weights": "model.safetensors", "key": job.key, "device": device,
    }
    if cfg.schedule != "oneshot":
        cand.update(schedule=Schedule(cfg.schedule, cfg.steps).to_json(), steps=steps)
    return cand, save(sd)


def write_candidate(rd: RunDir, cand: dict, weights: bytes) -> dict:
    """Write RUN/candidates/<id>/ atomically (weights, then the record naming their sha256)."""
    with atomic_dir(rd.candidate_dir(cand["id"])) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights)
        cand = {**cand, "sha256": sha256_bytes(weights)}
        write_document(CandidateRecord, tmp / CANDIDATE_FILE, cand)
    return cand


def candidate_done(rd: RunDir, cid: str, key: str) -> dict | None:
    """The cached candidate ``cid`` if its key and weights' hash still match, else None."""
    if not rd.candidate_json(cid).exists():
        return None
    c = CandidateRecord.read_or_none(rd.candidate_json(cid))
    if c is not None and c.get("key") == key and rd.candidate_weights(cid).exists() \
            and sha256_file(rd.candidate_weights(cid)) == c.get("sha256"):
        return c.to_json()
    return None
