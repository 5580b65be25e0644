"""report.html: self-contained, complete, and rendered by headless Chromium without page errors.

The Pareto plot labels only the choice and the front, and no two labels overlap (issue 11): checked on the
figure itself (label boxes in pixels) and on the rendered page (the label set the image carries).
"""
from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import edgeprune.select as sel_mod
from edgeprune.runio import RunDir, read_json
from edgeprune.ship import ship
from edgeprune.ship.labels import MARKER_PX, label_boxes
from edgeprune.ship.pareto import PANELS, pareto_figure
from edgeprune.ship.report import render_report

sys.path.insert(0, str(Path(__file__).parent))
from test_ship import TARGET, export_artifacts, write_bench  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "report_screenshot.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("report_screenshot", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bundle(fake_run, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(fake_run, root)
    export_artifacts(root, tflite_ids=())
    write_bench(root)
    sel_mod.select(root, TARGET)
    return ship(root, TARGET)


STRATEGIES = ["conservative", "balanced", "aggressive", "interp-0.3", "interp-0.7", "interp-0.9", "param-proportional",
              "layer-depth", "sensitivity", "uniform"]


def clustered(sel: dict) -> dict:
    """``sel`` plus ten front rows packed into a corner, as in the jetson-nano report of issue 11, and one row
    off the front among them (it must not be labelled)."""
    base = next(r for r in sel["rows"] if r["chosen"])
    rows = [dict(r, chosen=False) for r in sel["rows"]]
    for i, st in enumerate(STRATEGIES):
        rows.append(dict(base, key=f"product-{st}.onnx", chosen=st == "aggressive", pareto=True, feasible=True,
                         eligible=True, accuracy=base["accuracy"] - 0.004 * (i % 2),
                         size_mb=base["size_mb"] * (1 + 0.12 * i), latency_ms=base["latency_ms"] * (1 + 0.003 * i),
                         reason="hand-made clustered row for the label test"))
    rows.append(dict(base, key="product-dominated.onnx", chosen=False, pareto=False, latency_ms=base["latency_ms"] * 1.01,
                     reason="hand-made row off the front"))
    return dict(sel, rows=rows, front=[r["key"] for r in rows if r["pareto"]])


def _should_label(sel: dict) -> set[str]:
    return {r["key"] for r in sel["rows"] if (r["pareto"] or r["chosen"]) and r["error"] is None}


def _labels_from_html(html: str) -> dict[str, list[str]]:
    m = re.search(r'<img alt="accuracy vs latency[^"]*" data-labels="([^"]*)"', html)
    return json.loads(m.group(1).replace("&quot;", '"'))


def _check_label_sets(labels: dict[str, list[str]], sel: dict, html: str) -> None:
    """Only the choice and the front are labelled; the choice always; any front row without a label is named."""
    choice = next(r["key"] for r in sel["rows"] if r["chosen"])
    for obj in PANELS:
        assert set(labels[obj]) <= _should_label(sel) and choice in labels[obj]
        for key in _should_label(sel) - set(labels[obj]):
            assert "No room to label without overlap" in html and key in html.split("No room to label")[1].split("</p>")[0]


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def clustered_report(bundle) -> tuple[dict, str, Path]:
    sel = clustered(read_json(RunDir(bundle.parents[1]).selection_json))
    html = render_report(read_json(bundle / "manifest.json"), sel, None)
    path = bundle.parent / "clustered-report.html"
    path.write_text(html)
    return sel, html, path


