"""One bench session: every artifact measured in its own subprocess, sequentially.

Artifacts run one after another (parallel runs would share cores and corrupt
each other's latency). Latency is sampled in several rounds over all
artifacts (see :class:`BenchSettings`). Off the device, every worker also
times a partner model in blocks alternating with the artifact: the run's
dense artifact of the same format (the anchor), so that the estimate scales a
ratio measured under the same conditions (see :mod:`.estimate`). The
reference models are measured alone at the start and the end of the session
(their host latency and floor, drift and cross-checks).
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..errors import EdgepruneError
from ..precision import FP32, artifact_name, entry_of, record_entries
from ..runio import gzip_size, sha256_file
from ..runtimes import RUNTIMES
from ..targets import Target
from .device import HOST_ESTIMATE, ON_DEVICE, Detection, host_info, resolve_mode, usable_cores
from .estimate import (HostReference, anchor_estimate, calibrate, estimate_latency, is_anchor_file, kind_of,
                       method_text, precision_fallback)
from .measure import Job
from .reference import ensure_reference

Log = Callable[[str], None]
Measure = Callable[[Job, int], dict]  # (job, round) -> worker result; a journal may answer from saved results


def log_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchSettings:
    """How long to measure. Defaults: 20 artifacts in 113-125 s on 2 shared cores (host estimate).

    Latency is sampled in rounds over all artifacts (each a fresh process),
    ``target_seconds`` each, and reported as the median of the round medians:
    a burst of load on the machine (or thermal throttling on a device) then
    spoils one round, not the figure. After ``rounds`` rounds, artifacts whose
    figure is not yet stable (see :func:`latency_is_stable`) get further
    rounds, up to ``max_rounds``, while they have taken less than
    ``extra_time`` x the time of the first rounds. ``min_runs`` counts over
    the first ``rounds`` rounds; ``max_seconds`` is the time box of one round.
    """

    rounds: int = 3
    max_rounds: int = 7
    extra_time: float = 0.25
    agree: int = 3
    stable_within: float = 0.075
    min_runs: int = 20
    target_seconds: float = 0.25
    max_seconds: float = 60.0
    warmup_runs: int = 3
    warmup_seconds: float = 0.1
    pair_blocks: int = 8
    pair_block_seconds: float = 0.04
    timeout_seconds: float = 900.0

    def job(self, path: Path, threads: int, layout: str | None = None, eval_npz: Path | None = None,
            partner: "Partner | None" = None) -> Job:
        return Job(path=str(path), threads=threads, layout=layout, eval_npz=str(eval_npz) if eval_npz else None,
                   min_runs=-(-self.min_runs // self.rounds), target_seconds=self.target_seconds,
                   max_seconds=self.max_seconds, warmup_runs=self.warmup_runs, warmup_seconds=self.warmup_seconds,
                   reference=partner.file if partner else None, reference_layout=partner.layout if partner else None,
                   pair_blocks=self.pair_blocks, pair_block_seconds=self.pair_block_seconds)


def latency_is_stable(round_medians: list[float], agree: int, within: float) -> bool:
    """True when at least ``agree`` rounds, and more than half of them, lie within ``within`` of the median.

    Off the device the rounds' figure is the ratio to the partner (the
    quantity the estimate scales), on the device the round median.

    Round medians of a sub-millisecond model on a shared machine swing by 2x
    when a burst of load covers a round; a median backed by a majority of
    agreeing rounds is more likely to repeat in the next session, though load
    that lasts longer than a whole session still moves it.
    """
    if not round_medians:
        return False
    med = statistics.median(round_medians)
    close = sum(abs(m - med) <= within * med for m in round_medians)
    return close >= agree and 2 * close > len(round_medians)


def rounds_todo(rnd: int, round_medians: list[list[float]], settings: BenchSettings) -> list[int]:
    """Indices of the artifacts to time in round ``rnd`` (0-based): all measurable ones in the first
    ``settings.rounds`` rounds, then only those whose latency is not yet stable."""
    live = [i for i, m in enumerate(round_medians) if m]
    if rnd < settings.rounds:
        return live
    if rnd >= settings.max_rounds:
        return []
    return [i for i in live if not latency_is_stable(round_medians[i], settings.agree, settings.stable_within)]


def combine_rounds(stats: list[dict]) -> dict:
    """One latency figure from per-round ones: medians of the round medians and p90s, overall min."""
    runs = sum(s["runs"] for s in stats)
    return {"median": statistics.median(s["median"] for s in stats),
            "p90": statistics.median(s["p90"] for s in stats), "min": min(s["min"] for s in stats),
            "mean": sum(s["mean"] * s["runs"] for s in stats) / runs, "runs": runs,
            "seconds": sum(s["seconds"] for s in stats), "round_medians": [s["median"] for s in stats]}


@dataclass(frozen=True)
class Artifact:
    """One file to bench (or a format that failed to export)."""

    path: Path
    candidate: str
    format: str
    display: str  # how the row names the file (relative to the run, or as given)
    layout: str | None = None
    expected_sha256: str | None = None
    export_error: str | None = None
    recorded_gzip: int | None = None  # gzip bytes in the export record (valid while the sha256 matches)
    anchor: bool = False  # the run's dense artifact: the others of its format are timed against it (host estimate)
    precision: str = FP32  # part of the artifact's identity: fp32 | int8

    @property
    def kind(self) -> str:
        """What calibrates its latency: the format, or ``<format>.int8`` (see estimate.kind_of)."""
        return kind_of(self.format, self.precision)


# ---------------------------------------------------------------- the subprocess
# glibc adapts its mmap threshold to freed blocks, which made ONNX Runtime's peak RSS
# for the same file vary by up to 30% between runs; a fixed threshold makes it repeat
# to ~0.1%. Recorded in every row's memory_settings; use the same on the device.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def run_worker(job: Job, timeout: float) -> dict:
    """Measure in a fresh interpreter; a crash or hang becomes an ``error``, never an exception."""
    cmd = [sys.executable, "-m", "edgeprune.bench.worker"]
    try:
        proc = subprocess.run(cmd, input=json.dumps(job.to_json()), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **MALLOC_ENV})
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    why = f"signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit code {proc.returncode}"
    tail = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"error": f"worker crashed ({why})" + (f": {tail[-1][:200]}" if tail else "")}


# ---------------------------------------------------------------- rows
PROVENANCE: dict[str, dict[str, str]] = {
    ON_DEVICE: {"size": "measured", "load_ms": "measured", "latency": "measured", "peak_ram": "measured",
                "accuracy": "measured"},
    HOST_ESTIMATE: {"size": "measured", "load_ms": "measured-on-host", "latency": "estimated",
                    "peak_ram": "measured-on-host", "accuracy": "measured"},
}


# provenance key -> the row field it labels
FIGURES = {"size": "size_bytes", "load_ms": "load_ms", "latency": "latency_ms", "peak_ram": "peak_ram_mb",
           "accuracy": "accuracy"}


def _methods(res: dict, mode: str, eval_name: str | None) -> dict[str, str]:
    rt, lat = res.get("runtime", "?"), res.get("latency_ms") or {}
    where = "on this device" if mode == ON_DEVICE else "on the host, not the target"
    settings = ", ".join(f"{k}={v}" for k, v in (res.get("memory_settings") or {}).items())
    m = {
        "size": "bytes on disk; gzip -9 bytes",
        "load_ms": f"wall time to open the file in {rt} (session/interpreter creation), fresh process, {where}",
        "latency": f"median over {len(lat.get('round_medians', [0]))} round(s) of timed runs after warm-up "
                   f"({lat.get('runs', 0)} runs in all), one fresh process per round, {res.get('threads')} threads, "
                   f"input {res.get('input_shape')}, {where}" + _agreement(lat),
        "peak_ram": f"peak RSS (VmHWM) after load + {lat.get('runs', 0)} runs minus the peak after importing {rt} "
                    f"({res.get('baseline_ram_mb', 0):.0f} MB), fresh process, {where}; {settings}",
    }
    if res.get("accuracy") is not None:
        m["accuracy"] = f"top-1 on {eval_name} ({res.get('n_eval')} images) through {rt}"
    return m


def _agreement(lat: dict) -> str:
    if "stable" not in lat:
        return ""
    return (f"; a majority of rounds agree within {lat['agree_within']:.1%}" if lat["stable"] else
            "; rounds still disagreed after the last extra round (the machine was busy): a noisy figure")


def _base_row(a: Artifact, mode: str) -> dict:
    return {"artifact": a.path.name, "path": a.display, "candidate": a.candidate, "format": a.format,
            "precision": a.precision, "mode": mode}


def file_facts(a: Artifact) -> dict:
    """sha256, bytes and gzip bytes; gzip -9 of a big file is slow, so the export record's figure is reused."""
    sha = sha256_file(a.path)
    reuse = a.recorded_gzip is not None and sha == a.expected_sha256
    return {"sha256": sha, "size_bytes": a.path.stat().st_size,
            "gzip_bytes": a.recorded_gzip if reuse else gzip_size(a.path),
            "gzip_from": "export record (same sha256)" if reuse else "computed"}


