"""Prune stage orchestration: dense model -> Phase 1 ranges -> Phase 2 plans -> Phase 3 candidates.

Every step's output is a file in the run directory and doubles as its cache:
re-running the same command skips what is already there (checked against the
dense weights' hash and the plan), so an interrupted run resumes.

Dense training, Phase 1 scoring and the signals run on ``cfg.device`` here;
Phase 3 candidates run on an executor (:mod:`.executor`: in this process, or
Ray tasks) that returns each candidate's record and bytes, written here.
"""
from __future__ import annotations

import datetime as _dt
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..data import Dataset, load_dataset
from ..device import device_record, resolve_device
from ..errors import EdgepruneError
from ..models import ModelSpec, build, create_model, load_weights, read_state_dict, resolve_spec
from ..locks import clean_stage_temps, stage_lock
from ..runio import (RunDir, atomic_dir, atomic_path, make_dir, read_json, read_json_object, sha256_bytes, sha256_file,
                     sha256_json, write_json)
from ..train import accuracy, fit
from . import importance
from .calib import calib_key, calibration as _calibration
from .config import GRANULARITIES, SIGNALS, PruneConfig
from .executor import CandidateJob, Executor, Shared, check_executor, make_executor
from .layers import Layer, discover, prunable
from .masks import global_sparsity, measured_sparsity, planned_count
from .ranges import BASELINES, LayerRange, derive_ranges
from .recipes import dense_recipe, finetune_recipe
from .schedule import SCHEDULES, Schedule, masked_schedule
from .strategies import STRATEGIES, make_plans


@dataclass
class PruneResult:
    run_dir: Path
    dense: dict
    candidates: list[dict]
    merged: dict[str, list[str]]
    structured_fallback: str | None = None  # why structured pruning fell back to unstructured


def _progress(iterable=None, **kw):
    from tqdm.auto import tqdm

    kw.setdefault("leave", True)
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kw)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _versions() -> dict:
    import timm

    return {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
            "numpy": np.__version__, "edgeprune": __version__}


def _validate(cfg: PruneConfig) -> None:
    bad = [s for s in cfg.signals if s not in SIGNALS]
    if bad:
        raise EdgepruneError(f"Unknown signal {', '.join(bad)}.", f"Use a comma list of {', '.join(SIGNALS)}.")
    if cfg.strategies:
        STRATEGIES.check(cfg.strategies)
    if cfg.finetune_epochs < 0:
        raise EdgepruneError("--epochs must be >= 0.", "Use 0 to skip fine-tuning.")
    if cfg.granularity not in GRANULARITIES:
        raise EdgepruneError(f"Unknown granularity {cfg.granularity!r}.", f"Use one of {', '.join(GRANULARITIES)}.")
    if cfg.schedule not in SCHEDULES:
        raise EdgepruneError(f"Unknown schedule {cfg.schedule!r}.", f"Use one of {', '.join(SCHEDULES)}.")
    if cfg.steps < 1:
        raise EdgepruneError("--steps must be >= 1.", "Example: --schedule iterative --steps 3")
    check_executor(cfg)


def _same_run(existing: dict, new: dict) -> list[str]:
    """Config keys that differ in ways that invalidate cached results."""
    keys = ("model", "model_args", "checkpoint", "data", "input_size", "seed", "calib_size", "dense_epochs", "dense_lr")
    return [k for k in keys if existing.get(k) != new.get(k)]


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def _save_weights(model: torch.nn.Module, path: Path) -> str:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(_state(model), str(tmp))
    return sha256_file(path)


