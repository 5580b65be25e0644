"""On-device measurements from trtexec and TFLite benchmark_model logs: parsing, matching, import, select, ship.

Fixture logs (tests/fixtures/devicelogs, see its README) follow each tool's
printed wording at several versions; their figures are test values. Import
tests run on the fake run with real tiny ONNX/TFLite artifacts (test_ship's
helpers) and hand-written bench rows.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path, PureWindowsPath

import pytest
from click.testing import CliRunner

from edgeprune.bench import import_device_files
from edgeprune.bench.devicelogs import parse_log, trt_version
from edgeprune.bench.exporttimes import with_times
from edgeprune.bench.store import format_summary
from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.runio import RunDir, read_json, sha256_file
from edgeprune.select import select
from edgeprune.select.rows import rows_from_bench
from edgeprune.ship import ship
from test_ship import TFLITE_ID, export_artifacts, write_bench

FIX = Path(__file__).parent / "fixtures" / "devicelogs"
QUIET = {"log": lambda s: None}


def fixture(name: str, model: str = "model.onnx", sha: str | None = None, size_mb: str = "0",
            dims: str = "1x3x32x32") -> str:
    """A fixture log with its placeholders filled: ``sha`` becomes a sha256sum line naming ``model``."""
    text = (FIX / name).read_text()
    line = f"{sha}  {PureWindowsPath(model).name}" if sha else ""
    return (text.replace("@SHA256SUM@", line).replace("@MODEL@", model).replace("@SIZE_MB@", size_mb)
            .replace("@DIMS@", dims))


def parse(name: str, **kw):
    return parse_log(Path(name), fixture(name, **kw).encode())


# ---------------------------------------------------------------- parsing, several versions' wording
@pytest.mark.parametrize("name, tool, version, precision, threads, statistic, value, runs, device", [
    ("trtexec-7.1-xavier.log", "trtexec", None, "fp16", None, "median", 0.665039, 4405, None),
    ("trtexec-8.2-nano.log", "trtexec", "8.2.1", "fp16", None, "median", 1.84145, 10, "NVIDIA Tegra X1"),
    ("trtexec-10.3-orin.log", "trtexec", "10.3.0", "int8", None, "median", 0.220215, 13227, "Orin"),
    ("benchmark_model-1.15.log", "benchmark_model", None, None, 2, "mean", 4.1849, 239, None),
    ("benchmark_model-2.4-pi4.log", "benchmark_model", None, None, 4, "mean", 2.33477, 428, None),
    ("benchmark_model-litert-pi5.log", "benchmark_model", None, None, 4, "median", 0.536, 1842, None),
])
def test_fixture_logs_parse(name, tool, version, precision, threads, statistic, value, runs, device):
    model = "/home/nvidia/bundle/model." + ("onnx" if tool == "trtexec" else "tflite")
    log = parse(name, model=model)
    assert (log.tool, log.version, log.precision, log.threads, log.device) == (tool, version, precision, threads, device)
    assert log.model == model and log.model_name == model.rsplit("/", 1)[1] and log.model_sha256 is None
    assert (log.latency.statistic, log.latency.value, log.latency.runs) == (statistic, pytest.approx(value), runs)


def test_trtexec_summaries_and_percentiles_by_version():
    old, v82, v10 = (parse(n).latency.values for n in ("trtexec-7.1-xavier.log", "trtexec-8.2-nano.log",
                                                         "trtexec-10.3-orin.log"))
    assert old == {"min": 0.642578, "max": 1.46948, "mean": 0.671329, "median": 0.665039, "p99": 0.749268}
    assert v82["p99"] == 1.88483 and "p90" not in v82
    assert (v10["p90"], v10["p95"], v10["p99"]) == (0.228027, 0.232422, 0.265137)
    d = parse("trtexec-8.2-nano.log").details
    assert d["gpu_compute_median_ms"] == 1.79594 and d["data_transfers"] == "Enabled"
    assert d["export_times"] == "trtexec-jetson-nano-times.json" and d["input_dims"] == {"input": "1x3x32x32"}
    assert parse("trtexec-10.3-orin.log", dims="1x3x64x64").details["input_dims"] == {"input": "1x3x64x64"}
    assert parse("trtexec-7.1-xavier.log").details["gpu_compute_median_ms"] == 0.619141


@pytest.mark.parametrize("line, version", [
    ("[I] TensorRT version: 8.5.2", "8.5.2"), ("[I] TensorRT version: 8001", "8.0.1"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # trtexec", "8.2.1"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec", "8.5.2"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] [b17] # trtexec", "10.3.0"),
    ("&&&& RUNNING TensorRT.trtexec [TensorRT v101600] [b72] # trtexec", "10.16.0"),
    ("&&&& RUNNING TensorRT.trtexec # ./trtexec --onnx=m.onnx", None)])
def test_trtexec_version_wordings(line, version):
    from edgeprune.bench.devicelogs import _lines

    assert trt_version(_lines(line)) == version


def test_benchmark_model_memory_and_timings():
    pi4, pi5, old = (parse(n, model="m.tflite").details for n in (
        "benchmark_model-2.4-pi4.log", "benchmark_model-litert-pi5.log", "benchmark_model-1.15.log"))
    assert pi4["memory"] == {"peak_footprint_mb": {"init": 3.19922, "overall": 5.47266}} and pi4["init_ms"] == 3.412
    assert pi5["memory"] == {"footprint_delta_mb": {"init": 2.83594, "overall": 4.92188}}
    assert pi5["peak_rss_mb"] == 11.9531 and pi5["delegates"] == ["XNNPACK"] and pi5["first_ms"] == 1.204
    assert old["memory"] == {} and old["init_ms"] == 6.12 and "first_ms" not in old
    stats = parse("benchmark_model-litert-pi5.log", model="m.tflite").latency.values
    assert stats == {"min": 0.494, "max": 0.901, "mean": 0.54107, "std": 0.029, "p5": 0.503, "median": 0.536,
                     "p95": 0.593}


def test_sha256sum_line_names_the_model():
    sha = "ab" * 32
    assert parse("trtexec-8.2-nano.log", model="/data/model.onnx", sha=sha).model_sha256 == sha
    text = fixture("trtexec-8.2-nano.log").replace("\n&&&& RUNNING", f"\n{sha}  other.onnx\n&&&& RUNNING", 1)
    assert parse_log(Path("x.log"), text.encode()).model_sha256 is None  # a hash of another file is not the model's


def _cut(text: str, marker: str, keep: int = 0) -> bytes:
    i = text.index(marker) + keep
    return text[:i].encode()


@pytest.mark.parametrize("name, marker, keep, message", [
    ("trtexec-8.2-nano.log", "=== Performance summary ===", 0, "without '=== Performance summary ===' figures"),
    ("trtexec-8.2-nano.log", "[11/20/2026-09:14:41] [I] Latency: min", 60, "without the '&&&& PASSED' line"),
    ("trtexec-8.2-nano.log", "&&&& PASSED", 0, "without the '&&&& PASSED' line"),
    ("trtexec-7.1-xavier.log", "[08/16/2026-13:11:15] [I] GPU Compute", 0, "without the '&&&& PASSED' line"),
    ("benchmark_model-2.4-pi4.log", "Inference timings in us", 0, "without its 'Inference timings in us' line"),
    ("benchmark_model-litert-pi5.log", "INFO: Running benchmark for at least 50", 0, "without its 'Inference timings"),
])
def test_truncated_logs_are_refused_in_one_line(name, marker, keep, message):
    text = fixture(name, model="m.onnx" if "trtexec" in name else "m.tflite")
    with pytest.raises(EdgepruneError) as e:
        parse_log(Path(name), _cut(text, marker, keep))
    assert message in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith(name)


def test_failed_runs_engine_logs_and_other_files_are_refused():
    text = fixture("trtexec-8.2-nano.log")
    for bad, message in (
            (text.replace("&&&& PASSED", "&&&& FAILED"), "trtexec reported FAILED"),
            (text.replace("mean = 1.83897 ms, median = 1.84145 ms, percentile(99%) = 1.88483 ms\n[11/20/2026-09:14:41] "
                          "[I] End", "mean = 1.83897 ms\n[11/20/2026-09:14:41] [I] End"), "Latency summary lacks median"),
            (text.replace("Model: model.onnx", "Model:").replace("--onnx=model.onnx", "--loadEngine=m.engine"),
             "names no ONNX model"),
            (fixture("benchmark_model-2.4-pi4.log") + "Benchmarking failed.\n", "Benchmarking failed"),
            ("hello\nworld\n", "neither an edgeprune bench JSON")):
        with pytest.raises(EdgepruneError, match=re.escape(message)):
            parse_log(Path("x.log"), bad.encode())


def test_times_json_recomputes_the_summary_and_refuses_another_run():
    log = parse("trtexec-8.2-nano.log")
    times = json.loads((FIX / "trtexec-8.2-times.json").read_text())
    assert len(times) == 12  # 8.2 exports the 2 warm-up queries too
    got = with_times(log, FIX / "trtexec-8.2-times.json", times)
    assert got.latency.runs == 10 and got.latency.values["median"] == pytest.approx(1.84145)
    assert got.latency.values["mean"] == pytest.approx(1.83897, rel=1e-5) and got.details["times_queries"] == 10
    with pytest.raises(EdgepruneError, match="holds 11 queries"):
        with_times(log, Path("t.json"), times[1:])
    other = [dict(e, latencyMs=e["latencyMs"] * 1.2) for e in times]
    with pytest.raises(EdgepruneError, match="differs from .* summary"):
        with_times(log, Path("t.json"), other)
    with pytest.raises(EdgepruneError, match="not a trtexec --exportTimes file"):
        with_times(log, Path("t.json"), [{"a": 1}])


# ---------------------------------------------------------------- import into a run
@pytest.fixture(scope="session")
def art_run(fake_run, tmp_path_factory) -> Path:
    """Fake run + real ONNX for every id + one TFLite, with hand-written bench files for jetson-nano and a Pi 4."""
    root = tmp_path_factory.mktemp("devlog_run") / "run"
    shutil.copytree(fake_run, root)
    export_artifacts(root)
    write_bench(root, "jetson-nano")
    write_bench(root, "raspberry-pi-4")
    return root


@pytest.fixture
def run(art_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(art_run, dst)
    return dst


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _row(doc: dict, cid: str, fmt: str, precision: str = "fp32") -> dict:
    """The row of one artifact: candidate, format and precision (int8 twins share the first two)."""
    return next(r for r in doc["rows"] if r["candidate"] == cid and r["format"] == fmt
                and r.get("precision", "fp32") == precision)


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of the run but the stage locks, which any run command may create (edgeprune.locks)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.relative_to(run).parts[0] != ".locks"}


def test_benchmark_model_log_becomes_measured_latency_load_and_ram(run, tmp_path):
    rd = RunDir(run)
    art = rd.artifact(TFLITE_ID, "tflite")
    size = f"{art.stat().st_size / 1e6:g}"  # as benchmark_model prints it (6 significant digits)
    log = _write(tmp_path, "bm.log", fixture("benchmark_model-litert-pi5.log", model=f"/home/pi/{art.name}",
                                             sha=sha256_file(art), size_mb=size))
    before = _row(read_json(rd.bench_json("raspberry-pi-4")), TFLITE_ID, "tflite")
    import_device_files(run, [log], "raspberry-pi-4", **QUIET)
    doc = read_json(rd.bench_json("raspberry-pi-4"))
    row = _row(doc, TFLITE_ID, "tflite")
    assert row["latency_ms"]["median"] == 0.536 and row["latency_ms"]["runs"] == 1842 and row["mode"] == "on-device"
    assert row["peak_ram_mb"] == 4.92188 and row["load_ms"] == 1.874 and row["first_run_ms"] == 1.204
    assert {k: row["provenance"][k] for k in ("latency", "peak_ram", "load_ms", "accuracy")} == dict.fromkeys(
        ("latency", "peak_ram", "load_ms", "accuracy"), "measured")
    assert row["accuracy"] == before["accuracy"] and row["replaced"]["latency_ms"] == before["latency_ms"]
    method = row["methods"]["latency"]
    for needle in ("TFLite benchmark_model (version not printed)", "4 threads", "XNNPACK", "median of 1842 timed runs",
                   "0.536 ms", "bm.log", "sha256, printed in the log, matches"):
        assert needle in method, needle
    assert "11.95 MB by periodic monitoring" in row["methods"]["peak_ram"]
    assert doc["imports"][-1]["tool"] == "benchmark_model" and doc["imports"][-1]["merged"] == [art.name]
    sel_row = next(r for r in rows_from_bench(doc) if r.key == f"{TFLITE_ID}.tflite")
    assert sel_row.figures["latency_ms"].value == 0.536 and sel_row.figures["latency_ms"].provenance == "measured"
    assert sel_row.figures["peak_ram_mb"].provenance == "measured"


def test_mean_only_logs_compare_by_their_mean(run, tmp_path):
    art = RunDir(run).artifact(TFLITE_ID, "tflite")
    log = _write(tmp_path, "bm.log", fixture("benchmark_model-2.4-pi4.log", model=art.name,
                                             size_mb=f"{art.stat().st_size / 1e6:g}"))
    import_device_files(run, [log], "raspberry-pi-4", **QUIET)
    doc = read_json(RunDir(run).bench_json("raspberry-pi-4"))
    row = _row(doc, TFLITE_ID, "tflite")
    assert row["latency_ms"]["statistic"] == "mean" and "median" not in row["latency_ms"]
    assert "benchmark_model printed no median" in row["methods"]["latency"]
    assert "by name only" in row["methods"]["latency"] and row["peak_ram_mb"] == 5.47266
    assert next(r for r in rows_from_bench(doc) if r.key == f"{TFLITE_ID}.tflite").figures["latency_ms"].value == 2.33477
    assert re.search(rf"{TFLITE_ID}\s+tflite\s+fp32\s+\S+\s+2\.33\s", format_summary(doc))


def test_trtexec_log_without_a_bench_file_makes_a_new_row(run, tmp_path):
    rd = RunDir(run)
    log = _write(tmp_path, "orin.log", fixture("trtexec-10.3-orin.log", model="magnitude-fake-90.onnx"))
    import_device_files(run, [log], "jetson-orin-nano", **QUIET)
    doc = read_json(rd.bench_json("jetson-orin-nano"))
    assert len(doc["rows"]) == 1 and doc["mode"] == "on-device" and doc["target_profile"]["name"] == "jetson-orin-nano"
    row = doc["rows"][0]
    assert row["sha256"] == sha256_file(rd.artifact("magnitude-fake-90", "onnx")) and "accuracy" not in row
    assert row["provenance"] == {"size": "measured", "latency": "measured"}
    assert "trtexec (TensorRT 10.3.0) on Orin, int8 engine" in row["methods"]["latency"]
    assert "data transfers disabled" in row["methods"]["latency"] and row["latency_ms"]["p95"] == 0.232422


@pytest.mark.parametrize("case", ["another-sha", "another-size", "another-dims", "not-in-run", "no-bundle",
                                  "truncated-in-batch", "no-target", "wrong-target", "twice", "times-alone",
                                  "times-of-another-run"])
def test_refusals_are_one_line_and_write_nothing(run, tmp_path, case):
    rd = RunDir(run)
    onnx = rd.artifact("magnitude-fake-90", "onnx")
    tfl = rd.artifact(TFLITE_ID, "tflite")
    good = _write(tmp_path, "good.log", fixture("trtexec-7.1-xavier.log", model=f"/opt/{onnx.name}"))
    times = tmp_path / "trtexec-jetson-nano-times.json"
    shutil.copy(FIX / "trtexec-8.2-times.json", times)
    target, message = "jetson-nano", None
    if case == "another-sha":
        files = [_write(tmp_path, "a.log", fixture("trtexec-8.2-nano.log", model=onnx.name, sha="0" * 64))]
        message = "it measured another model"
    elif case == "another-size":
        files = [_write(tmp_path, "a.log", fixture("benchmark_model-2.4-pi4.log", model=tfl.name, size_mb="92.3"))]
        target, message = "raspberry-pi-4", "another model"
    elif case == "another-dims":
        files = [_write(tmp_path, "a.log", fixture("trtexec-10.3-orin.log", model=onnx.name, dims="1x3x224x224"))]
        message = "trtexec's input was 1x3x224x224, artifacts/magnitude-fake-90.onnx takes 1x3x32x32: another model"
    elif case == "not-in-run":
        files = [_write(tmp_path, "a.log", fixture("trtexec-8.2-nano.log", model="product-balanced.onnx"))]
        message = "'product-balanced.onnx', which is neither an artifact of"
    elif case == "no-bundle":
        files = [_write(tmp_path, "a.log", fixture("trtexec-8.2-nano.log", model="model.onnx"))]
        message = "the name of a ship bundle's model"
    elif case == "truncated-in-batch":
        cut = _cut(fixture("trtexec-8.2-nano.log", model=onnx.name), "=== Performance summary ===").decode()
        files = [good, _write(tmp_path, "cut.log", cut)]
        message = "truncated"
    elif case == "no-target":
        files, target, message = [good], None, "does not say which target profile"
    elif case == "wrong-target":
        files, target, message = [good], "raspberry-pi-4", "raspberry-pi-4 runs ONNX with onnxruntime"
    elif case == "twice":
        files = [good, _write(tmp_path, "b.log", fixture("trtexec-10.3-orin.log", model=onnx.name))]
        message = "good.log measures artifacts/magnitude-fake-90.onnx too"
    elif case == "times-alone":
        files, message = [times], "no imported trtexec log names"
    else:
        text = fixture("trtexec-8.2-nano.log", model=onnx.name).replace("median = 1.84145", "median = 1.5")
        files, message = [_write(tmp_path, "a.log", text), times], "differs from a.log's summary"
    before = _snapshot(run)
    with pytest.raises(EdgepruneError) as e:
        import_device_files(run, files, target, **QUIET)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert _snapshot(run) == before


def test_device_json_and_tool_log_in_one_import(run, tmp_path):
    rd = RunDir(run)
    dense = rd.artifact("dense", "onnx")
    dev_row = {"artifact": "model.onnx", "candidate": "model", "format": "onnx", "mode": "on-device",
               "sha256": sha256_file(dense), "latency_ms": {"median": 3.5, "runs": 50},
               "provenance": {"latency": "measured"}, "error": None}
    doc_json = tmp_path / "nano.json"
    doc_json.write_text(json.dumps({"target": "jetson-nano", "mode": "on-device", "rows": [dev_row]}))
    log = _write(tmp_path, "a.log", fixture("trtexec-7.1-xavier.log", model="magnitude-fake-90.onnx"))
    before = _snapshot(run)
    with pytest.raises(EdgepruneError, match="measured for jetson-nano, not jetson-orin-nano"):
        import_device_files(run, [doc_json, log], "jetson-orin-nano", **QUIET)
    assert _snapshot(run) == before
    res = CliRunner().invoke(main, ["bench", str(run), "--target", "jetson-nano", "--import", str(doc_json), str(log)])
    assert res.exit_code == 0, res.output
    assert "nano.json: merged 1 device row(s)" in res.output and "a.log: artifacts/magnitude-fake-90.onnx" in res.output
    doc = read_json(rd.bench_json("jetson-nano"))
    assert _row(doc, "dense", "onnx")["latency_ms"]["median"] == 3.5
    assert _row(doc, "magnitude-fake-90", "onnx")["latency_ms"]["median"] == 0.665039
    assert [i["file"] for i in doc["imports"]] == [str(doc_json), str(log)]


def test_cli_refusal_is_one_line_with_exit_1(run, tmp_path):
    log = _write(tmp_path, "a.log", fixture("trtexec-8.2-nano.log", model="resnet50.onnx"))
    res = CliRunner().invoke(main, ["bench", str(run), "--target", "jetson-nano", "--import", str(log)])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and res.output.startswith("error: ")
    assert "'resnet50.onnx', which is neither an artifact" in res.output


# ---------------------------------------------------------------- acceptance: jetson-nano, end to end
def _readme_commands(readme: str) -> tuple[list[str], str]:
    section = readme.split("## Measure it on the device", 1)[1].split("\n## ", 1)[0]
    device, host = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return device.strip().splitlines(), host.strip()


def test_jetson_nano_build_then_trtexec_log_makes_the_choice_measured(run, tmp_path):
    rd = RunDir(run)
    budgets = {"max_latency_ms": 50.0}  # the hand-written estimates (20-40 ms) exceed the profile's 10.9 ms
    sel = select(run, "jetson-nano", **budgets)
    choice = sel["choice"]
    assert choice["format"] == "onnx" and choice["provenance"]["latency_ms"] == "estimated"
    bundle = ship(run, "jetson-nano")
    readme = (bundle / "README.md").read_text()
    device, host = _readme_commands(readme)
    assert device == ["sha256sum model.onnx > trtexec-jetson-nano.log",
                      "/usr/src/tensorrt/bin/trtexec --onnx=model.onnx --fp16 --exportTimes=trtexec-jetson-nano-times"
                      ".json 2>&1 | tee -a trtexec-jetson-nano.log"]
    assert host == "edgeprune bench RUN --target jetson-nano --import trtexec-jetson-nano.log trtexec-jetson-nano-times.json"
    assert read_json(bundle / "manifest.json")["device_bench"]["tool"] == "trtexec"

    # "On the Jetson": what the README's commands leave in the bundle directory (trtexec's output is the fixture).
    dev = tmp_path / "jetson"
    shutil.copytree(bundle, dev)
    sha_line = f"{sha256_file(dev / 'model.onnx')}  model.onnx"
    (dev / "trtexec-jetson-nano.log").write_text(sha_line + "\n" + fixture("trtexec-8.2-nano.log", model="model.onnx"))
    shutil.copy(FIX / "trtexec-8.2-times.json", dev / "trtexec-jetson-nano-times.json")
    argv = [str(run) if a == "RUN" else str(dev / a) if a.startswith("trtexec-") else a for a in shlex.split(host)]
    res = CliRunner().invoke(main, argv[1:])
    assert res.exit_code == 0, res.output

    row = _row(read_json(rd.bench_json("jetson-nano")), choice["candidate"], "onnx")
    assert row["provenance"]["latency"] == "measured" and row["latency_ms"]["median"] == pytest.approx(1.84145)
    assert row["latency_ms"]["runs"] == 10 and row["device_log"]["version"] == "8.2.1"
    assert row["provenance"]["peak_ram"] == "estimated"  # trtexec prints no RAM figure: the old one stays, labelled
    method = row["methods"]["latency"]
    for needle in ("trtexec (TensorRT 8.2.1) on NVIDIA Tegra X1, fp16 engine", "median of 10 queries of 'Latency'",
                   "1.841 ms", "GPU compute median 1.796 ms", "trtexec-jetson-nano-times.json's per-query times",
                   "file name model.onnx of ship/jetson-nano/", "sha256, printed in the log, matches"):
        assert needle in method, needle

    sel2 = select(run, "jetson-nano", **budgets)
    assert sel2["choice"]["key"] == choice["key"]
    assert sel2["choice"]["provenance"]["latency_ms"] == "measured" and sel2["choice"]["latency_ms"] == pytest.approx(1.84145)
    bundle2 = ship(run, "jetson-nano")
    m = read_json(bundle2 / "manifest.json")
    assert m["metrics"]["latency_ms"]["provenance"] == "measured" and "trtexec" in m["metrics"]["latency_ms"]["method"]
    report = (bundle2 / "report.html").read_text()
    assert 'Latency (ms)<span class="prov prov-measured">measured</span></div><div class="v">1.841</div>' in report
    assert "measured on the device by trtexec (TensorRT 8.2.1) on NVIDIA Tegra X1" in report
    readme2 = (bundle2 / "README.md").read_text()
    assert re.search(r"\*\*Latency\*\*: 1\.841 ms - \*measured\* - measured on the device by trtexec", readme2)


def test_tflite_bundle_readme_gives_benchmark_model_commands(run):
    select(run, "raspberry-pi-4", fmt="tflite")
    readme = (ship(run, "raspberry-pi-4") / "README.md").read_text()
    device, host = _readme_commands(readme)
    assert device == ["sha256sum model.tflite > benchmark_model-raspberry-pi-4.log",
                      "./benchmark_model --graph=model.tflite --num_threads=4 --report_peak_memory_footprint=true "
                      "2>&1 | tee -a benchmark_model-raspberry-pi-4.log"]
    assert host == "edgeprune bench RUN --target raspberry-pi-4 --import benchmark_model-raspberry-pi-4.log"
