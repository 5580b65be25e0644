"""Prune stage orchestration: dense model -> Phase 1 ranges -> Phase 2 plans -> Phase 3 candidates.

Every step's output is a file in the run directory and doubles as its cache:
re-running the same command skips what is already there (checked against the
dense weights' hash and the plan), so an interrupted run resumes.

Dense training (:mod:`.dense`), Phase 1 scoring and the signals run on
``cfg.device`` here; the algorithm itself is :mod:`.mixmatch` (no files) and
each stage's cache key is declared in :mod:`edgeprune.cachekey`. Phase 3
candidates (:mod:`.candidate`) run on an executor (:mod:`.executor`: in this
process, or Ray tasks) that returns each candidate's record and bytes, written here.
"""
from __future__ import annotations

import datetime as _dt
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..cachekey import stage_key
from ..data import Dataset, load_dataset
from ..device import device_record, resolve_device
from ..errors import EdgepruneError
from ..locks import clean_stage_temps, stage_lock
from ..models import ModelSpec, build, resolve_spec
from ..records import RangesRecord, RunRecord, StrategiesRecord, write_document
from ..runio import RunDir, atomic_path, make_dir
from . import importance
from .calib import calib_key, calibration
from .candidate import candidate_done, candidate_key, write_candidate
from .config import GRANULARITIES, SIGNALS, PruneConfig
from .dense import check_checkpoint, prepare_dense
from .executor import CandidateJob, Executor, Shared, check_executor, make_executor
from .layers import Layer, discover, prunable
from .mixmatch import baseline_scores, layer_ranges, plans_summary, scores, strategy_plans
from .progress import log as _log, progress as _progress
from .ranges import LayerRange
from .schedule import SCHEDULES
from .strategies import STRATEGIES


@dataclass
class PruneResult:
    run_dir: Path
    dense: dict
    candidates: list[dict]
    merged: dict[str, list[str]]
    structured_fallback: str | None = None  # why structured pruning fell back to unstructured


def _versions() -> dict:
    import timm

    return {"python": platform.python_version(), "torch": torch.__version__, "timm": timm.__version__,
            "numpy": np.__version__, "edgeprune": __version__}


def _validate(cfg: PruneConfig) -> None:
    bad = [s for s in dict.fromkeys(cfg.signals + cfg.structured_signals) if s not in SIGNALS]
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


def phase1_ranges(model: torch.nn.Module, layers: list[Layer], calib, rd: RunDir, dense_sha: str,
                  calib_info: dict) -> list[LayerRange]:
    """Phase 1 ranges (:func:`.mixmatch.layer_ranges`), cached in ranges.json under the dense weights' hash,
    the calibration (:func:`calib_key`) and the baselines' definitions."""
    key = stage_key("ranges", dense_sha256=dense_sha, calib=calib_info, criteria=importance.DEFINITIONS)
    if rd.ranges_json.exists():
        doc = RangesRecord.read_or_none(rd.ranges_json)
        if doc is not None and key.matches(doc.to_json()):
            return [LayerRange.from_json(d) for d in doc.layers]
    t0 = time.perf_counter()
    baselines, skipped = baseline_scores(model, calib, layers,
                                         progress=lambda it: _progress(it, desc="phase 1: MAG/SNIP/GraSP"))
    for crit, why in skipped.items():
        _log(f"phase 1: {crit} skipped ({why}); ranges come from the other baselines")
    ranges = layer_ranges(model, calib, layers, baselines=baselines)
    write_document(RangesRecord, rd.ranges_json, {
        "dense_sha256": dense_sha, "calib": calib_info, "baselines": list(baselines), "skipped": skipped,
        "global_targets": [0.7, 0.8, 0.9], "criteria": importance.DEFINITIONS, "seconds": round(time.perf_counter() - t0, 2),
        "rules": "norm -> [0,0]; patch_embed -> [0.15,0.30]; < 10,000 params -> clamp to [0,0.10]; clamp [0,0.98]; first match wins",
        "layers": [r.to_json() for r in ranges],
    })
    return ranges


def phase2_plans(ranges: list[LayerRange], cfg: PruneConfig, rd: RunDir, layers: list[Layer]):
    """Phase 2 plans (:func:`.mixmatch.strategy_plans`), written to strategies.json."""
    plans, merged = strategy_plans(ranges, cfg.strategies)
    write_document(StrategiesRecord, rd.strategies_json, plans_summary(plans, merged, layers))
    return plans, merged


def _previous_created(rd: RunDir, cfg: PruneConfig) -> str | None:
    """``created`` of the run already in ``rd`` (None if new); refuses one made with another config."""
    if not rd.run_json.exists():
        return None
    previous = RunRecord.read(rd.run_json, "Use another --out, or delete the directory to start over.")
    diff = _same_run(previous.get("config", {}), cfg.to_json())
    if diff:
        raise EdgepruneError(f"{rd.root} already holds a run with a different {', '.join(diff)}.",
                             "Use another --out, or delete the directory to start over.")
    return previous.get("created")


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
    check_checkpoint(cfg, spec)
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
    write_document(RunRecord, rd.run_json, {
        "edgeprune_version": __version__,
        "created": created,
        "seed": cfg.seed, "config": cfg.to_json(), "model": spec.to_json(), "data": data.info(),
        "dense": {k: dense[k] for k in ("val_accuracy", "test_accuracy", "weights", "sha256", "trained")},
        "versions": _versions(), "device": device_record(cfg.device, device),
    })
    clean_stage_temps(rd.root, "prune")  # now a run directory: leftovers of a killed prune go
    calib = calibration(data, cfg)
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
    done: dict[str, dict] = {}
    jobs: list[CandidateJob] = []
    for signal, strategy in pairs:
        cid = f"{signal}-{strategy}"
        key = candidate_key(dense["sha256"], plans[strategy], signal, cfg)
        cand = candidate_done(rd, cid, key)
        if cand is None:
            jobs.append(CandidateJob(cid, signal, strategy, plans[strategy], [f"{signal}-{m}" for m in merged[strategy]], key))
        else:
            done[cid] = cand
            bar.update(1)
    shared = Shared(spec, rd.dense_weights.read_bytes(), data, pl, cfg,
                    {s: scores(s, model, dev_calib, pl) for s in dict.fromkeys(j.signal for j in jobs)},
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
