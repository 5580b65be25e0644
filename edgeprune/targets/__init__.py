"""Device profiles (``targets/*.toml``): loading, validation and display. Torch-free.

A profile is a TOML file whose schema *is* the dataclasses in :mod:`.schema`:
every field's type hint and optional ``check`` metadata drive the parser
(:mod:`.parse`), so a malformed profile fails with one line naming the file,
the field and what was expected. Unknown keys are errors too (a typo must not
silently drop a budget).

``load_target(name_or_path)`` (:mod:`.lookup`) accepts a built-in name
(``edgeprune targets`` lists them) or a path to a user's own ``.toml``;
:mod:`.display` formats them for ``edgeprune targets``.
"""
from __future__ import annotations

from .display import format_table, format_target
from .lookup import BUILTIN_DIR, builtin_paths, list_targets, load_target
from .schema import FORMATS, Calibration, Target

__all__ = ["BUILTIN_DIR", "FORMATS", "Calibration", "Target", "builtin_paths", "format_table", "format_target",
           "list_targets", "load_target"]