def make_row(a: Artifact, res: dict, mode: str, profile_threads: int, eval_name: str | None,
             min_runs: int = 0) -> dict:
    """A bench row from the worker's result (latency still as measured here)."""
    row = _base_row(a, mode)
    row.update({"runtime": res.get("runtime"), "runtime_version": res.get("runtime_version"),
                "threads": res.get("threads"), "threads_profile": profile_threads,
                "memory_settings": {**(res.get("memory_settings") or {}), **MALLOC_ENV}})
    facts = res["file"]
    row.update({k: facts[k] for k in ("sha256", "size_bytes", "gzip_bytes")})
    lat = res.get("latency_ms")
    row.update({"load_ms": res.get("load_ms"), "first_run_ms": res.get("first_run_ms"),
                "latency_ms": lat, "peak_ram_mb": res.get("peak_ram_mb"),
                "peak_ram_rounds_mb": res.get("peak_ram_rounds_mb"),
                "resident_ram_mb": res.get("resident_ram_mb"), "baseline_ram_mb": res.get("baseline_ram_mb"),
                "accuracy": res.get("accuracy"), "n_eval": res.get("n_eval")})
    row["provenance"] = {k: (v if row[FIGURES[k]] is not None else "not-measured")
                         for k, v in PROVENANCE[mode].items()}
    row["methods"] = _methods(res, mode, eval_name)
    row["methods"]["size"] += f" ({facts['gzip_from']})"
    if lat and lat["runs"] < min_runs:
        row["methods"]["latency"] += " (time box hit before the minimum number of runs)"
    row["error"] = res.get("error")
    return row


