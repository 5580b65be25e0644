"""Render an HTML report in headless Chromium, save a full-page PNG, fail on any page error.

Drives Chromium over the DevTools protocol (``--remote-debugging-pipe``) and
fails (exit code 1) on: uncaught exceptions, console errors, log entries of
level error (e.g. a resource that failed to load), requests for anything but
the page itself and ``data:`` URLs (a self-contained page needs no other),
images that did not decode, or an empty page.

    python benchmarks/report_screenshot.py RUN/ship/<target>/report.html --out report.png
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--remote-debugging-pipe"]
PAGE_CHECK = """JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                                                 width: i.naturalWidth, height: i.naturalHeight,
                                                 labels: i.dataset.labels || null})),
  title: document.title, height: document.documentElement.scrollHeight,
  width: document.documentElement.scrollWidth, text: document.body ? document.body.innerText.length : 0})"""


@dataclass
class RenderResult:
    errors: list[str] = field(default_factory=list)
    page: dict = field(default_factory=dict)
    png: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


class _Pipe:
    """DevTools protocol over a pair of pipes: NUL-terminated JSON messages."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float):
        self.w, self.r, self.deadline = write_fd, read_fd, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict:
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([self.r], [], [], max(0.0, end - time.monotonic()))[0]:
                self.events.append(self._read())

    def _read(self) -> dict:
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)


def _event_errors(events: list[dict], page_url: str) -> list[str]:
    errors = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            errors.append("uncaught: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if url != page_url and not url.startswith("data:"):
                errors.append(f"external request: {url[:120]}")
        elif m == "Network.loadingFailed":
            errors.append(f"loading failed: {p.get('errorText')}")
    return errors


def render(html: Path, png: Path, chromium: str | None = None, width: int = 1280, height: int = 2000,
           timeout: float = 90.0) -> RenderResult:
    """Load ``html``, check it, write a full-page screenshot to ``png``."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found; apt-get install -y chromium")
    url = html.resolve().as_uri()
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def wire() -> None:  # in the child: Chromium reads commands on fd 3, writes replies on fd 4
        a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
        os.dup2(a, 3)
        os.dup2(b, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    with tempfile.TemporaryDirectory(prefix="edgeprune-chromium-") as profile:
        proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                 "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=wire, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        cdp = _Pipe(to_chrome_w, from_chrome_r, time.monotonic() + timeout)
        result = RenderResult()
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.send(f"{domain}.enable", session=sid)
            cdp.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=sid)
            cdp.send("Page.navigate", {"url": url}, session=sid)
            cdp.wait_event("Page.loadEventFired")
            cdp.drain(0.5)  # late console messages
            value = cdp.send("Runtime.evaluate", {"expression": PAGE_CHECK, "returnByValue": True}, session=sid)
            result.page = json.loads(value["result"]["value"])
            shot = cdp.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": max(width, result.page["width"]),
                         "height": result.page["height"], "scale": 1}}, session=sid)
            png.parent.mkdir(parents=True, exist_ok=True)
            png.write_bytes(base64.b64decode(shot["data"]))
            result.png = png
            try:
                cdp.send("Browser.close")
            except RuntimeError:
                pass
        finally:
            os.close(to_chrome_w)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(from_chrome_r)
        result.errors += _event_errors(cdp.events, url)
        bad = [i["alt"] or "?" for i in result.page.get("images", []) if not i["ok"]]
        result.errors += [f"image did not load: {alt}" for alt in bad]
        if result.page.get("text", 0) == 0:
            result.errors.append("the page has no text")
        return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--out", type=Path, help="PNG path (default: next to the HTML, .png)")
    ap.add_argument("--chromium", help="browser executable (default: chromium on PATH)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=2000)
    args = ap.parse_args(argv)
    if not args.html.is_file():
        print(f"error: {args.html} does not exist.", file=sys.stderr)
        return 2
    out = args.out or args.html.with_suffix(".png")
    res = render(args.html, out, args.chromium, args.width, args.height)
    imgs = res.page.get("images", [])
    print(json.dumps({"ok": res.ok, "screenshot": str(res.png), "errors": res.errors,
                      "page": {k: res.page.get(k) for k in ("title", "width", "height")},
                      "images": [f"{i['alt']}: {i['width']}x{i['height']}" for i in imgs],
                      "image_labels": {i["alt"]: i.get("labels") for i in imgs if i.get("labels")}}, indent=2))
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
