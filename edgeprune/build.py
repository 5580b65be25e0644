"""``edgeprune build``: prune -> export -> bench -> select -> ship, resumable.

Each stage is resumable on its own (its outputs are its cache), so build is just
the stages in order. It records wall time and peak RSS per stage in
``RUN/build.json`` (peak RSS is reset between stages through
/proc/self/clear_refs where the kernel allows it).
"""
from __future__ import annotations

import datetime as _dt
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import NothingFeasible
from .runio import RunDir, read_json, write_json


def _vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def _stage(name: str, log: list[dict]) -> Iterator[None]:
    print(f"\n== {name} ==", file=sys.stderr, flush=True)
    reset = _reset_peak()
    t0 = time.perf_counter()
    rec: dict = {"stage": name}
    try:
        yield
        rec["status"] = "done"
    except NothingFeasible:
        rec["status"] = "nothing-feasible"
        raise
    except BaseException:
        rec["status"] = "failed"
        raise
    finally:
        rec["seconds"] = round(time.perf_counter() - t0, 2)
        rec["peak_rss_mb"] = _vm_hwm_mb()
        rec["peak_rss_scope"] = "this stage (VmHWM reset before it)" if reset else "process so far (reset unavailable)"
        log.append(rec)


def run_build(cfg, out: str | Path, target: str, budgets: dict | None = None, precision: str = "both") -> Path:
    """Run every stage for ``target``; return the ship bundle directory.

    ``precision``: ``fp32``, ``int8`` or ``both`` (default) artifacts are exported, benched and compete."""
    from .export import export_run
    from .bench import bench_is_current, bench_run
    from .prune import run_prune
    from .select import select
    from .ship import ship
    from .targets import load_target

    from .precision import check_precisions

    precisions = check_precisions(precision)  # fail on bad input before any work
    profile = load_target(target)
    name = profile.name
    rd = RunDir(out)
    log: list[dict] = []
    t0 = time.perf_counter()
    try:
        with _stage("prune", log):
            run_prune(cfg, out)
        with _stage("export", log):
            export_run(out, precisions=precisions)
        with _stage("bench", log):
            if bench_is_current(out, target):
                print(f"bench: {rd.bench_json(name)} covers every current artifact; kept", file=sys.stderr)
            else:
                bench_run(out, target)
        with _stage("select", log):
            select(out, target, **{k: v for k, v in (budgets or {}).items() if v is not None})
        with _stage("ship", log):
            bundle = ship(out, target)
    finally:
        if rd.root.exists():
            write_json(rd.root / "build.json", {
                "target": name, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(time.perf_counter() - t0, 2), "stages": log,
            })
    _summary(rd, name, Path(bundle), log)
    return Path(bundle)


def _summary(rd: RunDir, target: str, bundle: Path, log: list[dict]) -> None:
    sel = read_json(rd.selection_json)
    choice = sel.get("choice") or {}
    lines = ["", f"edgeprune build: {target}"]
    lines += [f"  {r['stage']:<7} {r['seconds']:>7.1f} s" for r in log]
    if choice:
        prov = choice.get("provenance", {})
        lines.append(f"  chose   {choice['key']} ({choice.get('reason', '')})")
        lines.append(f"          accuracy {choice['accuracy']:.4f} ({prov.get('accuracy')}), size {choice['size_mb']:.2f} MB "
                     f"({prov.get('size_mb')}), latency {choice['latency_ms']:.1f} ms ({prov.get('latency_ms')}), "
                     f"peak RAM {choice['peak_ram_mb']:.0f} MB ({prov.get('peak_ram_mb')})")
    lines.append(f"  bundle  {bundle}")
    lines.append(f"  check it on the device: edgeprune verify {bundle}")
    print("\n".join(lines), file=sys.stderr, flush=True)
