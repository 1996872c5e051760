"""Pytest fixtures for the loopback servers; ``tests/conftest.py`` imports them.

Every fixture here first cleans the model-related environment (``model_env``), so a test
never reaches a real Ollama or uses a real key by accident.
"""

from __future__ import annotations

import socket

import pytest

from rlm.config import ENV_VARS

from .llamacpp import LlamaCppServer
from .ollama import OllamaServer
from .openai import OpenAIServer

# Variables that would point a test at a real server, a real key or a user's settings.
MODEL_ENV_VARS = (
    *ENV_VARS, "OLLAMA_HOST", "OLLAMA_API_BASE", "OLLAMA_API_KEY", "OPENAI_API_KEY",
    "OPENAI_API_BASE", "OPENAI_BASE_URL", "GROQ_API_KEY",
    "GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY",
    "DEEPSEEK_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "OPENROUTER_API_KEY",
    "XAI_API_KEY", "FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "CEREBRAS_API_KEY",
    "COHERE_API_KEY", "PERPLEXITYAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "all_proxy",
)


@pytest.fixture
def model_env(monkeypatch):
    """Remove provider keys, Ollama hosts, proxies and every declared RLM_* setting from the
    environment."""
    for name in MODEL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return monkeypatch


@pytest.fixture
def ollama_server(model_env):
    """A started ``OllamaServer`` with ``llama3:latest`` pulled; ``OLLAMA_HOST`` points at it.

    Strict defaults: a 4096-token window when a request sets no ``num_ctx``, one request
    served at a time, prompts counted by the template and tokenizer of ``tokenize.py``.
    """
    with OllamaServer() as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        yield server


@pytest.fixture
def openai_server(model_env):
    """A started ``OpenAIServer`` accepting any model name, no key needed."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def llamacpp_server(model_env):
    """A started ``LlamaCppServer``: ``-c 4096``, the default 4 slots sharing the cache."""
    with LlamaCppServer() as server:
        yield server


@pytest.fixture
def vllm_server(model_env):
    """A started vLLM-like ``OpenAIServer`` with ``max_model_len=4096``."""
    with OpenAIServer(max_model_len=4096) as server:
        yield server


@pytest.fixture
def closed_url(model_env):
    """``http://127.0.0.1:<port>`` where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
