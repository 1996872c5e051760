"""Shared fixtures: a clean environment and the loopback model servers."""

from __future__ import annotations

import pytest

from rlm.config import ENV_VARS
from tests.servers.fixtures import *  # noqa: F401,F403  (ollama_server, openai_server)


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """No test may reach a real model server or read the developer's settings."""
    for name in (*ENV_VARS, "OLLAMA_HOST", "OLLAMA_API_BASE"):  # every declared setting
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
