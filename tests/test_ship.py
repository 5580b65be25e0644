"""Ship and verify on real tiny artifacts: ONNX for every candidate and dense, one NHWC TFLite.

The bench figures for latency and peak RAM are hand-written (labelled so); size
and accuracy are real (file bytes, top-1 through the runtime).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgeprune.select as sel_mod
from edgeprune.cli import main
from edgeprune.errors import EdgepruneError
from edgeprune.runio import RunDir, read_json, sha256_file, write_json
from edgeprune.ship import ship
from edgeprune.ship.verify import verify
from edgeprune.targets import load_target

# a real profile file: the raspberry-pi-4 one renamed test-pi, preferring ONNX, with hand-made budgets
TARGET_FILE = Path(__file__).parent / "fixtures" / "test-pi.toml"
TARGET = load_target(TARGET_FILE)


def profile_file(directory: Path, **budgets: float) -> Path:
    """``TARGET_FILE`` with other budgets, for the CLI (``--target PATH``)."""
    text = TARGET_FILE.read_text()
    for k, v in budgets.items():
        text, n = re.subn(rf"^{k} = .*$", f"{k} = {v}", text, flags=re.M)
        assert n == 1, k
    path = directory / "test-pi.toml"
    path.write_text(text)
    return path
TFLITE_ID = "magnitude-fake-50"
# hand-written figures (not measurements): dense is slowest, the sparsest candidate fastest
LATENCY = {"dense": 40.0, "magnitude-fake-50": 30.0, "magnitude-fake-90": 20.0}
RAM = {"dense": 60.0, "magnitude-fake-50": 50.0, "magnitude-fake-90": 40.0}
BLOCK_HOST_LIBS = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'matplotlib', 'timm', 'safetensors', 'litert_torch', 'torchvision'}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, _Block())
"""


def _fmt_meta(path: Path, layout: str, shape: list[int], num_classes: int) -> dict:
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size, "layout": layout,
            "input": {"name": None, "shape": shape, "dtype": "float32"}, "output": {"shape": [1, num_classes]}}


