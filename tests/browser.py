"""Headless Chromium, networking off, driven over the DevTools protocol (CDP).

Used by the report tests to open rendered HTML as a stakeholder would: from
a file, with no network. Chromium is started with a proxy to nowhere and a
host resolver that resolves nothing, so any attempt to fetch a CDN script is
both blocked and recorded (``Network.requestWillBeSent``). We talk CDP over a
websocket (``websocket-client``) rather than scraping ``--dump-dom`` output,
because CDP gives structured console messages, exceptions, network attempts,
DOM queries after scripts ran, and screenshots, all from one page load.

Usage::

    with Chromium(tmp_path / "profile") as browser:
        page = browser.open(path, screenshot=tmp_path / "shot.png")
        assert not page.console_errors
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None (``CHROMIUM`` overrides)."""
    env = os.environ.get("CHROMIUM")
    if env and Path(env).exists():
        return env
    for cand in CHROMIUM_CANDIDATES:
        if Path(cand).exists():
            return cand
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageResult:
    """What happened when a page was opened."""

    url: str
    console: list[dict[str, Any]] = field(default_factory=list)
    """Console API calls and log entries: ``{"level", "text", "source"}``."""
    exceptions: list[str] = field(default_factory=list)
    """Uncaught JavaScript exceptions."""
    requests: list[str] = field(default_factory=list)
    """URLs the page tried to fetch (any scheme)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Results of the expressions passed to :meth:`Chromium.open`."""
    screenshot: Path | None = None
    """Where the screenshot was saved."""

    @property
    def console_errors(self) -> list[str]:
        """Error-level console messages plus uncaught exceptions."""
        errs = [m["text"] for m in self.console if m["level"] in ("error", "assert")]
        return errs + self.exceptions

    @property
    def network_requests(self) -> list[str]:
        """Requests that are not local (file:, data:, blob:, about:)."""
        return [u for u in self.requests if not u.startswith(("file:", "data:", "blob:", "about:", "chrome"))]