def prepare_dense(cfg: PruneConfig, rd: RunDir, data: Dataset, spec: ModelSpec, device: str = "cpu") -> dict:
    """Dense weights in RUN/dense: the user's checkpoint, or trained here (cached)."""
    key = sha256_json({"spec": spec.to_json(), "data": data.info(), "checkpoint": cfg.checkpoint and sha256_file(cfg.checkpoint),
                       "recipe": dense_recipe(cfg).to_json()})
    if rd.dense_json.exists() and rd.dense_weights.exists():
        cached = read_json(rd.dense_json)
        if cached.get("key") == key and cached.get("sha256") == sha256_file(rd.dense_weights):
            _log(f"dense: cached ({rd.dense_weights}, test accuracy {cached['test_accuracy']:.4f})")
            return cached
    torch.manual_seed(cfg.seed)
    model = create_model(spec)
    x_va, x_te = data.normalize(data.x_val), data.normalize(data.x_test)
    info: dict = {"key": key}
    if cfg.checkpoint:
        load_weights(model, read_state_dict(cfg.checkpoint), source=f"checkpoint {cfg.checkpoint}")
        info.update(trained=False, checkpoint=str(cfg.checkpoint), checkpoint_sha256=sha256_file(cfg.checkpoint))
    else:
        recipe = dense_recipe(cfg)
        bar = _progress(total=recipe.epochs, desc="dense: train")
        res = fit(model, data, recipe, on_epoch=lambda r: (bar.update(1), bar.set_postfix(val=f"{r['val_accuracy']:.3f}")),
                  device=device)
        bar.close()
        info.update(trained=True, recipe=recipe.to_json(), epochs=res.epochs, best_epoch=res.best_epoch,
                    seconds=round(res.seconds, 1), device=device)
    info["val_accuracy"] = accuracy(model, x_va, data.y_val)
    info["test_accuracy"] = accuracy(model, x_te, data.y_test)
    info["sha256"] = _save_weights(model, rd.dense_weights)
    info["weights"] = str(rd.dense_weights.relative_to(rd.root))
    write_json(rd.dense_json, info)
    _log(f"dense: val {info['val_accuracy']:.4f}, test {info['test_accuracy']:.4f}")
    return info


def phase1_ranges(model: torch.nn.Module, layers: list[Layer], calib, rd: RunDir, dense_sha: str,
                  calib_info: dict) -> list[LayerRange]:
    """Phase 1 ranges, cached in ranges.json under the dense weights' hash and the calibration (:func:`calib_key`)."""
    if rd.ranges_json.exists():
        doc = read_json(rd.ranges_json)
        if (doc.get("dense_sha256") == dense_sha and doc.get("calib") == calib_info
                and doc.get("criteria") == importance.DEFINITIONS):
            return [LayerRange.from_json(d) for d in doc["layers"]]
    t0 = time.perf_counter()
    scores, skipped = {}, {}
    for crit in _progress(BASELINES, desc="phase 1: MAG/SNIP/GraSP"):
        try:
            scores[crit] = importance.score(crit, model, prunable(layers), calib)
        except RuntimeError as e:  # an op of this model has no double backward (GraSP)
            if "not implemented" not in str(e) or crit != "grasp":
                raise
            skipped[crit] = str(e).splitlines()[0]
            _log(f"phase 1: {crit} skipped ({skipped[crit]}); ranges come from the other baselines")
    ranges = derive_ranges(layers, scores, baselines=tuple(scores))
    write_json(rd.ranges_json, {
        "dense_sha256": dense_sha, "calib": calib_info, "baselines": list(scores), "skipped": skipped,
        "global_targets": [0.7, 0.8, 0.9], "criteria": importance.DEFINITIONS, "seconds": round(time.perf_counter() - t0, 2),
        "rules": "norm -> [0,0]; patch_embed -> [0.15,0.30]; < 10,000 params -> clamp to [0,0.10]; clamp [0,0.98]; first match wins",
        "layers": [r.to_json() for r in ranges],
    })
    return ranges


def phase2_plans(ranges: list[LayerRange], cfg: PruneConfig, rd: RunDir, layers: list[Layer]):
    plans, merged = make_plans(ranges, cfg.strategies)
    numel = {l.name: l.numel for l in layers}
    doc = {"strategies": {}, "merged": {k: v for k, v in merged.items() if v}}
    for name, plan in plans.items():
        doc["strategies"][name] = {
            "target": plan,
            "planned": {n: planned_count(r, numel[n]) / numel[n] for n, r in plan.items()},
            "global_sparsity": global_sparsity(plan, [l for l in layers if l.name in plan]),
            "merged": merged[name],
        }
    write_json(rd.strategies_json, doc)
    return plans, merged


