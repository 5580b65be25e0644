"""Ship: the bundle a firmware team copies to the device.

``ship(run, target)`` writes ``RUN/ship/<target>/`` for the row chosen by
``edgeprune select``: the model file, ``manifest.json``, ``eval.npz``,
``README.md`` and ``report.html``. The bundle is built in a temporary
directory and renamed into place (atomic), and re-shipping an unchanged
selection is a no-op (idempotent). ``edgeprune.ship.verify`` checks a bundle
on the device. Importing this package imports neither torch nor matplotlib.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .. import __version__
from ..runio import atomic_dir, read_json, sha256_file, sha256_json
from .inputs import ShipInputs, load_inputs
from .manifest import MANIFEST, safe_name

__all__ = ["ship", "load_inputs", "ShipInputs"]


def cache_key(inp: ShipInputs) -> str:
    """Changes whenever anything that goes into the bundle changes."""
    return sha256_json({"selection": inp.selection_key, "model": inp.fmt_meta["sha256"],
                        "test": sha256_file(inp.run.test_npz), "run": inp.run_info, "candidate": inp.candidate,
                        "edgeprune": __version__})


def _up_to_date(bundle: Path, key: str) -> bool:
    try:
        manifest = read_json(bundle / MANIFEST)
    except (OSError, ValueError):
        return False
    if manifest.get("cache_key") != key:
        return False
    for name, entry in manifest.get("files", {}).items():
        p = safe_name(bundle, name)
        if p is None or not p.is_file() or sha256_file(p) != entry.get("sha256"):
            return False
    return True


def ship(run: str | Path, target: str) -> Path:
    """Write (or keep, if current) ``RUN/ship/<target>/`` and return its path."""
    from .bundle import build_bundle

    inp = load_inputs(run, target)
    final = inp.run.ship_dir(inp.target)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):  # left by a killed ship
        shutil.rmtree(stale, ignore_errors=True)
    key = cache_key(inp)
    if _up_to_date(final, key):
        return final
    with atomic_dir(final) as tmp:
        build_bundle(inp, tmp, key)
    return final
