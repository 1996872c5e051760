"""Prices and windows from litellm's table; local calls cost nothing."""

from __future__ import annotations

import pytest

from rlm.llm.pricing import context_window, cost_usd, is_local


@pytest.mark.parametrize(("model", "api_base", "local"), [
    ("ollama/llama3", None, True),
    ("ollama_chat/qwen2.5-coder:7b", "http://gpu-box:11434", True),
    ("openai/gpt-4o", "http://127.0.0.1:8000/v1", True),
    ("openai/gpt-4o", "http://localhost:8000/v1", True),
    ("openai/gpt-4o", "http://[::1]:8000/v1", True),
    ("openai/gpt-4o", None, False),
    ("openai/gpt-4o", "https://my-proxy.example.com/v1", False),
    ("groq/llama-3.3-70b-versatile", None, False),
])
def test_what_counts_as_local(model, api_base, local):
    assert is_local(model, api_base) is local


def test_local_calls_cost_nothing_and_hosted_ones_follow_the_price_table():
    assert cost_usd("ollama/llama3", 10_000, 10_000) == 0.0
    assert cost_usd("openai/gpt-4o", 10_000, 10_000, "http://127.0.0.1:8000/v1") == 0.0
    groq = cost_usd("groq/llama-3.3-70b-versatile", 1_000_000, 0)
    assert 0.1 < groq < 5.0  # litellm's table: well under a few dollars per million tokens
    assert cost_usd("groq/llama-3.3-70b-versatile", 2_000_000, 0) == pytest.approx(2 * groq)
    assert cost_usd("openai/some-model-nobody-priced", 1000, 1000) == 0.0
    assert cost_usd("groq/llama-3.3-70b-versatile", 0, 0) == 0.0


def test_context_windows_from_the_table():
    assert context_window("gpt-4o") == 128_000
    assert context_window("groq/llama-3.3-70b-versatile") == 131_072
    assert context_window("ollama/llama3") is None  # ask Ollama (rlm.llm.ollama) instead
    assert context_window("openai/some-model-nobody-priced") is None