def _candidate_done(rd: RunDir, cid: str, key: str) -> dict | None:
    if not rd.candidate_json(cid).exists():
        return None
    c = read_json(rd.candidate_json(cid))
    if c.get("key") == key and rd.candidate_weights(cid).exists() and sha256_file(rd.candidate_weights(cid)) == c.get("sha256"):
        return c
    return None


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
    bar = _progress(total=recipe.epochs, desc=f"  {cid}", leave=False, disable=not progress)
    calib = [(x.to(device), y.to(device)) for x, y in shared.calib]
    steps = masked_schedule(model, job.signal, plan, scores, layers, calib, data, cfg, bar)
    bar.close()
    epochs, best_epoch = sum(s["epochs"] for s in steps), steps[-1]["best_epoch"]
    sd = _state(model)
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
        (tmp / "model.safetensors").write_bytes(weights)
        cand = {**cand, "sha256": sha256_bytes(weights)}
        write_json(tmp / "candidate.json", cand)
    return cand


def _previous_created(rd: RunDir, cfg: PruneConfig) -> str | None:
    """``created`` of the run already in ``rd`` (None if new); refuses one made with another config."""
    if not rd.run_json.exists():
        return None
    previous = read_json_object(rd.run_json, "Use another --out, or delete the directory to start over.")
    diff = _same_run(previous.get("config", {}), cfg.to_json())
    if diff:
        raise EdgepruneError(f"{rd.root} already holds a run with a different {', '.join(diff)}.",
                             "Use another --out, or delete the directory to start over.")
    return previous.get("created")


def _check_checkpoint(cfg: PruneConfig, spec: ModelSpec) -> None:
    """The checkpoint loads safely and fits the model (before anything is written)."""
    if not cfg.checkpoint:
        return
    if not Path(cfg.checkpoint).is_file():
        raise EdgepruneError(f"Checkpoint {cfg.checkpoint} does not exist.", "Check the --checkpoint path.")
    load_weights(create_model(spec), read_state_dict(cfg.checkpoint), source=f"checkpoint {cfg.checkpoint}")


def run_prune(cfg: PruneConfig, out: str | Path, executor: Executor | None = None) -> PruneResult:
    """Run (or resume) the whole prune stage into ``out`` (Phase 3 on ``executor``, default from ``cfg``).

    Every input (options, model, data, checkpoint, an existing run's config) is
    checked before ``out`` is created or anything is written into it.
    """
    _validate(cfg)
    device = resolve_device(cfg.device)
    rd = RunDir(out)
    created = _previous_created(rd, cfg) or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    data = load_dataset(cfg.data, input_size=cfg.input_size)
    spec = resolve_spec(cfg.model, data.num_classes, data.input_shape[-1], cfg.model_args)
    _check_checkpoint(cfg, spec)
    make_dir(rd.root)
    with stage_lock(rd.root, "prune"):
        return _prune(cfg, rd, data, spec, created, device, executor)


def _prune(cfg: PruneConfig, rd: RunDir, data: Dataset, spec: ModelSpec, created: str, device: str,
           executor: Executor | None) -> PruneResult:
    torch.manual_seed(cfg.seed)
    if not rd.test_npz.exists():
        with atomic_path(rd.test_npz) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=data.normalize(data.x_test), y=data.y_test)
    dense = prepare_dense(cfg, rd, data, spec, device)
    write_json(rd.run_json, {
        "edgeprune_version": __version__,
        "created": created,
        "seed": cfg.seed, "config": cfg.to_json(), "model": spec.to_json(), "data": data.info(),
        "dense": {k: dense[k] for k in ("val_accuracy", "test_accuracy", "weights", "sha256", "trained")},
        "versions": _versions(), "device": device_record(cfg.device, device),
    })
    clean_stage_temps(rd.root, "prune")  # now a run directory: leftovers of a killed prune go
    calib = _calibration(data, cfg)
    structured, fallback = None, None
    if cfg.granularity in ("structured", "both"):
        from .structured import StructuredUnsupported
        from .structured.stage import run_structured

        try:
            structured = run_structured(cfg, rd, data, spec, dense["sha256"], calib, _progress)
        except StructuredUnsupported as e:
            fallback = e.problem
            _log(f"structured: {e.problem} Falling back to unstructured pruning only.")
    candidates: list[dict] = []
    merged: dict[str, list[str]] = {}
    if cfg.granularity != "structured" or fallback:
        candidates, merged = unstructured_candidates(cfg, rd, data, spec, dense, calib, device, executor)
    if structured is not None:
        from .structured.stage import phase3 as structured_phase3

        p1, plans, s_merged = structured
        candidates += structured_phase3(p1, plans, s_merged, spec, rd.dense_weights, dense["sha256"], data, calib,
                                        cfg, rd, _progress)
        merged.update({f"structured:{k}": v for k, v in s_merged.items()})
    _log(format_table(dense, candidates))
    return PruneResult(rd.root, dense, candidates, merged, fallback)


