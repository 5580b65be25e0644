"""Gather and cross-check everything ship needs from the run directory."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgepruneError
from ..precision import FP32, artifact_name
from ..records import DENSE, ArtifactRecord, CandidateRecord, RunRecord, SelectionRecord
from ..runio import RunDir, sha256_file, sha256_json


@dataclass
class ShipInputs:
    """The selection and the files behind its choice, all checked."""

    run: RunDir
    target: str
    selection: SelectionRecord
    choice: dict
    run_info: RunRecord  # run.json
    candidate: CandidateRecord | None  # candidate.json; None for the dense baseline
    artifact: ArtifactRecord  # artifacts/<id>.json
    fmt_meta: dict  # artifacts/<id>.json formats[<format>] (int8: int8.formats[<format>])
    model_path: Path

    @property
    def selection_key(self) -> str:
        """Hash of the selection without its timestamp (part of the bundle's cache key)."""
        return sha256_json({k: v for k, v in self.selection.to_json().items() if k != "created"})


def _need(path: Path, fix: str) -> Path:
    if not path.is_file():
        raise EdgepruneError(f"{path} does not exist.", fix)
    return path


def _failed_attempt(rd: RunDir, target: str) -> str:
    """' The last select for TARGET found nothing...' when selection.failed.json says so, else ''."""
    path = rd.selection_failed_json
    failed = SelectionRecord.read_or_none(path)
    if failed is None or not failed.is_for(target):
        return ""
    return f" The last select for {target} found nothing feasible ({path.name}, {failed.get('created')})."


def _check_target(rd: RunDir, target: str) -> None:
    """Raise the targets' 'Unknown target' error unless ``target`` is a profile or this run was benched for it."""
    from ..targets import load_target

    if not rd.bench_json(target).is_file():
        load_target(target)


def load_inputs(run: str | Path, target: str) -> ShipInputs:
    """Read selection.json for ``target`` and verify the chosen artifact is the benchmarked one."""
    rd = RunDir(run)
    redo = f"Run 'edgeprune select {run} --target {target}'."
    if not rd.selection_json.is_file():
        _check_target(rd, target)  # an unknown target is the first thing to say
        raise EdgepruneError(f"{rd.selection_json} does not exist.{_failed_attempt(rd, target)}", redo)
    sel = SelectionRecord.read(rd.selection_json, redo)
    if not sel.is_for(target):
        _check_target(rd, target)
        raise EdgepruneError(f"{rd.selection_json} is for target {sel.target!r}, not {target!r}."
                             f"{_failed_attempt(rd, target)}", redo)
    choice = sel.get("choice")
    if not choice:
        raise EdgepruneError(f"{rd.selection_json} has no choice: nothing met the {sel.target} budget.",
                             "Relax the budgets and re-run 'edgeprune select'.")
    bench_path = rd.recorded(sel.bench["file"])
    if not bench_path.is_file() or sha256_file(bench_path) != sel.bench["sha256"]:
        raise EdgepruneError(f"{bench_path} changed since selection.json was written.", redo)
    cid, fmt, precision = choice["candidate"], choice["format"], choice.get("precision") or FP32
    run_info = RunRecord.read(rd.run_json, "Run 'edgeprune prune' first.")
    _need(rd.test_npz, "Run 'edgeprune prune' first.")
    candidate = None if cid == DENSE else CandidateRecord.read(rd.candidate_json(cid), "Run 'edgeprune prune' first.")
    artifact = ArtifactRecord.read(rd.artifact_json(cid), f"Run 'edgeprune export {run}'.")
    fmt_meta = artifact.entry(fmt, precision) or {}
    if "error" in fmt_meta or "sha256" not in fmt_meta:
        what = fmt if precision == FP32 else f"{precision} {fmt}"
        raise EdgepruneError(f"{rd.artifact_json(cid)} has no usable {what} export.", f"Run 'edgeprune export {run}'.")
    model_path = _need(rd.artifact_file(fmt_meta.get("file", artifact_name(cid, fmt, precision))),
                       f"Run 'edgeprune export {run}'.")
    actual = sha256_file(model_path)
    benched = (choice.get("bench") or {}).get("sha256", actual)
    if actual != fmt_meta["sha256"] or actual != benched:
        raise EdgepruneError(f"{model_path} is not the file that was exported and benchmarked (sha256 differs).",
                             f"Re-run 'edgeprune bench {run} --target {target}' and 'edgeprune select'.")
    return ShipInputs(rd, sel.target, sel, choice, run_info, candidate, artifact, fmt_meta, model_path)
