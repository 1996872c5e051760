"""Token counts (tiktoken from litellm's shipped files) and sampling of huge texts."""

from __future__ import annotations

import os
import subprocess
import sys

from rlm.llm import tokens
from rlm.llm.tokens import count_messages, count_tokens, estimate_tokens


def test_known_counts():
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("supercalifragilistic antidisestablishmentarianism") == 13
    assert count_tokens("supercalifragilistic antidisestablishmentarianism",
                        "openai/gpt-4o") == 12  # o200k_base


def test_models_pick_their_encoding():
    assert tokens.encoding_name("gpt-4o-mini") == "o200k_base"
    assert tokens.encoding_name("openai/o3-mini") == "o200k_base"
    assert tokens.encoding_name("ollama/llama3") == "cl100k_base"
    assert tokens.encoding_name(None) == "cl100k_base"


def test_counting_needs_no_download():
    # A fresh interpreter with tiktoken's own cache pointed nowhere useful still counts:
    # the encodings come from litellm's shipped folder.
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": "/nonexistent", "HTTPS_PROXY": "http://0.0.0.0:9"}
    env.pop("CUSTOM_TIKTOKEN_CACHE_DIR", None)
    code = ("import sys; from rlm.llm.tokens import count_tokens; "
            "print(count_tokens('hello world'), count_tokens('hello world', 'gpt-4o'), "
            "'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, check=True)
    assert out.stdout.split() == ["2", "2", "False"]


def test_huge_texts_are_sampled_and_scaled(monkeypatch):
    line = "The quick brown fox jumps over the lazy dog; the magic number is 4217.\n"
    text = line * 6000  # ~430 KB
    exact = count_tokens(text)
    monkeypatch.setattr(tokens, "SAMPLE_ABOVE_CHARS", 100_000)
    monkeypatch.setattr(tokens, "SAMPLE_CHARS", 8_000)
    encoded: list[int] = []
    real = tokens._encoding("cl100k_base")

    class Spy:
        def encode_ordinary(self, piece):
            encoded.append(len(piece))
            return real.encode_ordinary(piece)

    monkeypatch.setattr(tokens, "_encoding", lambda name: Spy())
    estimate = count_tokens(text)
    assert abs(estimate - exact) / exact < 0.02
    assert len(encoded) == tokens.SAMPLE_COUNT and sum(encoded) <= 16 * 8_000 < len(text)


def test_count_messages_adds_the_per_message_overhead():
    messages = [{"role": "system", "content": "hello world"},
                {"role": "user", "content": [{"type": "text", "text": "hello world"}]},
                {"role": "assistant", "content": None}]
    assert count_messages(messages) == 3 + (4 + 2) + (4 + 2) + 4


def test_estimate_tokens_from_characters():
    assert [estimate_tokens(n) for n in (0, 1, 4, 5, 4000)] == [0, 1, 1, 2, 1000]
