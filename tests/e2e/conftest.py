"""Servers for the end-to-end tests: a real model behind llama.cpp and the Ollama front.

Every test in this folder is marked ``e2e`` (deselected by default; ``pytest -m e2e`` runs
them). The session uses servers that are already running (``bash scripts/e2e_model.sh
start``) or starts them and stops them at the end. Two sets of servers, set up apart:
llama-cpp-python's server with the Ollama front (``e2e_servers``), and llama.cpp's own
``llama-server`` at a small window (``llama_server``). A test whose servers are not set up
skips with one line that says what to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(os.environ.get("E2E_DIR", ROOT / ".e2e"))
SCRIPT = ROOT / "scripts" / "e2e_model.sh"
MODEL_FILE = E2E_DIR / "models" / "gemma-3-270m-q4_k_m.gguf"
NOT_SET_UP = ("no local model for e2e tests: run `bash scripts/e2e_model.sh setup` once "
              "(~15 min), then `uv run pytest -m e2e`")
NO_LLAMA_SERVER = ("llama.cpp's llama-server is not built: run `bash scripts/e2e_model.sh "
                   "setup llama-server` once (~6 min), then `uv run pytest -m e2e`")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Servers:
    """Where the real model answers."""

    model_name: str      # e.g. gemma3:270m
    openai_base: str     # llama.cpp's OpenAI-compatible API, http://127.0.0.1:PORT/v1
    ollama_host: str     # the Ollama front, http://127.0.0.1:PORT
    n_ctx: int


@dataclass(frozen=True)
class LlamaServer:
    """llama.cpp's own ``llama-server`` on the same model, at a small window and one slot."""

    model_name: str      # the alias it serves the model under, e.g. gemma3:270m
    api_base: str        # http://127.0.0.1:PORT/v1 (its /props sits beside /v1)
    n_ctx: int           # what it was started with (-c), e.g. 2048


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _is_set_up() -> bool:
    return (E2E_DIR / "venv" / "bin" / "python").exists() and MODEL_FILE.exists()


def _has_llama_server() -> bool:
    return _is_set_up() and (E2E_DIR / "bin" / "llama-server").exists()


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
    """Every server the script started answers (the script starts all that are set up)."""
    urls = [env[key] + path for key, path in (("E2E_OPENAI_API_BASE", "/models"),
                                               ("OLLAMA_HOST", "/api/version"),
                                               ("E2E_LLAMA_SERVER_API_BASE", "/models"))
            if key in env]
    built_but_not_started = _has_llama_server() and "E2E_LLAMA_SERVER_API_BASE" not in env
    return bool(urls) and not built_but_not_started and all(_answers(url) for url in urls)


def _script(command: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT), command], check=False, capture_output=True,
                            text=True, timeout=180, env={**os.environ, "E2E_DIR": str(E2E_DIR)})
    if result.returncode != 0:
        pytest.fail(f"scripts/e2e_model.sh {command} failed:\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def e2e_env() -> Iterator[dict[str, str]]:
    """``servers.env`` of the running servers; started here (and stopped at the end) when
    they do not all run."""
    if not _is_set_up():
        pytest.skip(NOT_SET_UP)
    env = _read_env()
    started = not _running(env)
    if started:
        _script("start")
        env = _read_env()
    yield env
    if started and not os.environ.get("E2E_KEEP_SERVERS"):
        _script("stop")


@pytest.fixture(scope="session")
def e2e_servers(e2e_env: dict[str, str]) -> Servers:
    """llama-cpp-python's server and the Ollama front."""
    if "OLLAMA_HOST" not in e2e_env:
        pytest.skip(NOT_SET_UP)
    return Servers(model_name=e2e_env["E2E_MODEL_NAME"],
                   openai_base=e2e_env["E2E_OPENAI_API_BASE"],
                   ollama_host=e2e_env["OLLAMA_HOST"], n_ctx=int(e2e_env["E2E_N_CTX"]))


@pytest.fixture(scope="session")
def llama_server(e2e_env: dict[str, str]) -> LlamaServer:
    """llama.cpp's ``llama-server`` at a small window."""
    if not _has_llama_server() or "E2E_LLAMA_SERVER_API_BASE" not in e2e_env:
        pytest.skip(NO_LLAMA_SERVER)
    return LlamaServer(model_name=e2e_env["E2E_MODEL_NAME"],
                       api_base=e2e_env["E2E_LLAMA_SERVER_API_BASE"],
                       n_ctx=int(e2e_env["E2E_LLAMA_SERVER_N_CTX"]))
