"""Verify a ship bundle on the device: hashes, then accuracy through the runtime.

Torch-free: numpy, the standard library and the model's runtime only.
Tolerance: see :func:`edgeprune.ship.manifest.tolerance`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import EdgepruneError
from ..runio import read_json, sha256_file
from .evalset import load_eval, run_eval
from .manifest import EVAL_FILE, MANIFEST, safe_name, tolerance


def _check_files(bundle: Path, m: dict, say: Callable[[bool, str], None]) -> bool:
    """sha256 of every file the manifest lists; the model and eval set must be listed."""
    files = m.get("files") or {}
    ok = True
    for name in (m.get("file"), EVAL_FILE):
        if name not in files:
            say(False, f"{name}: not listed in {MANIFEST}")
            ok = False
    if m.get("file") in files and files[m["file"]].get("sha256") != m.get("sha256"):
        say(False, f"{m['file']}: {MANIFEST} gives two different sha256 for it")
        ok = False
    for name, entry in sorted(files.items()):
        p = safe_name(bundle, name)
        if p is None:
            say(False, f"{name!r}: not a plain file name inside the bundle")
        elif not p.is_file():
            say(False, f"{name}: missing")
        elif (got := sha256_file(p)) != entry.get("sha256"):
            say(False, f"{name}: sha256 {got[:16]}... does not match the manifest's {str(entry.get('sha256'))[:16]}...")
        else:
            say(True, f"{name}: sha256 matches")
            continue
        ok = False
    return ok


def _check_accuracy(bundle: Path, m: dict, say: Callable[[bool, str], None]) -> bool:
    ev, inp = m["eval"], m["input"]
    x, y, shipped_pred = load_eval(bundle / EVAL_FILE)
    if len(y) == 0:
        say(False, f"{EVAL_FILE}: empty")
        return False
    res = run_eval(bundle / m["file"], x, y, inp["layout"], ev.get("threads"))
    ok = True
    if res.input_name != inp["name"] or list(res.input_shape) != list(inp["shape"]):
        say(False, f"model input is {res.input_name} {res.input_shape}, manifest says {inp['name']} {inp['shape']}")
        ok = False
    same = (res.runtime, res.runtime_version, res.machine) == (ev["runtime"], ev["runtime_version"], ev["machine"])
    tol = tolerance(len(y), same)
    diff = abs(res.accuracy - ev["expected_accuracy"])
    agree = "" if shipped_pred is None else f", {float((res.predictions == shipped_pred).mean()):.1%} same predictions"
    where = "same runtime and CPU" if same else (f"{res.runtime} {res.runtime_version} on {res.machine} vs "
                                                 f"{ev['runtime']} {ev['runtime_version']} on {ev['machine']}")
    acc_ok = diff <= tol + 1e-12
    say(acc_ok, f"accuracy {res.accuracy:.4f} on {len(y)} images vs {ev['expected_accuracy']:.4f} at ship time "
                f"(|diff| {diff:.4f}, allowed {tol:.4f}: {where}{agree})")
    return ok and acc_ok


def verify(bundle: str | Path, log: Callable[[str], None] = print) -> bool:
    """True if every file hash and the eval-set accuracy match the manifest."""
    b = Path(bundle)
    try:
        m = read_json(b / MANIFEST)
    except FileNotFoundError:
        raise EdgepruneError(f"{b} has no {MANIFEST}; it is not a ship bundle.",
                             "Give the directory RUN/ship/<target> written by 'edgeprune ship'.") from None
    except ValueError as e:
        raise EdgepruneError(f"{b / MANIFEST} is not valid JSON ({e}).", "Re-run 'edgeprune ship'.") from None
    problems = 0

    def say(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        log(f"{'ok  ' if ok else 'FAIL'} {text}")

    if _check_files(b, m, say):
        _check_accuracy(b, m, say)
    else:
        log("skip accuracy: a model that does not match its manifest is not run")
    log(f"verified {b}: {m.get('candidate', {}).get('id')} ({m.get('format')}) for {m.get('target', {}).get('name')}"
        if not problems else f"{b}: {problems} problem(s); the bundle is not what was shipped")
    return problems == 0
