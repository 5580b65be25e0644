"""Structured Mix-and-Match in a run directory: Phase 1 (ranges), Phase 2 (plans), Phase 3 (candidates).

Files: ``ranges-structured.json`` (groups, nine baseline runs, ranges, the
exact parameter model; or the reason the family cannot be pruned this way),
``strategies-structured.json`` and ``candidates/structured-<signal>-<strategy>/``
(candidate.json, model.safetensors, structure.json). Each file is its own cache,
keyed on the dense weights' hash (and the plan, signal, recipe and schedule).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from ...log import info
from ...cachekey import stage_key
from ...data import Dataset
from ...models import ModelSpec, build, create_model
from ...records import CandidateRecord, StrategiesRecord, StructuredRangesRecord, write_document
from ...runio import RunDir, sha256_file
from ..calib import calib_key
from ..config import GLOBAL_TARGETS, PruneConfig
from ..ranges import LayerRange
from ..recipes import structured_finetune_recipe
from ..schedule import Schedule
from ..strategies import make_plans
from .candidate import count, run_candidate
from .cost import ParamModel, probe
from .groups import ChannelGroup, StructuredUnsupported, _first_line, build_graph, discover_groups
from .plan import example_input
from .ranges import BASELINES, RULES_TEXT, derive_ranges, realise
from .scores import CRITERIA, group_scores

SCHEMA = 2  # bump when phase 1-2 change what they compute
CANDIDATE_SCHEMA = 3  # bump when phase 3 does (3: BatchNorm re-estimated after every cut)
PREFIX = "structured-"
ANALYSIS_SECONDS = 300  # Torch-Pruning loops forever on some graphs (timm's test_coatnet): give up, fall back


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block after ``seconds`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise TimeoutError(f"no result after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _log(msg: str) -> None:
    info(msg)


@dataclass
class Phase1:
    groups: list[ChannelGroup]
    ranges: list[LayerRange]
    pm: ParamModel
    dense_counts: dict


def phase1(spec: ModelSpec, dense_path: Path, input_shape: list[int], calib, rd: RunDir, dense_sha: str,
           calib_info: dict) -> Phase1:
    """Groups, baseline ranges and the parameter model (cached under the dense hash and the calibration)."""
    path = rd.ranges_structured_json
    if path.exists():
        rec = StructuredRangesRecord.read_or_none(path)
        doc = {} if rec is None else rec.to_json()
        key = stage_key("structured-ranges", dense_sha256=dense_sha, schema=SCHEMA, calib=calib_info)
        if key.matches(doc, absent_ok=("calib",)):  # files older than the calibration field match any
            if "unsupported" in doc:
                u = doc["unsupported"]
                raise StructuredUnsupported(u["model"], u.get("layer"), u["reason"])
            return Phase1([ChannelGroup(**g) for g in doc["groups"]], [LayerRange.from_json(r) for r in doc["layers"]],
                          ParamModel(**doc["param_model"]), doc["dense_counts"])
    t0 = time.perf_counter()
    model = build(spec, dense_path)
    example = example_input(input_shape)
    try:
        try:
            with time_limit(ANALYSIS_SECONDS):
                dg = build_graph(model, example, spec.name)
                groups = discover_groups(model, dg)
                if not groups:
                    raise StructuredUnsupported(spec.name, None, "Torch-Pruning finds no prunable channel group")
                pm = probe(create_model(spec), example, groups, spec.name)
        except StructuredUnsupported:
            raise
        except Exception as e:  # whatever else breaks in the analysis: fall back, never crash the build
            raise StructuredUnsupported(spec.name, None, f"the channel analysis failed ({_first_line(e)})") from e
    except StructuredUnsupported as e:
        write_document(StructuredRangesRecord, path, {"dense_sha256": dense_sha, "schema": SCHEMA, "granularity": "structured",
                          "unsupported": {"model": e.model, "layer": e.layer, "reason": e.reason},
                          "fallback": "unstructured"})
        raise
    scores, skipped = {}, {}
    for crit in BASELINES:
        try:
            scores[crit] = group_scores(crit, dg, model, groups, calib)
        except RuntimeError as e:  # an op without double backward (GraSP): as the unstructured phase 1
            if "not implemented" not in str(e) or crit != "grasp":
                raise
            skipped[crit] = str(e).splitlines()[0]
            _log(f"structured phase 1: {crit} skipped ({skipped[crit]})")
    ranges, achieved = derive_ranges(groups, scores, pm)
    dense_counts = count(model, example, layer_wise=True)
    write_document(StructuredRangesRecord, path, {
        "dense_sha256": dense_sha, "schema": SCHEMA, "granularity": "structured", "calib": calib_info,
        "baselines": list(scores), "skipped": skipped,
        "criteria": {c: CRITERIA.get(c).doc for c in scores},
        "global_targets": list(GLOBAL_TARGETS), "targets_measure": "fraction of prunable parameters (conv/linear weights) removed",
        "achieved": achieved, "normaliser": "scores divided by their group's mean |score| before the global ranking",
        "rules": RULES_TEXT, "seconds": round(time.perf_counter() - t0, 2), "dense_counts": dense_counts,
        "groups": [g.to_json() for g in groups], "layers": [r.to_json() for r in ranges],
        "param_model": {"shapes": pm.shapes, "prunable": pm.prunable, "shrink": pm.shrink},
    })
    return Phase1(groups, ranges, pm, dense_counts)


def phase2(p1: Phase1, cfg: PruneConfig, rd: RunDir) -> tuple[dict, dict[str, list[str]]]:
    """Per strategy: target fractions and kept units; plans equal after rounding are merged."""
    plans, merged = make_plans(p1.ranges, cfg.strategies)
    out: dict[str, dict] = {}
    for name, target in plans.items():
        kept = realise(target, p1.groups, p1.ranges)
        twin = next((k for k, v in out.items() if v["kept"] == kept), None)
        if twin is not None:  # identical networks after the count rules
            merged[twin] += [name, *merged.pop(name)]
            continue
        removed = {g.name: g.size - kept[g.name] for g in p1.groups}
        out[name] = {"target": target, "kept": kept, "planned": {g.name: removed[g.name] / g.size for g in p1.groups},
                     "planned_param_removal": p1.pm.removal(removed)}
    merged = {k: v for k, v in merged.items() if k in out}
    write_document(StrategiesRecord, rd.strategies_structured_json, {
        "granularity": "structured",
        "strategies": {k: {**v, "merged": merged[k]} for k, v in out.items()},
        "merged": {k: v for k, v in merged.items() if v},
    })
    return out, merged


def _done(rd: RunDir, cid: str, key: str) -> dict | None:
    if not rd.candidate_json(cid).exists():
        return None
    rec = CandidateRecord.read_or_none(rd.candidate_json(cid))
    if rec is None:
        return None
    c = rec.to_json()
    ok = (c.get("key") == key and rd.candidate_weights(cid).exists() and rd.candidate_structure(cid).exists()
          and sha256_file(rd.candidate_weights(cid)) == c.get("sha256")
          and sha256_file(rd.candidate_structure(cid)) == c.get("structure_sha256"))
    return c if ok else None


def candidate_key(dense_sha: str, kept: dict, signal: str, cfg: PruneConfig, schedule: Schedule) -> str:
    """Dense weights, channels kept, signal, fine-tune recipe (seed included), calibration and schedule."""
    return stage_key("structured-candidate", dense=dense_sha, granularity="structured", schema=CANDIDATE_SCHEMA, kept=kept,
                     signal=signal, recipe=structured_finetune_recipe(cfg).to_json(), calib=calib_key(cfg),
                     schedule=schedule.to_json()).hex


def phase3(p1: Phase1, plans: dict, merged: dict, spec: ModelSpec, dense_path: Path, dense_sha: str, data: Dataset,
           calib, cfg: PruneConfig, rd: RunDir, progress) -> list[dict]:
    schedule = Schedule(cfg.schedule, cfg.steps)
    jobs = [(s, name) for s in cfg.structured_signals for name in plans]
    bar = progress(total=len(jobs), desc="structured phase 3: prune + fine-tune")
    out = []
    for sig, strategy in jobs:
        cid = f"{PREFIX}{sig}-{strategy}"
        plan = plans[strategy]
        key = candidate_key(dense_sha, plan["kept"], sig, cfg, schedule)
        cand = _done(rd, cid, key)
        if cand is None:
            inner = progress(total=structured_finetune_recipe(cfg).epochs, desc=f"  {cid}", leave=False)
            cand = run_candidate(cid, sig, strategy, plan["target"], plan["kept"], p1.groups, spec, dense_path,
                                 p1.dense_counts, calib, data, cfg, schedule, rd,
                                 [f"{PREFIX}{sig}-{m}" for m in merged[strategy]], key, inner)
            inner.close()
        out.append(cand)
        bar.update(1)
        bar.set_postfix(last=f"{cid} params -{cand['global_sparsity']:.1%} val {cand['val_accuracy']:.3f}")
    bar.close()
    return out


def run_structured(cfg: PruneConfig, rd: RunDir, data: Dataset, spec: ModelSpec, dense_sha: str, calib,
                   progress) -> tuple[Phase1, dict, dict]:
    """Phases 1 and 2 (raises StructuredUnsupported before any candidate is written)."""
    torch.manual_seed(cfg.seed)
    p1 = phase1(spec, rd.dense_weights, data.input_shape, calib, rd, dense_sha, calib_key(cfg))
    plans, merged = phase2(p1, cfg, rd)
    n_merged = sum(len(v) for v in merged.values())
    _log(f"structured phase 2: {len(plans)} strategies over {len(p1.groups)} channel groups"
         + (f" ({n_merged} merged as identical: " + ", ".join(f"{m}={k}" for k, v in merged.items() for m in v) + ")"
            if n_merged else ""))
    return p1, plans, merged
