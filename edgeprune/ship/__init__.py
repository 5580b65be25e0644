"""Ship: the bundle a firmware team copies to the device.

``ship(run, target)`` writes ``RUN/ship/<target>/`` for the row chosen by
``edgeprune select``: the model file, ``manifest.json``, ``eval.npz``,
``README.md`` and ``report.html``. The bundle is built in a temporary
directory and renamed into place (atomic), and re-shipping an unchanged
selection is a no-op (idempotent). With a signing key the manifest gets a
detached ed25519 signature (:mod:`.signing`). ``edgeprune.ship.verify`` checks
a bundle on the device. Importing this package imports neither torch nor matplotlib.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..locks import clean_stage_temps, stage_lock
from ..records import ManifestRecord
from ..runio import atomic_dir, sha256_file, sha256_json
from .inputs import ShipInputs, load_inputs
from .manifest import MANIFEST, safe_name

if TYPE_CHECKING:
    from ..targets import Target

__all__ = ["ship", "load_inputs", "ShipInputs"]


def cache_key(inp: ShipInputs) -> str:
    """Changes whenever anything that goes into the bundle changes."""
    return sha256_json({"selection": inp.selection_key, "model": inp.fmt_meta["sha256"],
                        "test": sha256_file(inp.run.test_npz), "run": inp.run_info.to_json(),
                        "candidate": inp.candidate and inp.candidate.to_json(),
                        "edgeprune": __version__})


def _up_to_date(bundle: Path, key: str) -> bool:
    manifest = ManifestRecord.read_or_none(bundle / MANIFEST)
    if manifest is None or manifest.get("cache_key") != key:
        return False
    for name, entry in manifest.get("files", {}).items():
        p = safe_name(bundle, name)
        if p is None or not p.is_file() or sha256_file(p) != entry.get("sha256"):
            return False
    return True


def ship(run: str | Path, target: "str | Target", sign_key: str | os.PathLike | None = None) -> Path:
    """Write (or keep, if current) ``RUN/ship/<target>/`` and return its path.

    ``target``: the name the selection was made for, or the :class:`~edgeprune.targets.Target` itself.
    ``sign_key``: an ed25519 private key (PEM); the manifest gets ``manifest.json.sig``.
    """
    from ..targets import Target
    from .bundle import build_bundle
    from .signing import load_private_key, sign_bundle

    inp = load_inputs(run, target.name if isinstance(target, Target) else target)
    key_obj = load_private_key(sign_key) if sign_key else None  # a bad key fails before any work
    final = inp.run.ship_dir(inp.target)
    with stage_lock(inp.run.root, "ship"):
        clean_stage_temps(inp.run.root, "ship")  # left by a killed ship
        key = cache_key(inp)
        if _up_to_date(final, key):
            if key_obj is not None:
                sign_bundle(final, key_obj)
            return final
        with atomic_dir(final) as tmp:
            build_bundle(inp, tmp, key)
            if key_obj is not None:
                sign_bundle(tmp, key_obj)
    return final
