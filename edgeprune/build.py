"""``edgeprune build``: prune -> export -> bench -> select -> ship, resumable.

Each stage is resumable on its own (its outputs are its cache), so build is just
the stages in order. It exports and benches only the format its selection
compares, the one the target ships (``formats=`` asks for others too;
:func:`build_formats`).
It records wall time and peak RSS per stage in ``RUN/build.json`` (peak RSS
is reset between stages through /proc/self/clear_refs where the kernel
allows it).
"""
from __future__ import annotations

import datetime as _dt
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import EdgepruneError, NothingFeasible
from .locks import clean_stage_temps
from .log import info
from .records import DENSE
from .records import BuildRecord, SelectionRecord, write_document
from .runio import RunDir



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
    info(f"\n== {name} ==")
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


#: how a build leaves a failed format out (``{ok}``: the formats that worked)
EXPORT_SKIP_HINT = "re-run the build with --formats {ok}"


def build_formats(profile, asked: list[str] | None) -> tuple[list[str], dict[str, str], str]:
    """The formats to export and bench, why each other one is skipped, and the format to ship.

    Default: the one format the build's selection compares, the profile's
    preferred format (else the first it runs): select lets only that format's
    rows compete, so exporting and benching another would buy nothing but
    time. ``asked`` (``--formats``) replaces that; it must include one the
    target runs, or nothing could ship.
    """
    from .export.formats import FORMATS

    runs = [f for f in FORMATS if f in profile.runtimes]
    if asked:
        FORMATS.check(asked)
        fmts = list(dict.fromkeys(asked))
        skipped = {f: "not in --formats" for f in FORMATS if f not in fmts}
    else:
        ship_fmt = profile.preferred_format if profile.preferred_format in runs else (runs or [None])[0]
        fmts = [ship_fmt] if ship_fmt else []
        skipped = {}
        for f in FORMATS:
            if f not in profile.runtimes:
                skipped[f] = (f"{profile.name} has no {f} runtime in its profile, so a {f} file could not run there "
                              f"(--formats {','.join(FORMATS)} exports and benches it anyway)")
            elif f != ship_fmt:
                skipped[f] = (f"{profile.name} ships {ship_fmt} (its preferred format) and the selection compares "
                              f"only {ship_fmt} rows, so a {f} artifact could not be chosen "
                              f"(--formats {','.join(FORMATS)} exports and benches it anyway)")
    runnable = [f for f in fmts if f in profile.runtimes]
    if not runnable:
        raise EdgepruneError(f"--formats {','.join(fmts)}: {profile.name} runs none of these, so nothing could ship.",
                             f"Add one it runs: {', '.join(profile.runtimes)}.")
    return fmts, skipped, profile.preferred_format if profile.preferred_format in fmts else runnable[0]


def _other_runnable(profile, fmts: list[str]) -> str | None:
    from .export.formats import FORMATS

    return next((f for f in FORMATS if f in profile.runtimes and f not in fmts), None)


def _export(out, fmts: list[str], precisions: list[str], wanted: list[str] | None, other: str | None) -> None:
    """The export stage; when the one format a default build exports fails, the advice names the other one
    the target runs (``other``)."""
    from .export import export_run
    from .export.failures import ExportFailed

    try:
        export_run(out, formats=fmts, precisions=precisions, skip_hint=EXPORT_SKIP_HINT, candidates=wanted)
    except ExportFailed as e:
        if other is None:
            raise
        raise ExportFailed(e.problem, f"{e.fix} To ship {other} instead, re-run the build with --formats {other}.") \
            from None


