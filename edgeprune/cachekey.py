"""Cache keys: the one place that says which inputs decide each stage's output.

A stage's key is a :class:`StageKey`: its name and the inputs that change its
output. ``key.hex`` is the SHA-256 of the inputs as JSON
(:func:`edgeprune.runio.sha256_json`, sorted keys; the stage name is not hashed,
so digests equal those of the documents each stage hashed before this module);
``key.matches(doc)`` checks a file that stores the inputs as fields instead
(``ranges.json``). Every stage declares its inputs in :data:`STAGES`, so a call
that forgets one, or passes one the stage does not declare, fails at once.

    key = stage_key("candidate", dense=sha, plan=plan, signal="product", recipe=r, calib=c)
    if cached.get("key") != key.hex: ...recompute...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .runio import sha256_json


@dataclass(frozen=True)
class KeyInputs:
    """A stage's inputs: ``required`` always hashed; ``optional`` hashed only when given (not None)."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


STAGES: dict[str, KeyInputs] = {}


def define(stage: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> KeyInputs:
    """Declare ``stage``'s inputs (once; a second, different declaration is a bug)."""
    spec = KeyInputs(tuple(required), tuple(optional))
    if STAGES.setdefault(stage, spec) != spec:
        raise ValueError(f"cache key of stage {stage!r} already declared as {STAGES[stage]}")
    return spec


# prune: dense model (user checkpoint's hash or the training recipe, which holds the seed)
define("dense", ("spec", "data", "checkpoint", "recipe"))
# prune Phase 1: stored as fields of ranges.json, checked with StageKey.matches
define("ranges", ("dense_sha256", "calib", "criteria"))
# prune Phase 3, unstructured: the schedule only when iterative (one-shot keys predate schedules)
define("candidate", ("dense", "plan", "signal", "recipe", "calib"), ("schedule",))
# prune, structured: Phase 1 fields of ranges-structured.json, and the candidates
define("structured-ranges", ("dense_sha256", "schema", "calib"))
define("structured-candidate", ("dense", "granularity", "schema", "kept", "signal", "recipe", "calib", "schedule"))
# export: int8 calibration images drawn from the run's training split (data/calib.npz)
define("int8-calibration", ("data", "input_size", "seed", "n", "data_info"))


@dataclass(frozen=True)
class StageKey:
    """Every input that changes one stage's output."""

    stage: str
    inputs: Mapping[str, Any]

    @property
    def hex(self) -> str:
        """SHA-256 of the inputs (the ``key`` a stage stores next to its output)."""
        return sha256_json(dict(self.inputs))

    def matches(self, doc: Mapping[str, Any], absent_ok: tuple[str, ...] = ()) -> bool:
        """``doc`` stores these inputs as fields; an ``absent_ok`` field missing from ``doc`` matches (older files)."""
        return all(doc[k] == v if k in doc else (k in absent_ok or v is None) for k, v in self.inputs.items())


def stage_key(stage: str, **inputs: Any) -> StageKey:
    """The key of ``stage`` from its declared inputs (all required ones, optional ones when not None)."""
    spec = STAGES.get(stage)
    if spec is None:
        raise ValueError(f"no cache key declared for stage {stage!r}; known: {', '.join(STAGES)}")
    missing = [k for k in spec.required if k not in inputs]
    extra = [k for k in inputs if k not in spec.required and k not in spec.optional]
    if missing or extra:
        raise TypeError(f"cache key of {stage!r}: missing {missing}, undeclared {extra}")
    kept = {k: inputs[k] for k in spec.required}
    kept.update({k: inputs[k] for k in spec.optional if inputs.get(k) is not None})
    return StageKey(stage, kept)


__all__ = ["KeyInputs", "STAGES", "StageKey", "define", "stage_key"]
