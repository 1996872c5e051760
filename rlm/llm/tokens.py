"""Token counts, offline and without litellm.

tiktoken's ``cl100k_base`` and ``o200k_base`` ship inside litellm
(``litellm/litellm_core_utils/tokenizers/``); ``TIKTOKEN_CACHE_DIR`` is pointed there before
the first encoding is loaded, so counting never downloads anything and never imports
litellm. tiktoken itself loads on the first count.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

SAMPLE_ABOVE_CHARS = 1_000_000   # longer texts are counted from samples, then scaled
SAMPLE_COUNT = 16
SAMPLE_CHARS = 32_768
CHARS_PER_TOKEN = 4              # the usual rule of thumb for English text and code
MESSAGE_OVERHEAD_TOKENS = 4      # role and separators per chat message (OpenAI's rule)


def tokenizer_dir() -> str | None:
    """litellm's folder of tiktoken files, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            return str(folder)
    return None


def use_shipped_tokenizers() -> None:
    """Point tiktoken at litellm's shipped files (as litellm itself does on import)."""
    if os.environ.get("CUSTOM_TIKTOKEN_CACHE_DIR"):
        os.environ["TIKTOKEN_CACHE_DIR"] = os.environ["CUSTOM_TIKTOKEN_CACHE_DIR"]
        return
    folder = tokenizer_dir()
    if folder:
        os.environ["TIKTOKEN_CACHE_DIR"] = folder


def encoding_name(model: str | None) -> str:
    """``o200k_base`` for the models that use it (gpt-4o, o1, o3, gpt-4.1, gpt-5...), else
    ``cl100k_base``: a fair stand-in for Llama, Qwen and other local tokenizers."""
    name = (model or "").rsplit("/", 1)[-1].lower()
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    return "cl100k_base"


@functools.lru_cache(maxsize=4)
def _encoding(name: str):
    use_shipped_tokenizers()
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model``'s tokenizer (cl100k_base when unknown).

    Texts over ``SAMPLE_ABOVE_CHARS`` are estimated: ``SAMPLE_COUNT`` evenly spaced slices
    are encoded and the count is scaled to the full length, so 100 MB costs what 512 KB does.
    """
    if not text:
        return 0
    encoding = _encoding(encoding_name(model))
    if len(text) <= SAMPLE_ABOVE_CHARS:
        return len(encoding.encode_ordinary(text))
    step = len(text) // SAMPLE_COUNT
    samples = [text[i * step:i * step + SAMPLE_CHARS] for i in range(SAMPLE_COUNT)]
    sampled_chars = sum(len(s) for s in samples)
    sampled_tokens = sum(len(encoding.encode_ordinary(s)) for s in samples)
    return round(sampled_tokens * len(text) / sampled_chars)


def count_messages(messages: Iterable[dict], model: str | None = None) -> int:
    """Tokens a chat request takes: each message's text plus a small per-message overhead."""
    total = 3  # every reply is primed with the assistant's header
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(_text_of(message.get("content")), model)
    return total


def count_digits(messages: Iterable[dict]) -> int:
    """Digits in the messages' text: ``cl100k_base`` packs up to three in a token, while
    Gemma's, Qwen's, Mistral's and Llama 2's tokenizers spend one token on each."""
    return sum(sum(map(str.isdigit, _text_of(m.get("content")))) for m in messages)


def _text_of(content) -> str:
    if isinstance(content, list):  # OpenAI's list of parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def estimate_tokens(chars: int) -> int:
    """A cheap estimate from a length in characters (no tokenizer)."""
    return max(0, -(-int(chars) // CHARS_PER_TOKEN))
