"""What an export reads: sources (weights + how to load them) and the held-out inputs of parity and agreement.

A run directory gives one :class:`Source` per candidate and ``dense`` (each with
the sha256 the run recorded for its weights: a mismatch means damaged) and the
parity inputs from ``data/test.npz``; ``export_model`` builds its own from one
checkpoint and random inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import EdgepruneError
from ..models import ModelSpec
from ..records import DENSE, CandidateRecord, RunRecord
from ..runio import RunDir
from .int8 import AgreementInputs

N_PARITY = 64
DENSE_ID = DENSE  # the dense model's id, spelled once in edgeprune.records


@dataclass
class Source:
    """What one artifact id is exported from."""

    id: str
    weights: Path
    recorded: str  # weights path as written in <id>.json
    spec: ModelSpec
    input_shape: list[int]
    load: Callable[[], object]  # -> eval torch model with masks baked in
    expected: str | None = None  # sha256 the run recorded for the weights (a mismatch means damaged)
    structure: str | None = None  # channel plan of a structured candidate, as written in <id>.json

    def record(self, sha: str) -> dict:
        """The ``source`` field of ``artifacts/<id>.json``."""
        return {"weights": self.recorded, "sha256": sha, **({"structure": self.structure} if self.structure else {})}


@dataclass
class ParityInputs:
    x: np.ndarray  # NCHW float32
    origin: str
    agreement: AgreementInputs | None = None  # int8 vs fp32 twin (default: the parity inputs)

    def agreement_inputs(self) -> AgreementInputs:
        return self.agreement or AgreementInputs(self.x, None, self.origin)


def check_weights(source: Source, sha: str) -> None:
    if source.expected and sha != source.expected:
        raise EdgepruneError(f"Weights of {source.id!r} ({source.recorded}) are damaged: their sha256 differs from "
                             "the run's record.", "Re-run 'edgeprune prune' with the same options on this run: it "
                                                  "rebuilds weights that do not match their record.")


def run_sources(rd: RunDir, run: RunRecord, candidates: list[str] | None) -> list[Source]:
    from ..models import build
    from .prepare import strip_masks

    spec = ModelSpec.from_json(run.model)
    shape = [int(s) for s in run.data["input_shape"]]
    available = rd.candidate_ids() + ([DENSE_ID] if rd.dense_weights.is_file() else [])
    wanted = candidates or available
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise EdgepruneError(f"Unknown candidate {unknown[0]!r} in {rd.root}.",
                             f"Available: {', '.join(available) or 'none (run edgeprune prune first)'}.")

    def loader(path: Path, structure: Path | None) -> Callable[[], object]:
        def load():
            if structure is not None:  # channels removed: rebuild from the channel plan, never unpickle
                from ..prune.structured.plan import rebuild

                return rebuild(structure, path)
            model = build(spec, path)
            strip_masks(model)
            return model.eval()
        return load

    sources = []
    for cid in wanted:
        structure = None
        if cid == DENSE_ID:
            path, expected = rd.dense_weights, run.dense.get("sha256")
        else:
            cand = CandidateRecord.read(rd.candidate_json(cid), "Re-run 'edgeprune prune' with the same options.")
            path, expected = rd.candidate_weights(cid, cand.get("weights")), cand.get("sha256")
            if cand.get("structure"):
                structure = rd.candidate_structure(cid, cand.structure)
                if not structure.is_file():
                    raise EdgepruneError(f"Channel plan of {cid!r} is missing ({structure}).",
                                         "Re-run edgeprune prune on this run.")
        if not path.is_file():
            raise EdgepruneError(f"Weights of {cid!r} are missing ({path}).", "Re-run edgeprune prune on this run.")
        sources.append(Source(cid, path, path.relative_to(rd.root).as_posix(), spec, shape, loader(path, structure),
                              expected, structure.relative_to(rd.root).as_posix() if structure else None))
    return sources


def run_inputs(rd: RunDir) -> ParityInputs:
    """Parity on the first :data:`N_PARITY` test images; int8 agreement on all of them (with labels)."""
    if not rd.test_npz.is_file():
        raise EdgepruneError(f"{rd.test_npz} is missing (held-out inputs for the parity check).",
                             "Re-run edgeprune prune on this run.")
    with np.load(rd.test_npz) as data:
        x_all = np.ascontiguousarray(data["x"], dtype=np.float32)
        y_all = np.asarray(data["y"]) if "y" in data else None
    x = x_all[:N_PARITY]
    agree = AgreementInputs(x_all, y_all, f"data/test.npz (all {len(x_all)})")
    return ParityInputs(x, f"data/test.npz[:{len(x)}]", agree)


def check_shape(input_shape) -> list[int]:
    shape = [int(s) for s in input_shape]
    if len(shape) != 4 or min(shape) <= 0:
        raise EdgepruneError(f"--input-shape {','.join(map(str, shape))} is not N,C,H,W with positive sizes.",
                             "Example: --input-shape 1,3,32,32")
    return shape
