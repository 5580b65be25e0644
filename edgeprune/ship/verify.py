"""Verify a ship bundle on the device: contents, signature, hashes, then accuracy through the runtime.

Torch-free: numpy, the standard library and the model's runtime only
(``cryptography`` too when a signature is checked).
Tolerance: see :func:`edgeprune.ship.manifest.tolerance`.

What it proves: every file the manifest lists is byte for byte what ship
wrote, nothing else is in the bundle (no extra files, no symbolic links: none
is ever read through), and the model reproduces its ship-time accuracy on
``eval.npz`` through this runtime. Hashes in the same folder only catch
accidents: whoever can replace the model can rewrite the manifest too. Only a
signature checked with ``--public-key`` shows that the manifest (and so every
file) comes from the holder of the private key; without it the result says
"integrity only, not signed".
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from ..errors import EdgepruneError
from .evalset import load_eval, run_eval
from .manifest import EVAL_FILE, MANIFEST, safe_name, tolerance
from .signing import SIGNATURE

Say = Callable[[bool, str], None]


def _read_nofollow(path: Path) -> bytes:
    """The file's bytes; refuses (OSError) a symbolic link instead of following it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _sha256_nofollow(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _read_manifest(b: Path) -> tuple[bytes, dict]:
    path = b / MANIFEST
    if path.is_symlink():
        raise EdgepruneError(f"{path} is a symbolic link; verify never reads through one.",
                             "Copy the bundle as plain files (e.g. cp -rL), then verify the copy.")
    if not path.is_file():
        raise EdgepruneError(f"{b} has no {MANIFEST}; it is not a ship bundle.",
                             "Give the directory RUN/ship/<target> written by 'edgeprune ship'.")
    data = _read_nofollow(path)
    try:
        m = json.loads(data)
    except ValueError as e:
        raise EdgepruneError(f"{path} is not valid JSON ({e}).", "Re-run 'edgeprune ship'.") from None
    if not isinstance(m, dict):
        raise EdgepruneError(f"{path} holds a JSON {type(m).__name__}, not an object; it is not a ship manifest.",
                             "Re-run 'edgeprune ship' and copy the bundle again.")
    return data, m


def _check_contents(bundle: Path, m: dict, say: Say) -> None:
    """Nothing in the bundle but the listed files, the manifest and its signature; no links."""
    allowed = set(m.get("files") or {}) | {MANIFEST, SIGNATURE}
    for p in sorted(bundle.iterdir()):
        if p.is_symlink():
            say(False, f"{p.name}: a symbolic link (to {os.readlink(p)}); not followed, a bundle holds plain files")
        elif p.name not in allowed:
            say(False, f"{p.name}: extra {'folder' if p.is_dir() else 'file'} not listed in {MANIFEST}")


def _check_files(bundle: Path, m: dict, say: Say) -> dict[str, str]:
    """sha256 of every file the manifest lists; returns name -> problem for those that failed."""
    files = m.get("files") if isinstance(m.get("files"), dict) else {}
    bad: dict[str, str] = {}
    for name in (m.get("file"), EVAL_FILE):
        if name not in files:
            bad[str(name)] = f"not listed in {MANIFEST}"
            say(False, f"{name}: {bad[str(name)]}")
    if m.get("file") in files and (files[m["file"]] or {}).get("sha256") != m.get("sha256"):
        bad[m["file"]] = f"{MANIFEST} gives two different sha256 for it"
        say(False, f"{m['file']}: {bad[m['file']]}")
    for name, entry in sorted(files.items()):
        p = safe_name(bundle, name)
        want = (entry or {}).get("sha256") if isinstance(entry, dict) else None
        if p is None:
            problem = f"{name!r} is not a plain file name inside the bundle"
        elif p.is_symlink():
            problem = "a symbolic link; not followed"
        elif not p.is_file():
            problem = "missing"
        elif (got := _sha256_nofollow(p)) != want:
            problem = f"sha256 {got[:16]}... does not match the manifest's {str(want)[:16]}..."
        else:
            say(True, f"{name}: sha256 matches")
            continue
        bad.setdefault(name, problem)
        if p is None:
            say(False, problem)
        else:
            say(False, f"{name}: {problem}")
    return bad


def _check_signature(bundle: Path, manifest: bytes, key: object | None, say: Say) -> str:
    """What the bundle's authenticity rests on, in words (a failed check is a FAIL line)."""
    sig_path = bundle / SIGNATURE
    present = sig_path.is_file() and not sig_path.is_symlink()
    if key is None:
        return ("integrity only: signed, but the signature was not checked (give --public-key)" if present
                else "integrity only, not signed")
    from .signing import check_signature, fingerprint

    if not present:
        say(False, f"{SIGNATURE}: missing; the bundle is not signed, so it cannot be shown to come from key "
                   f"{fingerprint(key)}")
        return "not signed"
    ok = check_signature(manifest, _read_nofollow(sig_path), key)
    say(ok, f"signature: {'valid' if ok else 'NOT valid'} ed25519 signature over {MANIFEST} for key {fingerprint(key)}")
    return f"signed by key {fingerprint(key)}" if ok else "signature not valid"


def _check_accuracy(bundle: Path, m: dict, say: Say) -> bool:
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


def _skip_reason(m: dict, bad: dict[str, str]) -> str | None:
    """Why accuracy cannot be checked, or None when it can."""
    if m.get("file") in bad or not m.get("file"):
        return "a model that does not match its manifest is not run"
    if EVAL_FILE in bad:
        return f"{EVAL_FILE} is {bad[EVAL_FILE]}, so there is no trusted eval set to run"
    if not isinstance(m.get("eval"), dict) or not isinstance(m.get("input"), dict):
        return f"{MANIFEST} has no 'eval' and 'input' sections"
    return None


def verify(bundle: str | Path, log: Callable[[str], None] = print, public_key: str | os.PathLike | None = None) -> bool:
    """True if the bundle holds exactly its listed files, their hashes and the eval-set accuracy match the
    manifest and, with ``public_key``, its signature is valid."""
    b = Path(bundle)
    data, m = _read_manifest(b)
    problems = 0

    def say(ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        log(f"{'ok  ' if ok else 'FAIL'} {text}")

    key = None
    if public_key is not None:
        from .signing import load_public_key

        key = load_public_key(public_key)  # a bad key file is an error before any check
    _check_contents(b, m, say)
    authenticity = _check_signature(b, data, key, say)
    bad = _check_files(b, m, say)
    skip = _skip_reason(m, bad)
    if skip is None:
        _check_accuracy(b, m, say)
    else:
        log(f"skip accuracy: {skip}")
    if problems:
        log(f"{b}: {problems} problem(s); the bundle is not what was shipped")
    else:
        log(f"verified {b}: {(m.get('candidate') or {}).get('id')} ({m.get('format')}) for "
            f"{(m.get('target') or {}).get('name')}; {authenticity}")
    return problems == 0