def export_artifacts(run: Path, tflite_ids: tuple[str, ...] = (TFLITE_ID,)) -> None:
    """Real ONNX (and NHWC TFLite) artifacts plus artifacts/<id>.json as the export stage writes them."""
    import torch

    from edgeprune.models import ModelSpec, build

    rd = RunDir(run)
    info = read_json(rd.run_json)
    spec = ModelSpec.from_json(info["model"])
    shape = list(info["data"]["input_shape"])
    nhwc = [shape[0], shape[2], shape[3], shape[1]]
    rd.artifacts_dir.mkdir(parents=True, exist_ok=True)
    for cid in ["dense", *rd.candidate_ids()]:
        weights = rd.dense_weights if cid == "dense" else rd.candidate_weights(cid)
        net = build(spec, weights).eval()
        onnx_path = rd.artifact(cid, "onnx")
        with warnings.catch_warnings():  # the legacy exporter: fast, and enough for a test artifact
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(net, (torch.zeros(shape),), str(onnx_path), input_names=["input"],
                              output_names=["logits"], dynamo=False)
        formats = {"onnx": _fmt_meta(onnx_path, "NCHW", shape, spec.num_classes)}
        if cid in tflite_ids:
            import litert_torch

            class Nhwc(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = net

                def forward(self, x):
                    return self.net(x.permute(0, 3, 1, 2))

            path = rd.artifact(cid, "tflite")
            litert_torch.convert(Nhwc().eval(), (torch.zeros(nhwc),)).export(str(path))
            formats["tflite"] = _fmt_meta(path, "NHWC", nhwc, spec.num_classes)
        source = str((rd.dense_weights if cid == "dense" else rd.candidate_weights(cid)).relative_to(rd.root))
        write_json(rd.artifact_json(cid), {"id": cid, "source": {"weights": source, "sha256": sha256_file(weights)},
                                           "model": info["model"], "formats": formats})


def write_bench(run: Path, target: str = TARGET.name) -> None:
    """bench/<target>.json per docs/run-directory.md: real size and accuracy, hand-written latency and RAM."""
    from edgeprune.runtimes import evaluate, open_runner

    rd = RunDir(run)
    with np.load(rd.test_npz) as d:
        x, y = d["x"], d["y"]
    rows = []
    for art in sorted(rd.artifacts_dir.glob("*.json")):
        meta = read_json(art)
        for fmt, f in meta["formats"].items():
            path = rd.artifacts_dir / f["file"]
            runner = open_runner(path, threads=1, layout=f["layout"])
            lat = LATENCY[meta["id"]] - (5.0 if fmt == "tflite" else 0.0)
            rows.append({"artifact": f["file"], "candidate": meta["id"], "format": fmt, "runtime": runner.runtime,
                         "runtime_version": runner.version, "threads": 1, "sha256": f["sha256"],
                         "size_bytes": f["bytes"], "latency_ms": {"median": lat, "p90": lat * 1.2, "runs": 5},
                         "peak_ram_mb": RAM[meta["id"]], "accuracy": evaluate(runner, x, y), "n_eval": len(y),
                         "provenance": {"size": "measured", "accuracy": "measured", "latency": "estimated",
                                        "peak_ram": "estimated"},
                         "methods": {"latency": "hand-written test figure, not a measurement",
                                     "peak_ram": "hand-written test figure, not a measurement"},
                         "error": None})
    write_json(rd.bench_json(target), {"target": target, "mode": "test-fixture", "rows": rows})


@pytest.fixture(scope="session")
def artifact_run(fake_run, tmp_path_factory) -> Path:
    """The fake run plus artifacts and a bench file (read-only: copy before writing)."""
    root = tmp_path_factory.mktemp("artifact_run") / "run"
    shutil.copytree(fake_run, root)
    export_artifacts(root)
    write_bench(root)
    return root


@pytest.fixture
def run(artifact_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(artifact_run, dst)
    return dst


@pytest.fixture
def bundle(run) -> Path:
    sel_mod.select(run, TARGET)
    return ship(run, TARGET)


# ----------------------------------------------------------------- the bundle
def test_bundle_files_and_manifest(bundle, run):
    rd = RunDir(run)
    m = read_json(bundle / "manifest.json")
    sel = read_json(rd.selection_json)
    info = read_json(rd.run_json)
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "eval.npz", "manifest.json", "model.onnx",
                                                        "report.html"]
    cid = sel["choice"]["candidate"]
    assert m["format"] == "onnx" and m["file"] == "model.onnx"
    assert m["sha256"] == sha256_file(bundle / "model.onnx") == sha256_file(rd.artifact(cid, "onnx"))
    assert m["size_bytes"] == (bundle / "model.onnx").stat().st_size
    assert m["input"] == {"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32", "layout": "NCHW",
                          "mean": info["data"]["mean"], "std": info["data"]["std"],
                          "value_range": info["data"]["value_range"], "preprocessing": info["data"]["preprocessing"],
                          "notes": info["data"]["notes"]}
    assert m["output"]["name"] == "logits" and m["output"]["shape"] == [1, 10] and "logits" in m["output"]["meaning"]
    assert m["labels"] == info["data"]["labels"]
    for obj, prov in {"accuracy": "measured", "size_mb": "measured", "latency_ms": "estimated",
                      "peak_ram_mb": "estimated"}.items():
        assert m["metrics"][obj]["provenance"] == prov and m["metrics"][obj]["value"] == sel["choice"][obj]
    assert m["metrics"]["latency_ms"]["method"] == "hand-written test figure, not a measurement"
    assert m["target"]["name"] == "test-pi" and all(b["met"] for b in m["target"]["budgets"].values())
    assert m["candidate"]["id"] == cid
    if cid != "dense":
        cand = read_json(rd.candidate_json(cid))
        assert (m["candidate"]["strategy"], m["candidate"]["signal"], m["candidate"]["global_sparsity"]) == (
            cand["strategy"], cand["signal"], cand["global_sparsity"])
    assert m["source"]["checkpoint_sha256"] == info["dense"]["sha256"] and m["source"]["model"] == info["model"]
    assert m["versions"]["edgeprune"] and m["versions"]["runtime"]["name"] == "onnxruntime" and m["created"]
    with np.load(bundle / "eval.npz") as d:
        tx = np.load(rd.test_npz)["x"]
        assert d["x"].shape == tx.shape and np.array_equal(d["x"], tx) and d["y"].dtype == np.int64
        assert m["eval"]["expected_accuracy"] == pytest.approx(float((d["pred"] == d["y"]).mean()))
    # full test set, same runtime as the bench: the ship-time accuracy is the benchmarked one
    assert m["eval"]["expected_accuracy"] == m["metrics"]["accuracy"]["value"]
    assert set(m["files"]) == {"model.onnx", "eval.npz", "README.md", "report.html"}
    assert all(sha256_file(bundle / n) == e["sha256"] for n, e in m["files"].items())


def _python_block(readme: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_is_real_and_its_python_snippet_runs(bundle):
    m = read_json(bundle / "manifest.json")
    readme = (bundle / "README.md").read_text()
    for needle in ('"input"', '"logits"', repr(m["input"]["mean"]), repr(m["labels"]), "Ort::Session",
                   "[1, 3, 32, 32]", "ch * H * W + y * W + x", m["sha256"], "edgeprune verify ."):
        assert needle in readme, needle
    assert "BuildFromFile" not in readme  # the snippet matches the shipped format
    assert not re.search(r"TODO|TBD|<[A-Z_]+>|\{(?!nullptr\})[a-z_]+\}|\bNone\b(?!\])|\bnan\b", readme)
    out = subprocess.run([sys.executable, "-c", BLOCK_HOST_LIBS + _python_block(readme)], cwd=bundle,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    acc = float(re.search(r"^accuracy (\S+)$", out.stdout, flags=re.M).group(1))
    assert acc == m["eval"]["expected_accuracy"]


def test_verify_passes_and_the_cli_exits_0(bundle):
    lines: list[str] = []
    assert verify(bundle, log=lines.append) is True
    assert sum(line.startswith("ok") for line in lines) == 5 and not any(line.startswith("FAIL") for line in lines)
    res = CliRunner().invoke(main, ["verify", str(bundle)])
    assert res.exit_code == 0, res.output


def test_verify_catches_a_tampered_model(bundle):
    model = bundle / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    lines: list[str] = []
    assert verify(bundle, log=lines.append) is False
    assert any(line.startswith("FAIL model.onnx: sha256") for line in lines)
    assert "skip accuracy: a model that does not match its manifest is not run" in lines
    assert not any(line.split(" ", 1)[1].lstrip().startswith("accuracy") for line in lines if line[:4] in ("ok  ", "FAIL"))
    res = CliRunner().invoke(main, ["verify", str(bundle)])
    assert res.exit_code == 1 and "FAIL model.onnx" in res.output


def test_verify_catches_an_accuracy_mismatch_and_a_missing_file(bundle):
    m = read_json(bundle / "manifest.json")
    m["eval"]["expected_accuracy"] = min(1.0, m["eval"]["expected_accuracy"] + 0.05)
    write_json(bundle / "manifest.json", m)
    lines: list[str] = []
    assert verify(bundle, log=lines.append) is False
    assert any(line.startswith("FAIL accuracy") for line in lines)
    (bundle / "report.html").unlink()
    assert verify(bundle, log=lines.append) is False
    assert "FAIL report.html: missing" in lines


def test_verify_rejects_paths_outside_the_bundle(bundle):
    m = read_json(bundle / "manifest.json")
    m["files"]["../selection.json"] = {"sha256": "0" * 64}
    write_json(bundle / "manifest.json", m)
    lines: list[str] = []
    assert verify(bundle, log=lines.append) is False
    assert any("not a plain file name" in line for line in lines)


def test_verify_not_a_bundle(tmp_path):
    with pytest.raises(EdgepruneError, match="not a ship bundle"):
        verify(tmp_path)


def test_verify_runs_without_torch(bundle):
    """What the device has: numpy and a runtime. torch/matplotlib imports are blocked."""
    code = BLOCK_HOST_LIBS + f"from edgeprune.cli import main\nmain(['verify', {str(bundle)!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified" in out.stdout


# ----------------------------------------------------------------- atomic, idempotent, refusals
def test_ship_is_idempotent(bundle, run):
    before = {p.name: (sha256_file(p), p.stat().st_mtime_ns) for p in bundle.iterdir()}
    assert ship(run, TARGET) == bundle
    assert {p.name: (sha256_file(p), p.stat().st_mtime_ns) for p in bundle.iterdir()} == before
    (bundle / "README.md").write_text("edited")  # a damaged bundle is rebuilt
    ship(run, TARGET)
    assert verify(bundle, log=lambda s: None)
    assert sha256_file(bundle / "model.onnx") == before["model.onnx"][0]


def test_ship_is_atomic(bundle, run, monkeypatch):
    import edgeprune.ship.report as report

    (bundle / "README.md").write_text("edited")  # forces a rebuild
    before = {p.name: sha256_file(p) for p in bundle.iterdir()}

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "render_report", boom)
    with pytest.raises(RuntimeError):
        ship(run, TARGET)
    assert {p.name: sha256_file(p) for p in bundle.iterdir()} == before  # old bundle untouched
    assert [p.name for p in bundle.parent.iterdir()] == [bundle.name]  # no temp dir left
    shutil.rmtree(bundle)
    with pytest.raises(RuntimeError):
        ship(run, TARGET)
    assert list(bundle.parent.iterdir()) == []  # no partial bundle under the final name


def test_tighter_budget_on_the_same_run_picks_a_faster_candidate(run):
    loose = sel_mod.select(run, TARGET)
    assert loose["choice"]["candidate"] != "dense"  # 40 ms breaks the 35 ms default
    tight = sel_mod.select(run, TARGET, max_latency_ms=25.0)
    assert tight["choice"]["candidate"] == "magnitude-fake-90" and tight["choice"]["latency_ms"] < 25.0
    res = CliRunner().invoke(main, ["select", str(run), "--target", str(TARGET_FILE), "--max-latency-ms", "1"])
    assert res.exit_code == 2 and "closest row, magnitude-fake-90.onnx" in res.output


def test_ship_tflite_nhwc(run):
    sel_mod.select(run, TARGET, fmt="tflite")
    bundle = ship(run, TARGET)
    m = read_json(bundle / "manifest.json")
    assert (m["format"], m["file"], m["input"]["layout"], m["input"]["shape"]) == ("tflite", "model.tflite", "NHWC",
                                                                                  [1, 32, 32, 3])
    with np.load(bundle / "eval.npz") as d:
        assert d["x"].shape[1:] == (32, 32, 3)
    readme = (bundle / "README.md").read_text()
    assert "tflite::FlatBufferModel::BuildFromFile" in readme and "typed_input_tensor<float>(0)" in readme
    assert "(y * W + x) * C + ch" in readme and "Ort::Session" not in readme
    out = subprocess.run([sys.executable, "-c", BLOCK_HOST_LIBS + _python_block(readme)], cwd=bundle,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"accuracy {m['eval']['expected_accuracy']!r}" in out.stdout
    assert verify(bundle, log=lambda s: None)


def test_ship_refuses_stale_or_missing_inputs(run):
    with pytest.raises(EdgepruneError, match="edgeprune select"):
        ship(run, TARGET)  # no selection yet
    sel_mod.select(run, TARGET)
    with pytest.raises(EdgepruneError, match="is for target 'test-pi', not 'raspberry-pi-4'"):
        ship(run, "raspberry-pi-4")
    with pytest.raises(EdgepruneError, match="Unknown target 'other'"):  # not 'run select --target other'
        ship(run, "other")
    rd = RunDir(run)
    choice = read_json(rd.selection_json)["choice"]
    art = rd.artifact(choice["candidate"], "onnx")
    art.write_bytes(art.read_bytes() + b"\0")
    with pytest.raises(EdgepruneError, match="not the file that was exported and benchmarked"):
        ship(run, TARGET)
    bench = read_json(rd.bench_json(TARGET.name))
    bench["mode"] = "changed"
    write_json(rd.bench_json(TARGET.name), bench)
    with pytest.raises(EdgepruneError, match="changed since selection.json"):
        ship(run, TARGET)
    assert not rd.ship_dir(TARGET.name).exists()
    write_json(rd.selection_json, dict(read_json(rd.selection_json), choice=None))  # as an old version wrote it
    with pytest.raises(EdgepruneError, match="has no choice"):
        ship(run, TARGET)
    assert not rd.ship_dir(TARGET.name).exists()


def test_ship_and_verify_import_no_torch():
    code = BLOCK_HOST_LIBS + "import edgeprune.ship, edgeprune.ship.verify, edgeprune.select\nprint('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_eval_subset_caps_and_spreads():
    from edgeprune.ship.evalset import EVAL_MAX_SAMPLES, subset

    assert subset(269, 12288).tolist() == list(range(269))  # small sets ship whole
    idx = subset(50_000, 12288)
    assert len(idx) == EVAL_MAX_SAMPLES and idx[0] == 0 and idx[-1] == 49_999 and (idx[1:] > idx[:-1]).all()
    assert len(subset(50_000, 3 * 224 * 224 * 4)) == 32 * 2**20 // (3 * 224 * 224 * 4)  # byte cap
