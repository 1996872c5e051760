"""A headless Chromium driven over the DevTools protocol (CDP), for the ``--web`` tests.

Chromium is the OS package (``.ci/run`` installs it). It is started with
``--remote-debugging-port=0`` and says the port it took in ``DevToolsActivePort`` in its
profile folder; the page target's websocket then takes CDP commands (``aiohttp`` speaks
websocket; it comes with textual-serve). The background-networking flags keep it from
opening connections of its own, which a closed network refuses many at a time.

The terminal in textual-serve's page draws on a canvas (xterm.js with its WebGL or canvas
addon), so its text is not in the DOM. ``CAPTURE_TERMINAL`` runs before the page's own
script and keeps the xterm.js ``Terminal`` its client class stores as ``this.terminal``;
``screen_text`` reads the screen from the terminal's buffer, as xterm.js shows it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1280,800")

CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true,
                                             enumerable: true});
    if (this.websocket_url !== undefined) { window.__terminal = value; }
  },
});
"""

SCREEN_TEXT = """
(() => {
  const t = window.__terminal;
  if (!t) { return null; }
  const buffer = t.buffer.active, lines = [];
  for (let y = 0; y < t.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless Chromium with a fresh profile; ``async with`` opens a page session."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="rlm-chromium-"))
        self.process: subprocess.Popen | None = None
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> Chromium:
        binary = chromium_path()
        assert binary, "chromium is not installed (.ci/run installs it)"
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port = self._devtools_port()
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _devtools_port(self, timeout: float = 30.0) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            assert self.process is not None and self.process.poll() is None, "chromium exited"
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One CDP command; its result (events that arrive meanwhile are dropped)."""
        assert self._ws is not None
        ident = next(self._ids)
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self._ws.receive()).data)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def open(self, url: str) -> None:
        """Load ``url`` with the terminal capture in place."""
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE_TERMINAL)
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screen_text(self) -> str | None:
        """The terminal's screen as text, one line per row; None before it exists."""
        return await self.evaluate(SCREEN_TEXT)

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))
        return path
