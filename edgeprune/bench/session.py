"""One bench session: every artifact measured in its own subprocess, sequentially.

Artifacts run one after another (parallel runs would share cores and corrupt
each other's latency). Latency is sampled in several rounds over all
artifacts (see :class:`.settings.BenchSettings`). Off the device, every worker also
times a partner model in blocks alternating with the artifact: the run's
dense artifact of the same format (the anchor), so that the estimate scales a
ratio measured under the same conditions (see :mod:`.estimate`). The
reference models are measured alone at the start and the end of the session
(their host latency and floor, drift and cross-checks).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from ..log import info
from ..runio import sha256_file
from ..targets import Target
from .artifacts import Artifact
from .client import Measure, run_worker
from .device import HOST_ESTIMATE, ON_DEVICE, Detection, host_info, resolve_mode, usable_cores
from .estimate import HostReference, anchor_estimate, calibrate, precision_fallback
from .reference import ensure_reference
from .rounds import anchor_floors, latency_rounds, round_figures, rounds_todo
from .rows import apply_estimate, base_row, file_facts, make_row, no_estimate_reason
from .settings import BenchSettings, Partner
from .settle import settled_after_first

Log = Callable[[str], None]


def log_stderr(msg: str) -> None:
    """The default ``log`` of the bench functions: the ``edgeprune`` logger (:mod:`edgeprune.log`)."""
    info(msg)


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
                measure: Measure) -> tuple[list[dict], list[list[dict]], dict[str, Artifact], dict[int, str]]:
    """Round 1 measures everything; later rounds time latency only (see :class:`.settings.BenchSettings`),
    except for artifacts settled after round 1 (see :mod:`.settle`).

    Off the device the anchors (see :func:`_partner`) are measured first, so
    that the others can be paired with them. Returns round 1's result per
    artifact, the later rounds' results per artifact and the anchors that
    measured cleanly, by format, and the settled artifacts with why.
    """
    start = time.perf_counter()
    first: list[dict | None] = [None] * len(artifacts)
    later: list[list[dict]] = [[] for _ in artifacts]
    anchors: dict[str, Artifact] = {}
    fixed_seconds = 0.0
    settled: dict[int, str] = {}
    for rnd in range(settings.max_rounds):
        if rnd == settings.rounds:
            fixed_seconds = time.perf_counter() - start
        elif rnd > settings.rounds and time.perf_counter() - start - fixed_seconds > settings.extra_time * fixed_seconds:
            log(f"extra latency rounds stopped after {rnd - settings.rounds}: their time budget is used up")
            break
        if rnd == 0:
            todo = sorted(range(len(artifacts)), key=lambda i: not _is_anchor(artifacts[i], refs))
        else:
            todo = [i for i in rounds_todo(rnd, [round_figures(f, l) for f, l in zip(first, later)], settings)
                    if i not in settled]
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
        if rnd == 0 and settings.settle_margin:
            settled = settled_after_first(artifacts, first, settings.settle_margin, settings.stable_within)
            if settled:
                log(f"{len(settled)} artifact(s) need no more latency rounds, each dominated after round 1 by one "
                    f"no larger, no heavier and no less accurate that is {settings.settle_margin:g}x faster or runs the same "
                    "dense network: " + ", ".join(artifacts[i].display for i in sorted(settled)))
        if rnd:
            log(f"latency round {rnd + 1}: {len(todo)} artifact(s)" + ("" if rnd < settings.rounds else
                f" whose rounds did not yet agree within {settings.stable_within:.1%}"))
    return first, later, anchors, settled


def bench_artifacts(artifacts: list[Artifact], target: Target, on_device: bool | None = None,
                    eval_npz: Path | None = None, eval_name: str | None = None,
                    settings: BenchSettings | None = None, log: Log = log_stderr,
                    measure: Measure | None = None) -> dict:
    """Measure ``artifacts`` for ``target``; return the bench document (not written).

    ``measure`` runs each worker job (default: :func:`.client.run_worker`); a journal answers it from saved results
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
    first, later, anchors, settled = _run_rounds(artifacts, refs, threads, settings, eval_npz, log, measure)
    measured = [(a, latency_rounds(res, later[i], settings, settled.get(i)) if res.get("latency_ms") else res)
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
            rows.append({**base_row(a, mode), "error": res["error"]})
            continue
        row = make_row(a, res, mode, target.threads(a.format), eval_name, settings.min_runs)
        if mode == HOST_ESTIMATE:
            kind = _est_kind(a, refs)
            entry = entries.get(kind)
            if entry is not None and kind != a.kind:  # int8 without its own published reference
                entry = precision_fallback(entry, a.precision, target)
            apply_estimate(row, entry, no_estimate_reason(target, a.format, entries), target, str(a.path))
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


