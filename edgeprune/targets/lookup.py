"""Finding a profile: the built-in ones by name, or a user's ``.toml`` by path."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from ..errors import EdgepruneError
from .parse import read_target_file
from .schema import Target

# Built-in profiles ship inside the package (edgeprune/_targets -> ../targets in a checkout).
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "_targets"


def builtin_paths() -> dict[str, Path]:
    """Built-in profile name -> file."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def list_targets() -> list[Target]:
    """All built-in profiles, validated, sorted by family then name."""
    return sorted((read_target_file(p) for p in builtin_paths().values()), key=lambda t: (t.family, t.name))


def load_target(name_or_path: str | os.PathLike | Target) -> Target:
    """A built-in profile by name, or a user's ``.toml`` by path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    s = str(name_or_path)
    if s.endswith(".toml") or os.sep in s or Path(s).is_file():
        return read_target_file(s)
    known = builtin_paths()
    if s in known:
        return read_target_file(known[s])
    close = difflib.get_close_matches(s, known, n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    raise EdgepruneError(f"Unknown target {s!r}.",
                         f"{hint}Known targets: {', '.join(known) or 'none'}; or give a path to your own .toml.")