def unstructured_candidates(cfg: PruneConfig, rd: RunDir, data: Dataset, spec: ModelSpec, dense: dict, calib,
                            device: str, executor: Executor | None) -> tuple[list[dict], dict[str, list[str]]]:
    """Unstructured Phases 1-3 (each cached in its file); Phase 3 on ``executor``."""
    model = build(spec, rd.dense_weights).to(device)
    layers = discover(model)
    dev_calib = [(x.to(device), y.to(device)) for x, y in calib]
    ranges = phase1_ranges(model, layers, dev_calib, rd, dense["sha256"], calib_key(cfg))
    plans, merged = phase2_plans(ranges, cfg, rd, layers)
    n_merged = sum(len(v) for v in merged.values())
    _log(f"phase 2: {len(plans)} strategies" + (f" ({n_merged} merged as identical: " + ", ".join(
        f"{m}={k}" for k, v in merged.items() for m in v) + ")" if n_merged else ""))
    pl = prunable(layers)
    pairs = [(s, name) for s in cfg.signals for name in plans]
    bar = _progress(total=len(pairs), desc="phase 3: prune + fine-tune")
    schedule = Schedule(cfg.schedule, cfg.steps)
    done: dict[str, dict] = {}
    jobs: list[CandidateJob] = []
    for signal, strategy in pairs:
        cid = f"{signal}-{strategy}"
        key_doc = {"dense": dense["sha256"], "plan": plans[strategy], "signal": signal,
                   "recipe": finetune_recipe(cfg).to_json(), "calib": calib_key(cfg)}
        if schedule.n > 1:  # one-shot keys stay as they were, so existing runs resume
            key_doc["schedule"] = schedule.to_json()
        key = sha256_json(key_doc)
        cand = _candidate_done(rd, cid, key)
        if cand is None:
            jobs.append(CandidateJob(cid, signal, strategy, plans[strategy], [f"{signal}-{m}" for m in merged[strategy]], key))
        else:
            done[cid] = cand
            bar.update(1)
    shared = Shared(spec, rd.dense_weights.read_bytes(), data, pl, cfg,
                    {s: importance.score(s, model, pl, dev_calib) for s in dict.fromkeys(j.signal for j in jobs)},
                    calib)
    for cand, weights in (executor or make_executor(cfg)).run(jobs, shared, cfg.device, bar.set_description):
        done[cand["id"]] = write_candidate(rd, cand, weights)
        bar.update(1)
        bar.set_postfix(last=f"{cand['id']} {cand['global_sparsity']:.1%} val {cand['val_accuracy']:.3f}")
    bar.close()
    return [done[f"{s}-{name}"] for s, name in pairs], merged


def format_table(dense: dict, candidates: list[dict]) -> str:
    rows = [("id", "sparsity", "val acc", "test acc", "epochs", "seconds")]
    rows.append(("dense", "0.0%", f"{dense['val_accuracy']:.4f}", f"{dense['test_accuracy']:.4f}", "-", "-"))
    for c in sorted(candidates, key=lambda c: c["global_sparsity"]):
        name = c["id"] + (f" (= {', '.join(c['merged'])})" if c.get("merged") else "")
        rows.append((name, f"{c['global_sparsity']:.1%}", f"{c['val_accuracy']:.4f}", f"{c['test_accuracy']:.4f}",
                     str(c["epochs"]), f"{c['seconds']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows)