def run_build(cfg, out: str | Path, target: str, budgets: dict | None = None, tolerances: dict | None = None,
              formats: list[str] | None = None, precision: str = "both", screen: bool = False) -> Path:
    """Run every stage for ``target``; return the ship bundle directory.

    ``formats``: what to export and bench (default: the format the target ships);
    ``precision``: ``fp32``, ``int8`` or ``both`` (default) artifacts of those formats
    are exported, benched and compete; ``tolerances``: the selection's tie rule
    (see :func:`edgeprune.select.select`). ``screen``: leave out unstructured
    candidates dominated before export (:mod:`edgeprune.select.screen`).
    """
    from .bench import bench_is_current, bench_run
    from .prune import run_prune
    from .select import select, tolerances_from
    from .select.screen import screen_run
    from .ship import ship
    from .targets import load_target

    from .precision import check_precisions

    precisions = check_precisions(precision)  # fail on bad input before any work
    profile = load_target(target)
    fmts, skipped, ship_fmt = build_formats(profile, formats)
    tolerances_from(tolerances)
    name = profile.name
    rd = RunDir(out)
    log: list[dict] = []
    t0 = time.perf_counter()
    failed = False
    screened: list[dict] | None = None  # None: every candidate exported (no --screen)
    try:
        with _stage("prune", log):
            run_prune(cfg, out)
        with _stage("export", log):
            for f, why in skipped.items():
                info(f"export: skipping {f}: {why}")
            wanted = None
            if screen:
                res = screen_run(out)
                screened = [{"candidate": s.candidate, "dominated_by": s.dominated_by} for s in res.screened]
                for s in res.screened:
                    info(f"export: skipping {s.candidate} (dominated before export by {s.dominated_by}: {s.reason}; "
                          "without --screen it is kept)")
                wanted = [*res.kept, DENSE]
            _export(out, fmts, precisions, wanted, None if formats else _other_runnable(profile, fmts))
        with _stage("bench", log):
            if bench_is_current(out, profile, formats=fmts, candidates=wanted):
                info(f"bench: {rd.bench_json(name)} covers every current artifact; kept")
            else:
                bench_run(out, profile, formats=fmts, candidates=wanted)
        with _stage("select", log):
            select(out, profile, fmt=None if ship_fmt == profile.preferred_format else ship_fmt, tolerances=tolerances,
                   **{k: v for k, v in (budgets or {}).items() if v is not None})
        with _stage("ship", log):
            bundle = ship(out, profile)
    except BaseException:
        failed = True
        raise
    finally:
        _write_log(rd, {"target": name, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        "seconds": round(time.perf_counter() - t0, 2), "formats": fmts, "precisions": precisions,
                        "skipped_formats": skipped, "screened_candidates": screened,
                        "stages": log}, quiet=failed)
    _summary(rd, name, Path(bundle), log, fmts, skipped, screened)
    return Path(bundle)


def _write_log(rd: RunDir, doc: dict, quiet: bool) -> None:
    """Write build.json. After a failed stage a write error is dropped: the stage's error is the one to show
    (often the same full or read-only disk), not a second one about this log."""
    if not rd.root.exists():
        return
    try:
        clean_stage_temps(rd.root, "build")
        write_document(BuildRecord, rd.build_json, doc)
    except (EdgepruneError, OSError):
        if not quiet:
            raise


def _summary(rd: RunDir, target: str, bundle: Path, log: list[dict], fmts: list[str], skipped: dict[str, str],
             screened: list[dict] | None) -> None:
    choice = SelectionRecord.read(rd.selection_json).get("choice") or {}
    lines = ["", f"edgeprune build: {target}"]
    lines += [f"  {r['stage']:<7} {r['seconds']:>7.1f} s" for r in log]
    lines.append(f"  formats {', '.join(fmts)}" + "".join(f"; skipped {f}: {why}" for f, why in skipped.items()))
    if screened:
        lines.append(f"  screened {len(screened)} unstructured candidate(s) dominated before export (not exported or "
                     f"benched; RUN/screen.json says why): "
                     + ", ".join(f"{s['candidate']} (by {s['dominated_by']})" for s in screened))
    if choice:
        prov = choice.get("provenance", {})
        lines.append(f"  chose   {choice['key']} ({choice.get('reason', '')})")
        lines.append(f"          accuracy {choice['accuracy']:.4f} ({prov.get('accuracy')}), size {choice['size_mb']:.2f} MB "
                     f"({prov.get('size_mb')}), latency {choice['latency_ms']:.1f} ms ({prov.get('latency_ms')}), "
                     f"peak RAM {choice['peak_ram_mb']:.0f} MB ({prov.get('peak_ram_mb')})")
    lines.append(f"  bundle  {bundle}")
    lines.append(f"  check it on the device: edgeprune verify {bundle}")
    info("\n".join(lines))