def test_pareto_labels_never_overlap_and_only_the_front_and_choice_get_one(bundle, clustered_report):
    sel, html, _ = clustered_report
    fig, left_out = pareto_figure(sel)
    fig.canvas.draw()
    placed = {}
    for ax, obj in zip(fig.axes, PANELS):
        boxes = label_boxes(ax)
        placed[obj] = list(boxes)
        assert set(boxes) | set(left_out[obj]) == _should_label(sel) and "product-dominated.onnx" not in boxes
        assert len(boxes) >= 8  # a cluster of 11 front rows: most get a label
        frame = ax.get_window_extent()
        pts = ax.transData.transform([(r[obj], r["accuracy"]) for r in sel["rows"] if r.get(obj) is not None])
        items = list(boxes.items())
        for i, (key, b) in enumerate(items):
            assert frame.x0 <= b[0] and b[2] <= frame.x1 and frame.y0 <= b[1] and b[3] <= frame.y1, key
            for other, c in items[i + 1:]:
                assert not _overlap(b, c), (obj, key, other)
            for px, py in pts:  # no label hides a point
                assert not _overlap(b, (px - MARKER_PX, py - MARKER_PX, px + MARKER_PX, py + MARKER_PX)), (obj, key)
    _check_label_sets(placed, sel, html)
    # the page carries the same label sets, for the browser check below; the real bundle's report too
    assert _labels_from_html(html) == placed
    real = (bundle / "report.html").read_text()
    _check_label_sets(_labels_from_html(real), read_json(RunDir(bundle.parents[1]).selection_json), real)


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "data", "action")]


def test_report_is_self_contained_and_complete(bundle):
    html = (bundle / "report.html").read_text()
    m = read_json(bundle / "manifest.json")
    sel = read_json(RunDir(bundle.parents[1]).selection_json)
    p = _Refs()
    p.feed(html)
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    assert p.refs and all(v.startswith("data:image/png;base64,") for _, _, v in p.refs)
    assert "url(" not in html and "@import" not in html
    for _, _, v in p.refs:
        png = base64.b64decode(v.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert len(p.refs) == 2  # the Pareto plot and the per-layer sparsity of a pruned choice
    for r in sel["rows"]:
        assert f"<code>{r['key']}</code>" in html
        assert r["reason"].split(" (")[0].replace(">", "&gt;").replace("<", "&lt;") in html
    for needle in ("max_latency_ms", "min_accuracy", "estimated", "measured", "Per-layer sparsity",
                   m["sha256"], "hand-written test figure, not a measurement"):
        assert needle in html, needle
    assert re.search(r'<tr class="chosen"><td><code>' + re.escape(sel["choice"]["key"]), html)


def test_render_check_catches_a_broken_page(tmp_path):
    """The render check must be able to fail: a throwing script, a console error, a missing image, an external URL."""
    mod = _load_script()
    if mod.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><html><body><p>text</p><img alt="gone" src="data:image/png;base64,AAAA">'
                   '<img alt="remote" src="http://192.0.2.1/x.png">'
                   '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    out = subprocess.run([sys.executable, str(SCRIPT), str(bad), "--out", str(tmp_path / "bad.png")],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = json.loads(out.stdout)["errors"]
    joined = "\n".join(errors)
    for needle in ("uncaught: ReferenceError: undefinedFunction", "console.error: boom", "image did not load: gone",
                   "external request: http://192.0.2.1/x.png"):
        assert needle in joined, joined


def test_report_renders_in_headless_chromium(bundle, tmp_path):
    mod = _load_script()
    if mod.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    png = tmp_path / "report.png"
    out = subprocess.run([sys.executable, str(SCRIPT), str(bundle / "report.html"), "--out", str(png)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads(out.stdout)
    assert res["ok"] and res["errors"] == [] and len(res["images"]) == 2
    pareto = json.loads(res["image_labels"]["accuracy vs latency and vs size for every row"])
    _check_label_sets(pareto, read_json(RunDir(bundle.parents[1]).selection_json), (bundle / "report.html").read_text())
    from PIL import Image

    with Image.open(png) as im:
        assert im.width >= 1200 and im.height > 1500
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # not a blank page


def test_clustered_report_renders_with_its_labels_in_headless_chromium(clustered_report, tmp_path):
    """The jetson-nano-like cluster: the rendered page's Pareto image carries only the front and the choice."""
    mod = _load_script()
    if mod.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sel, html, path = clustered_report
    out = subprocess.run([sys.executable, str(SCRIPT), str(path), "--out", str(tmp_path / "c.png")],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads(out.stdout)
    labels = json.loads(res["image_labels"]["accuracy vs latency and vs size for every row"])
    _check_label_sets(labels, sel, html)
    assert "product-dominated.onnx" not in labels["latency_ms"] + labels["size_mb"]
