"""The typed records (edgeprune.records): every kind loads from a run written by the layout before them,
round-trips to the same JSON, rejects bad files in one line, and docs/run-directory.md lists every field."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from edgeprune.errors import EdgepruneError
from edgeprune.records import (RECORDS, ArtifactRecord, BenchRecord, BenchRow, BuildRecord, CandidateRecord,
                               ManifestRecord, RangesRecord, Record, RunRecord, SelectionRecord, StrategiesRecord,
                               StructuredRangesRecord)
from edgeprune.runio import RunDir

FIXTURE = Path(__file__).parent / "fixtures" / "run-v1"
DOC = Path(__file__).parents[1] / "docs" / "run-directory.md"


def _files(rd: RunDir) -> list[tuple[type[Record], Path]]:
    """Every record file of the fixture run, through RunDir's paths."""
    target = "raspberry-pi-4"
    out = [(RunRecord, rd.run_json), (RangesRecord, rd.ranges_json), (StrategiesRecord, rd.strategies_json),
           (StructuredRangesRecord, rd.ranges_structured_json), (StrategiesRecord, rd.strategies_structured_json),
           (BenchRecord, rd.bench_json(target)), (SelectionRecord, rd.selection_json), (BuildRecord, rd.build_json),
           (ManifestRecord, rd.manifest_json(target))]
    out += [(CandidateRecord, rd.candidate_json(c)) for c in rd.candidate_ids()]
    out += [(ArtifactRecord, rd.artifact_json(c)) for c in rd.artifact_ids()]
    return out


def test_every_record_kind_loads_from_a_run_of_the_previous_layout_and_round_trips():
    files = _files(RunDir(FIXTURE))
    kinds = {cls for cls, _ in files} | {BenchRow}
    assert kinds == set(RECORDS)  # a new record kind needs a file in the fixture run
    for cls, path in files:
        rec = cls.read(path)
        assert isinstance(rec, cls)
        text = path.read_text(encoding="utf-8")
        assert json.dumps(rec.to_json(), indent=2) + "\n" == text, path  # same keys, values and order
    bench = BenchRecord.read(RunDir(FIXTURE).bench_json("raspberry-pi-4"))
    assert bench.rows and all(isinstance(r, BenchRow) for r in bench.rows)
    assert {r.key.name for r in bench.rows} >= {"dense.tflite", "product-aggressive.int8.tflite"}
    art = ArtifactRecord.read(RunDir(FIXTURE).artifact_json("product-aggressive"))
    assert art.entry("tflite", "int8")["rejected"] and art.entry("tflite")["sha256"]
    structured = CandidateRecord.read(RunDir(FIXTURE).candidate_json("structured-product-aggressive"))
    assert structured.kind == "structured" and structured.channels


def test_unknown_keys_round_trip_and_absent_fields_stay_absent(tmp_path):
    doc = {"id": "x", "from_the_future": {"a": 1}, "signal": None}
    rec = CandidateRecord.from_json(doc)
    assert rec.extra == {"from_the_future": {"a": 1}} and rec.signal is None
    assert rec.to_json() == doc and list(rec.to_json()) == list(doc)
    assert rec.kind == "unstructured"  # candidates older than granularity
    rec.write(tmp_path / "c.json")
    assert CandidateRecord.read(tmp_path / "c.json") == rec


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "holds a JSON list, not an object"),
    ('{"id": "x", "sha256": 3}', "'sha256' is a number, not a string"),
    ('{"id": "x", "epochs": "3"}', "'epochs' is a string, not a number"),
    ("{not json", "is not readable JSON"),
])
def test_a_bad_record_is_one_line_naming_file_problem_and_fix(tmp_path, content, problem):
    path = tmp_path / "candidate.json"
    path.write_text(content)
    with pytest.raises(EdgepruneError) as e:
        CandidateRecord.read(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and problem in msg and "edgeprune prune" in e.value.fix


def test_a_bench_row_is_checked_where_it_is(tmp_path):
    rd = RunDir(tmp_path)
    shutil.copytree(FIXTURE / "bench", tmp_path / "bench")
    doc = json.loads(rd.bench_json("raspberry-pi-4").read_text())
    del doc["rows"][1]["format"]
    rd.bench_json("raspberry-pi-4").write_text(json.dumps(doc))
    with pytest.raises(EdgepruneError, match=r"raspberry-pi-4.json rows\[1\] has no 'format'"):
        BenchRecord.read(rd.bench_json("raspberry-pi-4"))


def _section(text: str, heading: str) -> str:
    """The doc's text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    rest = text[start + len(heading) + 2:]
    stop = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[:stop.start()] if stop else rest


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_docs_list_every_field_of_every_record(cls):
    section = _section(DOC.read_text(encoding="utf-8"), cls.DOC)
    named = set(re.findall(r'"([A-Za-z0-9_]+)"\s*:', section)) | set(re.findall(r"`([A-Za-z0-9_]+)`", section))
    missing = [f for f in cls.fields() if f not in named]
    assert not missing, f"docs/run-directory.md '{cls.DOC}' does not list {missing} of {cls.__name__}"


def test_a_required_field_missing_is_named():
    with pytest.raises(EdgepruneError, match=r"^run.json has no 'model'\. Run 'edgeprune prune'"):
        RunRecord.from_json({"data": {}, "dense": {}}, "run.json")


def test_select_on_the_fixture_run_makes_the_selection_it_holds(tmp_path):
    from edgeprune.select import select

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    before = SelectionRecord.read(RunDir(FIXTURE).selection_json)
    after = select(run, "raspberry-pi-4")
    assert after["choice"]["key"] == before.choice["key"] and after["front"] == before.front
    assert [r["key"] for r in after["rows"]] == [r["key"] for r in before.rows]
