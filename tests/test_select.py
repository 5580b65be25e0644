"""Selection: Pareto front, budgets, reasons and the infeasible path (hand-made rows, no artifacts)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import edgeprune.select as sel_mod
from edgeprune.cli import main
from edgeprune.errors import EdgepruneError, NothingFeasible
from edgeprune.runio import RunDir, read_json, write_json
from edgeprune.select import Budgets, Figure, Row, choose
from edgeprune.select.core import dominates, pareto_front
from edgeprune.select.rows import rows_from_bench

PROV = {"accuracy": "measured", "size_mb": "measured", "latency_ms": "estimated", "peak_ram_mb": "measured-on-host"}


def row(cid: str, acc: float, size: float, lat: float, ram: float, fmt: str = "onnx", error: str | None = None) -> Row:
    vals = {"accuracy": acc, "size_mb": size, "latency_ms": lat, "peak_ram_mb": ram}
    return Row(cid, fmt, {k: Figure(v, PROV[k]) for k, v in vals.items()}, error=error)


def keys(rows) -> list[str]:
    return sorted(r.key for r in rows)


# ----------------------------------------------------------------- dominance and the front
def test_dominance_is_strict_somewhere_and_weak_everywhere():
    a, b = row("a", 0.9, 1, 10, 50), row("b", 0.9, 2, 10, 50)
    assert dominates(a, b) and not dominates(b, a)
    c = row("c", 0.95, 3, 10, 50)  # more accurate but larger than a: a trade-off
    assert not dominates(a, c) and not dominates(c, a)


def test_duplicates_never_dominate_each_other_and_tie_breaks_by_key():
    a, a2 = row("b-dup", 0.9, 1, 10, 50), row("a-dup", 0.9, 1, 10, 50)
    assert not dominates(a, a2) and not dominates(a2, a)
    out = choose([a, a2], Budgets())
    assert out.front == ["a-dup.onnx", "b-dup.onnx"]
    assert out.choice.row.key == "a-dup.onnx"
    assert out.verdict("b-dup.onnx").reason == "identical figures to a-dup.onnx; tie broken by key order"


def test_pareto_front_on_hand_made_rows():
    rows = [
        row("acc", 0.99, 8.0, 40, 90),    # most accurate
        row("fast", 0.90, 6.0, 5, 60),    # fastest
        row("small", 0.92, 1.0, 20, 40),  # smallest, least RAM
        row("dom", 0.90, 8.0, 45, 95),    # worse than acc everywhere
        row("tie", 0.90, 6.0, 5, 60, fmt="tflite"),  # duplicate of fast in another format
        row("wk", 0.99, 8.0, 40, 91),     # equal to acc except more RAM: weakly dominated
    ]
    assert keys(pareto_front(rows)) == ["acc.onnx", "fast.onnx", "small.onnx", "tie.tflite"]
    out = choose(rows, Budgets())
    assert out.choice.row.key == "acc.onnx"
    assert out.verdict("wk.onnx").dominated_by == ["acc.onnx"]
    assert out.verdict("dom.onnx").dominated_by[0] == "acc.onnx"  # best-ranked dominator first
    assert out.verdict("wk.onnx").reason == "dominated by acc.onnx: better on peak_ram_mb, no worse elsewhere"


def test_ties_broken_by_latency_then_size():
    rows = [row("slow", 0.95, 1.0, 30, 50), row("fast-big", 0.95, 4.0, 10, 40), row("fast-small", 0.95, 2.0, 10, 60)]
    out = choose(rows, Budgets())
    assert out.choice.row.key == "fast-small.onnx"
    assert out.verdict("fast-big.onnx").reason.startswith(
        "ties fast-small.onnx on accuracy, latency_ms but has higher size_mb than fast-small.onnx (4 MB vs 2 MB)")
    assert out.verdict("slow.onnx").reason.startswith("ties fast-small.onnx on accuracy but has higher latency_ms")


# ----------------------------------------------------------------- budgets and reasons
def test_budget_filtering_and_how_much_a_row_breaks():
    rows = [row("big", 0.97, 4.0, 10, 50), row("mid", 0.95, 2.5, 12, 50), row("tiny", 0.80, 0.5, 8, 30)]
    out = choose(rows, Budgets(max_size_mb=3.0, min_accuracy=0.9))
    assert out.choice.row.key == "mid.onnx"
    big, tiny = out.verdict("big.onnx"), out.verdict("tiny.onnx")
    assert not big.feasible and big.pareto
    assert [(v.budget, v.excess) for v in big.violations] == [("max_size_mb", pytest.approx(1.0))]
    assert big.reason == "breaks size_mb 4 MB > max_size_mb 3 MB (+1 MB, +33%)"
    assert tiny.reason == "breaks accuracy 0.8000 < min_accuracy 0.9000 (-0.1000, -11%)"
    assert out.verdict("mid.onnx").reason.startswith("chosen")
    # no budget: the most accurate row wins
    assert choose(rows, Budgets()).choice.row.key == "big.onnx"


def test_lower_accuracy_front_row_reason_and_excluded_rows():
    rows = [row("a", 0.97, 2.0, 10, 50), row("b", 0.93, 1.0, 10, 50),
            row("c", 0.99, 1.0, 5, 10, fmt="tflite"), row("d", 0, 0, 0, 0, error="ORT cannot load it")]
    rows.append(Row("e", "onnx", {"accuracy": Figure(0.99, "measured")}))
    out = choose(rows, Budgets(), fmt="onnx")
    assert out.choice.row.key == "a.onnx"
    assert out.front == ["a.onnx", "b.onnx"]  # c would dominate both, but it is not the shipped format
    assert out.verdict("b.onnx").reason.startswith("feasible and on the front, but has lower accuracy than a.onnx")
    assert out.verdict("c.tflite").reason == "excluded: format tflite is not the shipped format onnx"
    assert out.verdict("d.onnx").reason == "excluded: the bench failed on it (ORT cannot load it)"
    assert out.verdict("e.onnx").reason == "excluded: no size_mb, latency_ms, peak_ram_mb figure in the bench"
    assert not any(out.verdict(k).eligible for k in ("c.tflite", "d.onnx", "e.onnx"))


def test_nothing_feasible_names_the_closest_row():
    rows = [row("far", 0.9, 10.0, 10, 50), row("near", 0.9, 2.2, 10, 50), row("acc", 0.7, 1.0, 10, 50)]
    out = choose(rows, Budgets(max_size_mb=2.0, min_accuracy=0.8))
    assert out.choice is None
    assert out.closest.row.key == "near.onnx"  # 10% over size beats 12.5% under accuracy
    assert all(v.reason.startswith("breaks") for v in out.verdicts)


def test_duplicate_keys_are_a_bug():
    with pytest.raises(ValueError):
        choose([row("a", 0.9, 1, 1, 1), row("a", 0.8, 1, 1, 1)], Budgets())


# ----------------------------------------------------------------- bench rows
def bench_row(cid, fmt, acc, size_bytes, lat, ram, lat_prov="estimated", sha="s", error=None) -> dict:
    return {"artifact": f"{cid}.{fmt}", "candidate": cid, "format": fmt, "runtime": "onnxruntime",
            "runtime_version": "1.31.1", "threads": 4, "sha256": sha, "size_bytes": size_bytes,
            "latency_ms": None if lat is None else {"median": lat, "p90": lat * 1.1, "runs": 50},
            "peak_ram_mb": ram, "accuracy": acc, "n_eval": 269,
            "provenance": {"size": "measured", "latency": lat_prov, "peak_ram": "measured-on-host",
                           "accuracy": "measured"},
            "methods": {"latency": f"{lat_prov} in a test"}, "error": error}


def test_rows_prefer_device_measured_figures():
    bench = {"rows": [bench_row("c", "onnx", 0.9, 2_000_000, 30.0, 50, "estimated"),
                      bench_row("c", "onnx", 0.9, 2_000_000, 41.0, 50, "measured"),
                      bench_row("c", "onnx", 0.9, 2_000_000, 29.0, 50, "estimated"),
                      bench_row("x", "onnx", 0.9, 2_000_000, 1.0, 50, "measured", sha="old"),
                      bench_row("x", "onnx", 0.9, 2_000_000, 9.0, 50, "estimated", sha="new"),
                      bench_row("bad", "tflite", None, None, None, None, error="LiteRT cannot load it"),
                      bench_row("nolat", "onnx", 0.9, 1_000_000, None, 50, "unavailable")]}
    rows = {r.key: r for r in rows_from_bench(bench)}
    c = rows["c.onnx"]
    assert (c.value("latency_ms"), c.figures["latency_ms"].provenance) == (41.0, "measured")
    assert c.figures["latency_ms"].method == "measured in a test"
    assert c.value("size_mb") == 2.0 and c.figures["peak_ram_mb"].provenance == "measured-on-host"
    assert rows["x.onnx"].value("latency_ms") == 9.0  # a stale artifact's device row is not merged
    assert rows["bad.tflite"].error == "LiteRT cannot load it"
    reason = choose(list(rows.values()), Budgets()).verdict("nolat.onnx").reason
    assert reason == "excluded: no latency_ms figure in the bench (latency_ms: unavailable in a test)"


# ----------------------------------------------------------------- I/O: select() and the CLI
PI_BUDGETS = dict(max_size_mb=8.0, max_ram_mb=200.0, max_latency_ms=100.0, min_accuracy=0.5)


def _pi():
    """tests/fixtures/test-pi.toml (a real profile, preferring ONNX) with these budgets."""
    from dataclasses import replace

    from test_ship import TARGET

    return replace(TARGET, budgets=replace(TARGET.budgets, **PI_BUDGETS))


PI = _pi()


def _pi_file(rd) -> str:
    """PI as a profile file beside the run, for the CLI."""
    from test_ship import profile_file

    return str(profile_file(rd.root.parent, **PI_BUDGETS))


@pytest.fixture
def bench_run(tmp_path):
    rd = RunDir(tmp_path / "run")
    write_json(rd.bench_json("test-pi"), {"target": "test-pi", "mode": "host-estimate", "rows": [
        bench_row("dense", "onnx", 0.99, 6_000_000, 40.0, 90),
        # accuracies apart by more than their 95% intervals on 269 images (else they tie, see test_noise.py)
        bench_row("product-balanced", "onnx", 0.95, 2_500_000, 30.0, 70),
        bench_row("magnitude-interp-0.9", "onnx", 0.88, 900_000, 25.0, 60),
        bench_row("product-balanced", "tflite", 0.95, 2_400_000, 20.0, 65),
    ]})
    return rd


def test_tighter_size_budget_picks_a_smaller_candidate(bench_run):
    loose = sel_mod.select(bench_run.root, PI)
    assert loose["choice"]["key"] == "dense.onnx"
    tight = sel_mod.select(bench_run.root, PI, max_size_mb=3.0)
    assert tight["choice"]["key"] == "product-balanced.onnx"
    tighter = sel_mod.select(bench_run.root, PI, max_size_mb=1.0)
    assert tighter["choice"]["key"] == "magnitude-interp-0.9.onnx"
    assert loose["choice"]["size_mb"] > tight["choice"]["size_mb"] > tighter["choice"]["size_mb"]
    doc = read_json(bench_run.selection_json)
    assert doc == tighter
    assert doc["budgets"]["max_size_mb"] == {"limit": 1.0, "objective": "size_mb", "source": "--max-size-mb"}
    assert doc["budgets"]["max_ram_mb"]["source"] == "target test-pi"
    assert doc["choice"]["provenance"]["latency_ms"] == "estimated"
    reasons = {r["key"]: r["reason"] for r in doc["rows"]}
    assert reasons["dense.onnx"] == "breaks size_mb 6 MB > max_size_mb 1 MB (+5 MB, +500%)"
    assert reasons["product-balanced.tflite"].startswith("excluded: format tflite")
    assert "onnx" in doc["format_policy"] and doc["front"]


def test_format_flag_switches_the_competing_rows(bench_run):
    doc = sel_mod.select(bench_run.root, PI, fmt="tflite")
    assert doc["choice"]["key"] == "product-balanced.tflite" and doc["format"] == "tflite"
    assert "--format" in doc["format_policy"]


def test_nothing_feasible_exit_code_2_and_failed_selection_written(bench_run):
    res = CliRunner().invoke(main, ["select", str(bench_run.root), "--target", _pi_file(bench_run),
                                   "--max-size-mb", "0.5"])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert line.count("\n") == 0 and line.startswith("error: Nothing meets the test-pi budget")
    assert "magnitude-interp-0.9.onnx" in line and "max_size_mb 0.5 MB (+0.4 MB, +80%)" in line
    assert "--max-size-mb" in line and "selection.failed.json" in line
    assert not bench_run.selection_json.exists()  # no good selection yet; a failed one never takes its name
    doc = read_json(bench_run.selection_failed_json)
    assert doc["choice"] is None and doc["nothing_feasible"]["closest"] == "magnitude-interp-0.9.onnx"
    assert all(r["reason"] for r in doc["rows"])


def test_cli_select_success_prints_summary(bench_run):
    res = CliRunner().invoke(main, ["select", str(bench_run.root), "--target", _pi_file(bench_run),
                                   "--max-size-mb", "3"])
    assert res.exit_code == 0, res.output
    assert "selected product-balanced.onnx for test-pi" in res.output and "(estimated)" in res.output


@pytest.mark.parametrize("kw, match", [
    ({"min_accuracy": 95}, r"not a fraction in \[0, 1\]\. Example: --min-accuracy 0\.95"),
    ({"min_accuracy": -1}, r"not a fraction in \[0, 1\]\. Example: --min-accuracy 0\.95"),
    ({"max_size_mb": -1}, r"not a number > 0\. Example: --max-size-mb 5"),
    ({"max_size_mb": 0}, r"not a number > 0"),  # a profile's budgets must be > 0 too
    ({"max_latency_ms": float("nan")}, r"not a number > 0"),
])
def test_bad_budgets_are_one_line_errors(bench_run, kw, match):
    with pytest.raises(EdgepruneError, match=match):
        sel_mod.select(bench_run.root, PI, **kw)
    assert not bench_run.selection_json.exists()


def test_missing_bench_and_missing_format(bench_run, monkeypatch):
    with pytest.raises(EdgepruneError, match="edgeprune bench"):
        sel_mod.select(bench_run.root / "nope", PI)
    bench = read_json(bench_run.bench_json("test-pi"))
    bench["rows"] = [r for r in bench["rows"] if r["format"] == "tflite"]
    write_json(bench_run.bench_json("test-pi"), bench)
    with pytest.raises(EdgepruneError, match="has no onnx rows.*--format tflite"):
        sel_mod.select(bench_run.root, PI)
    assert not bench_run.selection_json.exists()


def test_nothing_feasible_raises_from_python(bench_run):
    with pytest.raises(NothingFeasible) as e:
        sel_mod.select(bench_run.root, PI, max_latency_ms=1.0)
    assert e.value.exit_code == 2 and "latency_ms" in str(e.value)


BLOCK_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'matplotlib', 'timm', 'safetensors', 'litert_torch'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, _Block())
"""