class Chromium:
    """A headless Chromium process with networking off; use as a context manager."""

    def __init__(self, profile_dir: str | Path, *, width: int = 1280, height: int = 900, binary: str | None = None):
        self.profile_dir = Path(profile_dir)
        self.width, self.height = width, height
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise RuntimeError("Chromium not found: apt-get install -y chromium (or set CHROMIUM).")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._ids = itertools.count(1)

    def __enter__(self) -> Chromium:
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        args = [
            self.binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={self.profile_dir}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--remote-debugging-port=0",
            "--remote-allow-origins=*", f"--window-size={self.width},{self.height}", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_file.exists():
                text = port_file.read_text().split()
                if text:
                    self.port = int(text[0])
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"Chromium exited with code {self.proc.returncode} before opening DevTools.")
            time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("Chromium did not open its DevTools port within 30 s.")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser process (its whole process group: renderer and GPU children)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None

    def _new_page(self) -> dict[str, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def _close_page(self, target_id: str) -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/close/{target_id}", timeout=10):
                pass
        except OSError:
            pass

    def open(
        self,
        path_or_url: str | Path,
        *,
        expressions: dict[str, str] | None = None,
        wait_for: str | None = None,
        screenshot: str | Path | None = None,
        full_page: bool = True,
        max_height: int = 12000,
        timeout: float = 45.0,
        settle: float = 0.5,
        segments: bool = False,
        element_shots: dict[str, str | Path] | None = None,
    ) -> PageResult:
        """Load a page, wait for it, evaluate expressions, take a screenshot.

        Args:
            path_or_url: a file path or URL.
            expressions: name -> JavaScript expression evaluated after load
                (values returned by value).
            wait_for: a JavaScript expression polled until truthy after load.
            screenshot: PNG path to write.
            full_page: capture the whole page height (up to ``max_height``).
            max_height: cap of a full-page screenshot, in CSS pixels.
            timeout: seconds for the load and for ``wait_for``.
            settle: extra seconds to wait after load for late errors.
            segments: also save the page in viewport-tall parts (``<stem>_00.png``...).
            element_shots: CSS selector -> PNG path: a screenshot of the first
                matching element (skipped when nothing matches).

        Returns:
            A :class:`PageResult`.
        """
        import websocket

        is_url = isinstance(path_or_url, str) and "://" in path_or_url
        url = str(path_or_url) if is_url else Path(path_or_url).resolve().as_uri()
        target = self._new_page()
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        result = PageResult(url=url)
        events: list[dict[str, Any]] = []

        def call(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
            msg_id = next(self._ids)
            ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == msg_id:
                    if "error" in msg:
                        raise RuntimeError(f"CDP {method} failed: {msg['error']}")
                    return dict(msg.get("result", {}))
                events.append(msg)

        def pump(seconds: float) -> None:
            ws.settimeout(0.1)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    events.append(json.loads(ws.recv()))
                except websocket.WebSocketTimeoutException:
                    continue
            ws.settimeout(timeout)

        def evaluate(expr: str) -> Any:
            res = call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
            if "exceptionDetails" in res:
                raise RuntimeError(f"evaluating {expr!r} failed: {res['exceptionDetails']}")
            return res.get("result", {}).get("value")

        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                call(f"{domain}.enable")
            call("Emulation.setDeviceMetricsOverride",
                 {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
            call("Page.navigate", {"url": url})
            end = time.monotonic() + timeout
            while not any(e.get("method") == "Page.loadEventFired" for e in events):
                if time.monotonic() > end:
                    raise TimeoutError(f"{url} did not finish loading in {timeout} s")
                pump(0.2)
            if wait_for:
                while not evaluate(wait_for):
                    if time.monotonic() > end:
                        raise TimeoutError(f"{wait_for!r} stayed false for {timeout} s on {url}")
                    pump(0.2)
            pump(settle)
            for name, expr in (expressions or {}).items():
                result.values[name] = evaluate(expr)
            if screenshot is not None:
                params: dict[str, Any] = {"format": "png"}
                if full_page:
                    height = min(int(evaluate("document.documentElement.scrollHeight")), max_height)
                    call("Emulation.setDeviceMetricsOverride",
                         {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
                    pump(0.5)  # let responsive plots re-layout
                shot = call("Page.captureScreenshot", params)
                path = Path(screenshot)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(shot["data"]))
                result.screenshot = path
                if segments:  # the same page cut into viewport-tall parts, easier to look at
                    total = min(int(evaluate("document.documentElement.scrollHeight")), max_height)
                    for k, top in enumerate(range(0, total, self.height)):
                        clip = {"x": 0, "y": top, "width": self.width, "height": min(self.height, total - top),
                                "scale": 1}
                        part = call("Page.captureScreenshot", {"format": "png", "clip": clip})
                        path.with_name(f"{path.stem}_{k:02d}.png").write_bytes(base64.b64decode(part["data"]))
            for selector, target_path in (element_shots or {}).items():
                box = evaluate(
                    f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                    " const r = e.getBoundingClientRect();"
                    " return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height}; })()"
                )
                if box:
                    clip = {"x": box["x"], "y": box["y"], "width": max(1, box["w"]), "height": max(1, box["h"]),
                            "scale": 1}
                    part = call("Page.captureScreenshot",
                                {"format": "png", "clip": clip, "captureBeyondViewport": True})  # fmt: skip
                    Path(target_path).parent.mkdir(parents=True, exist_ok=True)
                    Path(target_path).write_bytes(base64.b64decode(part["data"]))
            pump(0.1)
        finally:
            ws.close()
            self._close_page(target["id"])
        for e in events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                result.console.append({"level": p.get("type"), "text": text, "source": "console"})
            elif method == "Log.entryAdded":
                entry = p.get("entry", {})
                result.console.append({"level": entry.get("level"), "text": entry.get("text", ""),
                                       "source": entry.get("source", "")})  # fmt: skip
            elif method == "Runtime.exceptionThrown":
                details = p.get("exceptionDetails", {})
                result.exceptions.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif method == "Network.requestWillBeSent":
                result.requests.append(p.get("request", {}).get("url", ""))
        return result
