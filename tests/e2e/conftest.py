"""Servers for the end-to-end tests: a real model behind llama.cpp and the Ollama front.

Every test in this folder is marked ``e2e`` (deselected by default; ``pytest -m e2e`` runs
them). The session uses servers that are already running (``bash scripts/e2e_model.sh
start``) or starts them and stops them at the end. Without ``.e2e`` set up, every test skips
with one line that says what to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(os.environ.get("E2E_DIR", ROOT / ".e2e"))
SCRIPT = ROOT / "scripts" / "e2e_model.sh"
MODEL_FILE = E2E_DIR / "models" / "gemma-3-270m-q4_k_m.gguf"
NOT_SET_UP = ("no local model for e2e tests: run `bash scripts/e2e_model.sh setup` once "
              "(~10 min), then `uv run pytest -m e2e`")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Servers:
    """Where the real model answers."""

    model_name: str      # e.g. gemma3:270m
    openai_base: str     # llama.cpp's OpenAI-compatible API, http://127.0.0.1:PORT/v1
    ollama_host: str     # the Ollama front, http://127.0.0.1:PORT
    n_ctx: int


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _is_set_up() -> bool:
    return (E2E_DIR / "venv" / "bin" / "python").exists() and MODEL_FILE.exists()


def _read_env() -> dict[str, str]:
    path = E2E_DIR / "servers.env"
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            json.loads(response.read())
            return True
    except (OSError, ValueError):
        return False


def _running(env: dict[str, str]) -> bool:
    return bool(env) and _answers(env["E2E_OPENAI_API_BASE"] + "/models") and _answers(
        env["OLLAMA_HOST"] + "/api/version")


def _script(command: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT), command], check=False, capture_output=True,
                            text=True, timeout=180, env={**os.environ, "E2E_DIR": str(E2E_DIR)})
    if result.returncode != 0:
        pytest.fail(f"scripts/e2e_model.sh {command} failed:\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def e2e_servers() -> Servers:
    """The running servers; started here (and stopped at the end) when none run."""
    if not _is_set_up():
        pytest.skip(NOT_SET_UP)
    env = _read_env()
    started = not _running(env)
    if started:
        _script("start")
        env = _read_env()
    yield Servers(model_name=env["E2E_MODEL_NAME"], openai_base=env["E2E_OPENAI_API_BASE"],
                  ollama_host=env["OLLAMA_HOST"], n_ctx=int(env["E2E_N_CTX"]))
    if started and not os.environ.get("E2E_KEEP_SERVERS"):
        _script("stop")


@pytest.fixture(autouse=True)
def _needs_servers(e2e_servers: Servers) -> None:
    """Every e2e test needs the servers (and skips cleanly without them)."""