def test_select_imports_no_torch():
    code = BLOCK_TORCH + "import edgeprune.select, edgeprune.select.core, edgeprune.select.rows\nprint('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_real_profile_defaults_and_preferred_format(tmp_path):
    """raspberry-pi-4 from edgeprune.targets: its budgets apply and its preferred format (tflite) competes."""
    from edgeprune.targets import load_target

    prof = load_target("raspberry-pi-4")
    rd = RunDir(tmp_path / "run")
    limit_bytes = int(prof.budgets.max_size_mb * 1e6)
    write_json(rd.bench_json(prof.name), {"target": prof.name, "rows": [
        bench_row("dense", prof.preferred_format, 0.99, limit_bytes + 1, 10.0, 50),  # just over the default size
        bench_row("product-balanced", prof.preferred_format, 0.97, 1_000_000, 10.0, 50),
        bench_row("product-balanced", "onnx" if prof.preferred_format == "tflite" else "tflite", 0.99, 1, 1.0, 1),
    ]})
    doc = sel_mod.select(rd.root, "raspberry-pi-4")
    assert doc["choice"]["key"] == f"product-balanced.{prof.preferred_format}"
    assert doc["budgets"]["max_size_mb"] == {"limit": prof.budgets.max_size_mb, "objective": "size_mb",
                                             "source": "target raspberry-pi-4"}
    assert doc["budgets_rationale"] == prof.budgets.source
    assert json.loads(json.dumps(doc)) == read_json(rd.selection_json)