def apply_estimate(row: dict, entry: dict | None, reason: str, target: Target, file: str | None = None) -> None:
    """Turn a host-measured row into a target estimate (or mark latency unavailable)."""
    host = row.get("latency_ms")
    row["host_latency_ms"] = host
    if host is None:
        return
    if entry is None or entry.get("scale") is None:
        row["latency_ms"] = None
        row["provenance"]["latency"] = "unavailable"
        row["methods"]["latency"] = f"not estimated: {reason}"
        return
    row["latency_ms"] = estimate_latency(host, entry, file)
    # the anchor's estimate comes from its floor, so whether its round medians agreed says nothing about it
    row["methods"]["latency"] = method_text(entry, target, host, file) + ("" if is_anchor_file(entry, file) else
                                                                          _agreement(host))


# ---------------------------------------------------------------- the session
def threads_to_use(profile_threads: int, cores: int, mode: str) -> int:
    """The profile's threads, capped at this machine's cores; off the device at half of them.

    A host is shared (OS, other jobs, on a VM the hypervisor), and intra-op
    threads that wait for a busy core make latency erratic (2 threads on a
    2-vCPU VM spread 4x between runs; 1 thread stayed within ~15%). The
    estimate divides by a reference run with the same threads, so using fewer
    threads here keeps the ratio and makes it repeatable.
    """
    cap = cores if mode == ON_DEVICE else max(1, cores // 2)
    return max(1, min(profile_threads, cap))


def _est_kind(a: Artifact, refs: dict) -> str:
    """The kind whose references estimate ``a``: its own (``tflite.int8``) where the profile publishes one,
    else its format's (an int8 artifact is then timed against the fp32 anchor; see estimate.precision_fallback)."""
    return a.kind if a.kind in refs else a.format


def _no_estimate_reason(target: Target, fmt: str, entries: dict[str, dict]) -> str:
    if fmt not in target.runtimes:
        return f"{target.name} has no {fmt} runtime in its profile, so this format does not run there"
    fix = "; measure on the device and use 'edgeprune bench RUN --import FILE'"
    if fmt not in entries:
        return f"the {target.name} profile has no published {fmt} latency to calibrate with" + fix
    return (entries[fmt].get("error") or "the reference failed") + fix


def _measure_references(refs: dict[str, list[HostReference]], threads: dict[str, int], settings: BenchSettings,
                        when: str, log: Log) -> None:
    done = []
    for fmt, group in refs.items():
        for ref in group:
            res = run_worker(settings.job(Path(ref.file), threads[fmt.split(".")[0]]), settings.timeout_seconds)
            ref.results.append(res)
            lat = (res.get("latency_ms") or {}).get("median")
            done.append(f"{Path(ref.file).name} " + (f"{lat:.2f} ms" if lat else f"error: {res.get('error')}"))
    log(f"  references ({when}): " + "; ".join(done))


def _round_figure(res: dict) -> float | None:
    """What a round contributes to the reported latency: the ratio to the partner off the device, else the median."""
    if not res.get("latency_ms"):
        return None
    return res["paired"]["ratio"] if res.get("paired") else res["latency_ms"]["median"]


def _round_figures(first: dict, later: list[dict]) -> list[float]:
    """The figures of an artifact's rounds so far (empty if it cannot be timed)."""
    return [f for f in map(_round_figure, [first, *later]) if f is not None]


def _latency_rounds(first: dict, later: list[dict], settings: BenchSettings) -> dict:
    """Round 1's result (RAM, accuracy) with latency and load time combined over all rounds."""
    ok = [first] + [r for r in later if not r.get("error") and r.get("latency_ms")]
    lat = combine_rounds([r["latency_ms"] for r in ok])
    figures = lat["round_medians"]
    paired = [r["paired"] for r in ok if r.get("paired")]
    if paired and len(paired) == len(ok):
        figures = [q["ratio"] for q in paired]
        lat["paired_ratio"] = statistics.median(figures)
        lat["paired_ratios"] = figures
        lat["paired_reference"] = paired[0]["reference"]
    lat["stable"] = latency_is_stable(figures, settings.agree, settings.stable_within)
    lat["agree_within"] = settings.stable_within
    out = dict(first, latency_ms=lat, load_ms=statistics.median(r["load_ms"] for r in ok))
    out["peak_ram_rounds_mb"] = [r["peak_ram_mb"] for r in ok if r.get("peak_ram_mb") is not None]
    failed = [r["error"] for r in later if r.get("error")]
    if failed:
        out["round_errors"] = failed
    return out


@dataclass(frozen=True)
class Partner:
    """What an artifact is timed against in alternating blocks off the device."""

    file: str
    layout: str | None = None


def _partner(a: Artifact, anchors: dict[str, Artifact], refs: dict[str, list[HostReference]]) -> Partner | None:
    """The run's dense artifact of the same format (the anchor), else the format's primary reference model.

    An anchor has the artifact's architecture and working set, so contention
    for cache and memory bandwidth slows both alike and cancels in their
    ratio; against the compute-bound reference it does not.
    """
    kind = _est_kind(a, refs)
    if kind not in refs:
        return None
    anchor = anchors.get(kind)
    if anchor is not None:
        return None if anchor is a else Partner(str(anchor.path), anchor.layout)
    return Partner(refs[kind][0].file)


def _is_anchor(a: Artifact, refs: dict[str, list[HostReference]]) -> bool:
    """The run's dense artifact of a kind (format, or format + int8) estimated through its own reference models."""
    return a.anchor and not a.export_error and a.kind in refs


def _run_rounds(artifacts: list[Artifact], refs: dict[str, list[HostReference]], threads: dict[str, int],
                settings: BenchSettings, eval_npz: Path | None, log: Log,
                measure: Measure) -> tuple[list[dict], list[list[dict]], dict[str, Artifact]]:
    """Round 1 measures everything; later rounds time latency only (see :class:`BenchSettings`).

    Off the device the anchors (see :func:`_partner`) are measured first, so
    that the others can be paired with them. Returns round 1's result per
    artifact, the later rounds' results per artifact and the anchors that
    measured cleanly, by format.
    """
    start = time.perf_counter()
    first: list[dict | None] = [None] * len(artifacts)
    later: list[list[dict]] = [[] for _ in artifacts]
    anchors: dict[str, Artifact] = {}
    fixed_seconds = 0.0
    for rnd in range(settings.max_rounds):
        if rnd == settings.rounds:
            fixed_seconds = time.perf_counter() - start
        elif rnd > settings.rounds and time.perf_counter() - start - fixed_seconds > settings.extra_time * fixed_seconds:
            log(f"extra latency rounds stopped after {rnd - settings.rounds}: their time budget is used up")
            break
        if rnd == 0:
            todo = sorted(range(len(artifacts)), key=lambda i: not _is_anchor(artifacts[i], refs))
        else:
            todo = rounds_todo(rnd, [_round_figures(f, l) for f, l in zip(first, later)], settings)
        if not todo:
            break
        if refs and rnd == 0:  # the references alone, at the start (and at the end of the session)
            _measure_references(refs, threads, settings, "start", log)
        for i in todo:
            a = artifacts[i]
            partner = _partner(a, anchors, refs)
            if rnd == 0:  # the full measurement: size, load, latency, RAM, accuracy
                first[i] = _measure_one(a, threads, settings, eval_npz, partner, measure)
                if _is_anchor(a, refs) and first[i].get("latency_ms") and not first[i].get("error"):
                    anchors[a.kind] = a
                log(f"[{i + 1}/{len(artifacts)}] {a.display}: {_progress(first[i])}")
            else:  # latency only
                later[i].append(measure(settings.job(a.path, threads[a.format], a.layout, partner=partner), rnd))
        if rnd:
            log(f"latency round {rnd + 1}: {len(todo)} artifact(s)" + ("" if rnd < settings.rounds else
                f" whose rounds did not yet agree within {settings.stable_within:.1%}"))
    return first, later, anchors


def anchor_floors(anchor: Artifact, measured: list[tuple[Artifact, dict]], later: list[list[dict]]) -> list[float]:
    """Every floor of the anchor seen in the session: its own rounds and its blocks in the other workers."""
    path = str(anchor.path)
    out = []
    for (a, first), rest in zip(measured, later):
        for res in [first, *rest]:
            if res.get("error"):
                continue
            if a is anchor and res.get("latency_ms"):
                out.append(res["latency_ms"]["floor"])
            elif (res.get("paired") or {}).get("reference") == path:
                out.append(res["paired"]["reference_floor_ms"])
    return out


def bench_artifacts(artifacts: list[Artifact], target: Target, on_device: bool | None = None,
                    eval_npz: Path | None = None, eval_name: str | None = None,
                    settings: BenchSettings | None = None, log: Log = log_stderr,
                    measure: Measure | None = None) -> dict:
    """Measure ``artifacts`` for ``target``; return the bench document (not written).

    ``measure`` runs each worker job (default: :func:`run_worker`); a journal answers it from saved results
    (:mod:`.journal`).
    """
    settings = settings or BenchSettings()
    t0 = time.perf_counter()
    mode, found = resolve_mode(target, on_device)
    _announce(mode, found, on_device, target, log)
    fmts = sorted({a.format for a in artifacts if not a.export_error})
    threads = {f: threads_to_use(target.threads(f), usable_cores(), mode) for f in fmts}
    kinds = sorted({a.kind for a in artifacts if not a.export_error} | set(fmts))

    refs: dict[str, list[HostReference]] = {}  # by kind: "tflite", "tflite.int8", ...
    if mode == HOST_ESTIMATE:
        for k in kinds:
            fmt = k.split(".")[0]
            if fmt in target.runtimes and target.calibrations(k):
                refs[k] = [HostReference(c, str(ensure_reference(c, log))) for c in target.calibrations(k)]

    measure = measure or (lambda job, rnd: run_worker(job, settings.timeout_seconds))
    first, later, anchors = _run_rounds(artifacts, refs, threads, settings, eval_npz, log, measure)
    measured = [(a, _latency_rounds(res, later[i], settings) if res.get("latency_ms") else res)
                for i, (a, res) in enumerate(zip(artifacts, first))]

    entries: dict[str, dict] = {}
    if mode == HOST_ESTIMATE:
        _measure_references(refs, threads, settings, "end", log)
        entries = {k: calibrate(k, group, target, threads[k.split(".")[0]]) for k, group in refs.items()}
        for f, anchor in anchors.items():
            if entries[f].get("scale") is not None:
                entries[f]["anchor"] = anchor_estimate(str(anchor.path), anchor.display,
                                                       anchor_floors(anchor, list(zip(artifacts, first)), later),
                                                       entries[f])

    rows = []
    for a, res in measured:
        if res.get("skipped"):  # export failed or the file does not match its record: nothing to measure
            rows.append({**_base_row(a, mode), "error": res["error"]})
            continue
        row = make_row(a, res, mode, target.threads(a.format), eval_name, settings.min_runs)
        if mode == HOST_ESTIMATE:
            kind = _est_kind(a, refs)
            entry = entries.get(kind)
            if entry is not None and kind != a.kind:  # int8 without its own published reference
                entry = precision_fallback(entry, a.precision, target)
            apply_estimate(row, entry, _no_estimate_reason(target, a.format, entries), target, str(a.path))
        rows.append(row)

    doc: dict[str, Any] = {
        "target": target.name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": mode, "detected": {"on_target": found.matched, "evidence": found.evidence},
        "host": host_info(), "edgeprune_version": __version__, "target_profile": target.to_json(),
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "eval": _eval_info(eval_npz, eval_name),
    }
    if mode == HOST_ESTIMATE:
        doc["reference"] = entries
    doc["rows"] = rows
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    return doc


def _measure_one(a: Artifact, threads: dict[str, int], settings: BenchSettings, eval_npz: Path | None,
                 partner: Partner | None, measure: Measure) -> dict:
    if a.export_error:
        return {"skipped": True, "error": a.export_error}
    facts = file_facts(a)
    if a.expected_sha256 and facts["sha256"] != a.expected_sha256:
        return {"skipped": True,
                "error": f"{a.display} differs from its export record (sha256); re-run 'edgeprune export'"}
    res = measure(settings.job(a.path, threads[a.format], a.layout, eval_npz, partner), 0)
    return dict(res, file=facts)


def _progress(res: dict) -> str:
    if res.get("latency_ms") is None:
        return f"error: {res.get('error')}"
    s = f"median {res['latency_ms']['median']:.3g} ms, peak RAM {res['peak_ram_mb']:.1f} MB (measured here)"
    if res.get("accuracy") is not None:
        s += f", accuracy {res['accuracy']:.4f}"
    return s + (f"; error: {res['error']}" if res.get("error") else "")


def _announce(mode: str, found: Detection, forced: bool | None, target: Target, log: Log) -> None:
    if mode == ON_DEVICE and not found.matched:
        log(f"warning: --on-device given but this machine does not look like {target.name} ({found.evidence}); "
            "figures are labelled as measured on the target.")
    elif mode == HOST_ESTIMATE:
        log(f"host-estimate for {target.name}: {found.evidence}")
    else:
        log(f"on-device: {found.evidence}")


def _eval_info(eval_npz: Path | None, name: str | None) -> dict | None:
    if eval_npz is None:
        return None
    import numpy as np

    with np.load(eval_npz) as d:
        n = int(len(d["y"])) if "y" in d else None
    return {"file": name or str(eval_npz), "sha256": sha256_file(eval_npz), "n": n}


# ---------------------------------------------------------------- finding artifacts
def _split_name(p: Path) -> tuple[str, str]:
    """``x.int8.onnx`` -> (``x``, ``int8``); ``x.onnx`` -> (``x``, ``fp32``)."""
    from ..precision import PRECISIONS

    stem = p.stem
    head, _, tail = stem.rpartition(".")
    return (head, tail) if head and tail in PRECISIONS and tail != FP32 else (stem, FP32)


def artifact_from_file(path: str | os.PathLike) -> Artifact:
    """An artifact given on the command line (its sibling ``<id>.json`` supplies the layout if present)."""
    p = Path(path)
    if p.suffix not in RUNTIMES:
        raise EdgepruneError(f"{p}: not an artifact ({p.suffix or 'no suffix'}).",
                             f"Give files ending in {', '.join(RUNTIMES)}.")
    if not p.is_file():
        raise EdgepruneError(f"{p} does not exist.", "Check the path.")
    fmt = p.suffix.lstrip(".")
    cid, precision = _split_name(p)
    layout = None
    meta = p.with_name(f"{cid}.json")
    if meta.is_file():
        try:
            layout = (entry_of(json.loads(meta.read_text()), fmt, precision) or {}).get("layout")
        except (ValueError, TypeError, AttributeError):
            layout = None
    return Artifact(p, cid, fmt, p.name, layout, precision=precision)


def run_artifacts(artifacts_dir: Path, root: Path) -> list[Artifact]:
    """Every (candidate, format, precision) that ``edgeprune export`` recorded in ``RUN/artifacts/<id>.json``."""
    out: list[Artifact] = []
    for meta in sorted(artifacts_dir.glob("*.json")):
        if meta.name.startswith("."):
            continue
        cid = meta.stem
        try:
            record = json.loads(meta.read_text())
            if not isinstance(record["formats"], dict):
                raise TypeError("formats is not a table")
        except (ValueError, KeyError, TypeError) as e:
            bad = f"{meta.relative_to(root)} is unreadable ({type(e).__name__}); re-run 'edgeprune export'"
            out += [Artifact(p, cid, p.suffix[1:], str(p.relative_to(root)), export_error=bad,
                             precision=_split_name(p)[1])
                    for p in sorted(artifacts_dir.glob(f"{cid}.*")) if p.suffix in RUNTIMES and _split_name(p)[0] == cid]
            continue
        for (fmt, precision), rec in sorted(record_entries(record).items()):
            path = artifacts_dir / str(rec.get("file", artifact_name(cid, fmt, precision)))
            display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            err = rec.get("error")
            if err is None and not path.is_file():
                err = f"{display} is missing; re-run 'edgeprune export'"
            out.append(Artifact(path, cid, fmt, display, rec.get("layout"), rec.get("sha256"),
                                f"export: {err}" if err and rec.get("error") else err, rec.get("gzip_bytes"),
                                anchor=cid == "dense",  # export.pipeline.DENSE_ID (not imported: it needs torch)
                                precision=precision))
    return out
