"""Shared fixtures: a clean environment and the loopback model servers."""

from __future__ import annotations

import pytest

from tests.servers.fixtures import *  # noqa: F401,F403  (ollama_server, openai_server)


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """No test may reach a real model server or read the developer's settings."""
    for name in ("RLM_MODEL", "RLM_SUB_MODEL", "RLM_API_BASE", "RLM_MAX_DEPTH", "RLM_MAX_STEPS",
                 "RLM_MAX_AGENTS", "RLM_ACTION_TIMEOUT", "RLM_MAX_CONCURRENCY", "RLM_TIMEOUT",
                 "RLM_MAX_TOKENS", "RLM_MAX_COST", "OLLAMA_HOST", "OLLAMA_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
