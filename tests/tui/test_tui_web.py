"""``rlm-tui --web``: the app served by textual-serve, opened in a real headless Chromium,
shows the tree of a run against the loopback Ollama server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anyio
import pytest

from tests.servers import OllamaServer
from tests.tui.chromium import Chromium, chromium_path
from tests.tui.test_tui_support import depth2_reply
from tui import web
from tui.args import app_argv, parse_args

REPO = Path(__file__).resolve().parents[2]
ROWS = (r"✓ 0 d0 Find the magic number", r"✓ 0\.1 d1 Look in part one", r"✓ 0\.1\.1 d2 Read line 7")

needs_chromium = pytest.mark.skipif(
    chromium_path() is None and not os.environ.get("CI"),
    reason="needs chromium (apt-get install chromium; .ci/run installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"rlm-tui --web did not answer at {url}")


@pytest.fixture
def served(model_env, tmp_path):
    """``rlm-tui --web`` with a question, its model the loopback Ollama; yields its URL."""
    with OllamaServer(lambda request: depth2_reply(request.messages, request.model)) as ollama:
        port = free_port()
        env = {**os.environ, "OLLAMA_HOST": ollama.url, "XDG_DATA_HOME": str(tmp_path / "data"),
               "NO_PROXY": "127.0.0.1,localhost"}
        process = subprocess.Popen(
            [sys.executable, "-m", "tui", "--web", "--port", str(port), "--model",
             "ollama_chat/llama3", "Find the magic number"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_page(url, process)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@needs_chromium
async def test_the_browser_shows_the_tree_of_the_run(served, tmp_path):
    async with Chromium() as browser:
        started = time.monotonic()
        await browser.open(served)
        first_paint = None
        screen = ""
        with anyio.fail_after(60):
            while not all(re.search(row, screen) for row in ROWS):
                await anyio.sleep(0.1)
                screen = await browser.screen_text() or ""
                if first_paint is None and screen.strip():
                    first_paint = time.monotonic() - started
        assert "42" in screen  # the answer is on screen too
        shot = await browser.screenshot(tmp_path / "web.png")
        assert shot.stat().st_size > 10_000
        print(f"\nrlm-tui --web: first paint {first_paint:.2f} s, the whole tree "
              f"{time.monotonic() - started:.2f} s; screenshot {shot}")


# --- the command ------------------------------------------------------------------------
def test_the_served_app_gets_every_flag_but_the_web_ones():
    args = parse_args(["--web", "--host", "127.0.0.1", "--port", "9000", "--context", "a b.txt",
                       "--model", "ollama/llama3", "--max-depth", "1", "--max-steps", "5",
                       "-x is a question"])
    assert app_argv(args) == ["--context", "a b.txt", "--model", "ollama/llama3",
                              "--max-depth", "1", "--max-steps", "5", "--", "-x is a question"]
    assert app_argv(parse_args(["--we", "--replay", "run.jsonl"])) == ["--replay", "run.jsonl"]
    assert app_argv(parse_args(["--web"])) == []


def test_it_says_how_to_reach_it_and_warns_off_loopback():
    local = web.notice("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert "ssh -L 8000:127.0.0.1:8000" in local and "WARNING" not in local
    wide = web.notice("0.0.0.0", 8000, "http://box:8000")
    assert "WARNING" in wide and "no authentication" in wide
    assert web.url_host("::1") == "[::1]" and web.is_loopback("::1")
    assert not web.is_loopback("192.168.1.5") and web.is_loopback("localhost")


def test_without_textual_serve_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert web.serve(parse_args(["--web"])) == 2
    assert "pip install 'rlm[web]'" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tui", "--web", "--port", str(port)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
