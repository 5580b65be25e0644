"""Screen before export: unstructured candidates already dominated before any artifact is made.

Every runtime on our targets densifies unstructured sparsity at load, so the dense
model and every unstructured candidate run the *same dense network*: in one format
and precision their latency is the same within noise (the default build measured all
its unstructured artifacts within 1.5% of dense), and what tells them apart is file
size, peak RAM and accuracy. Among unstructured candidates, ``X`` dominates ``Y``
before export when

- ``X`` keeps strictly fewer prunable weights (higher global sparsity, same model):
  its sparse files are smaller and hold fewer bytes at load, and
- ``X`` is at least as accurate on the test split (the fine-tuned weights' top-1;
  every artifact is parity-checked against them at export).

With ``edgeprune build --screen``, ``Y`` is then not exported nor benched;
``RUN/screen.json`` and ``selection.json`` name each screened candidate with the
one that dominates it and why. Structured candidates are other, smaller networks
(their latency differs), and the dense model is the bench's anchor: neither is
ever screened. It is opt-in because the rule is not sound on every objective:
``benchmarks/screen.py`` checked it against a bench of every artifact of the
default build, where latency and accuracy held but peak RAM did not always
follow sparsity (ONNX Runtime's RAM-limited encodings, int8 TFLite) and int8
ONNX file size did not either (benchmarks/screen.json).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import EdgepruneError
from ..records import CandidateRecord
from ..runio import RunDir, read_json, sha256_json, write_json

RULE = ("an unstructured candidate is screened when another unstructured one keeps fewer prunable weights "
        "(global sparsity higher by more than 0.5 points) at no lower test accuracy: runtimes densify both at load, so they run the same "
        "dense network at the same latency, and the sparser one's files are smaller")


@dataclass(frozen=True)
class Screened:
    candidate: str
    dominated_by: str
    reason: str


@dataclass
class Screen:
    kept: list[str]
    screened: list[Screened]
    key: str

    def to_json(self) -> dict:
        return {"rule": RULE, "key": self.key, "kept": self.kept, "screened": [asdict(s) for s in self.screened]}


#: sparsity lead below which two candidates count as twins (files of equal size either way: measured)
MIN_GAP = 0.005


def _dominates(x: dict, y: dict) -> bool:
    return x["global_sparsity"] > y["global_sparsity"] + MIN_GAP and x["test_accuracy"] >= y["test_accuracy"]


def screen_candidates(cands: list[dict]) -> Screen:
    """Which candidates to export; the screened ones with the candidate that dominates each."""
    pool = [c for c in cands if (c.get("granularity") or "unstructured") == "unstructured"]
    screened = []
    for y in sorted(cands, key=lambda c: c["id"]):
        rivals = [x for x in pool if x is not y and y in pool and _dominates(x, y)]
        if not rivals:
            continue
        x = max(rivals, key=lambda c: (c["test_accuracy"], c["global_sparsity"], c["id"]))
        screened.append(Screened(y["id"], x["id"], (
            f"{x['id']} keeps fewer weights ({x['global_sparsity']:.1%} vs {y['global_sparsity']:.1%} sparsity) at no "
            f"lower test accuracy ({x['test_accuracy']:.4f} vs {y['test_accuracy']:.4f}); both run the same dense "
            "network once the runtime densifies them")))
    gone = {s.candidate for s in screened}
    return Screen([c["id"] for c in sorted(cands, key=lambda c: c["id"]) if c["id"] not in gone], screened, _key(cands))


def _key(cands: list[dict]) -> str:
    return sha256_json({"rule": RULE, "candidates": sorted((c["id"], c.get("sha256")) for c in cands)})


def _candidates(rd: RunDir) -> list[dict]:
    return [CandidateRecord.read(rd.candidate_json(c)).to_json() for c in rd.candidate_ids()]


def screen_run(run) -> Screen:
    """Screen the run's candidates and write ``RUN/screen.json``."""
    rd = RunDir(run)
    res = screen_candidates(_candidates(rd))
    write_json(rd.screen_json, res.to_json())
    return res


def current_screen(rd: RunDir) -> dict | None:
    """``RUN/screen.json`` (this module's own file) if it still describes the run's candidates (else None)."""
    if not rd.screen_json.is_file():
        return None
    try:
        doc = read_json(rd.screen_json)
        cands = _candidates(rd)
    except (ValueError, OSError, EdgepruneError):
        return None
    return doc if isinstance(doc, dict) and doc.get("key") == _key(cands) else None
