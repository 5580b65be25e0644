"""report.html: self-contained, complete, and rendered by headless Chromium without page errors."""
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
    mp = pytest.MonkeyPatch()
    mp.setattr(sel_mod, "_target_budgets_and_format", lambda target: TARGET)
    try:
        sel_mod.select(root, TARGET.name)
        return ship(root, TARGET.name)
    finally:
        mp.undo()


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
    from PIL import Image

    with Image.open(png) as im:
        assert im.width >= 1200 and im.height > 1500
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # not a blank page
