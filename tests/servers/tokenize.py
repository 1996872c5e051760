"""How the loopback servers count tokens: a chat template around a tokenizer.

A real server never counts the way the engine does. Ollama renders the chat through the
model's template (``server/prompt.go`` ``chatPrompt`` -> ``renderPrompt``) and counts the
rendered text with the model's own tokenizer (``r.Tokenize``); llama.cpp
(``tools/server`` ``oaicompat_chat_params_parse`` then ``tokenize_input_prompts``) and vLLM
(``vllm/renderers``) do the same. So the servers here count in two parts:

* a **template** adds the special tokens each message costs. ``LLAMA3`` is Llama 3's:
  ``<|begin_of_text|>`` once, ``<|start_header_id|>role<|end_header_id|>\\n\\n`` (4) and
  ``<|eot_id|>`` (1) per message, and ``<|start_header_id|>assistant<|end_header_id|>\\n\\n``
  (4) that opens the reply. ``CHATML`` is Qwen's (``<|im_start|>role\\n`` ...
  ``<|im_end|>\\n``, no BOS). Special tokens never merge with text, so a count is the sum
  of its parts.
* a **tokenizer** counts the text. The default, ``SCALED_CL100K``, is tiktoken's
  ``cl100k_base`` count times 1.1, rounded up, per text.

Why that default: the engine estimates with ``cl100k_base`` plus 4 tokens per message
(``rlm/tokens.py``). A test server counting exactly that way would make any safety margin
for tokenizer differences untestable. ``o200k_base`` is no good either: it counts *fewer*
tokens than ``cl100k_base`` for English and code, so it would hide the problem. Real local
tokenizers differ from ``cl100k_base`` in both directions by a few percent (Llama 3 and
Qwen have 128k/152k vocabularies close to it), and by 20-30% more for 32k-vocabulary models
(Mistral 7B, Llama 2). A documented +10% on every text, plus the template's 5 tokens per
message instead of the engine's 4, is a tokenizer that always counts more than the
engine's estimate, by a known amount, so a margin is exercised and can be sized. The
tokenizer is pluggable (``tokenizer=`` on every server): ``TiktokenCounter("o200k_base")``,
``WORDS`` (the old whitespace count), or any object with ``count``/``head``/``tail``.

tiktoken's files ship inside litellm; ``TIKTOKEN_CACHE_DIR`` is pointed there (as
``rlm.llm.tokens.use_shipped_tokenizers`` does) so nothing is downloaded.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

IMAGE_TOKENS = 768  # Ollama's chatPrompt: "Clip images are represented as 768 tokens"


class Tokenizer(Protocol):
    def count(self, text: str) -> int: ...

    def head(self, text: str, tokens: int) -> str: ...

    def tail(self, text: str, tokens: int) -> str: ...


@functools.lru_cache(maxsize=4)
def _encoding(name: str):
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        import importlib.util

        spec = importlib.util.find_spec("litellm")
        for root in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(root) / "litellm_core_utils" / "tokenizers"
            if folder.is_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    import tiktoken

    return tiktoken.get_encoding(name)


@dataclass(frozen=True)
class TiktokenCounter:
    """A tiktoken encoding's count, times ``factor`` rounded up (1.0: the plain count)."""

    encoding: str = "cl100k_base"
    factor: float = 1.0

    def _ids(self, text: str) -> list[int]:
        return _encoding(self.encoding).encode_ordinary(text) if text else []

    def count(self, text: str) -> int:
        return math.ceil(round(len(self._ids(text)) * self.factor, 6))

    def _fit(self, tokens: int) -> int:
        """How many encoding tokens fit in ``tokens`` counted ones."""
        return max(0, math.floor(round(tokens / self.factor, 6)))

    def head(self, text: str, tokens: int) -> str:
        """The longest start of ``text`` that counts at most ``tokens``."""
        ids = self._ids(text)
        return _encoding(self.encoding).decode(ids[:self._fit(tokens)])

    def tail(self, text: str, tokens: int) -> str:
        """The longest end of ``text`` that counts at most ``tokens``."""
        ids, keep = self._ids(text), self._fit(tokens)
        return _encoding(self.encoding).decode(ids[len(ids) - keep:] if keep else [])


class WordCounter:
    """Whitespace-separated words: the count the servers used before they were strict."""

    def count(self, text: str) -> int:
        return len(text.split())

    def head(self, text: str, tokens: int) -> str:
        return " ".join(text.split()[:max(0, tokens)])

    def tail(self, text: str, tokens: int) -> str:
        words = text.split()
        return " ".join(words[len(words) - tokens:] if tokens > 0 else [])


@dataclass(frozen=True)
class DigitSplitter:
    """A tokenizer that spends one token on every digit, as Gemma's, Qwen's, Mistral's and
    Llama 2's do (measured with llama-server on gemma3: 2.3x cl100k on lists of numbers),
    and counts the rest as ``rest`` does."""

    rest: TiktokenCounter = TiktokenCounter("cl100k_base", 1.1)

    def count(self, text: str) -> int:
        digits = sum(c.isdigit() for c in text)
        return digits + self.rest.count("".join(" " if c.isdigit() else c for c in text))

    def head(self, text: str, tokens: int) -> str:
        return _longest(text, tokens, self.count, from_start=True)

    def tail(self, text: str, tokens: int) -> str:
        return _longest(text, tokens, self.count, from_start=False)


def _longest(text: str, tokens: int, count, *, from_start: bool) -> str:
    """The longest start (or end) of ``text`` that counts at most ``tokens`` (bisection)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        part = text[:middle] if from_start else text[len(text) - middle:]
        low, high = (middle, high) if count(part) <= tokens else (low, middle - 1)
    return text[:low] if from_start else text[len(text) - low:]


SCALED_CL100K = TiktokenCounter("cl100k_base", 1.1)
DIGITS = DigitSplitter()
WORDS = WordCounter()


@dataclass(frozen=True)
class ChatTemplate:
    """The special tokens a chat template puts around messages."""

    name: str
    bos: int            # once, before everything
    per_message: int    # role header and end-of-turn marker of one message
    reply_header: int   # what opens the assistant's reply (add_generation_prompt)
    text: str           # the template's source, as /api/show and /props show it


LLAMA3 = ChatTemplate(
    "llama3", bos=1, per_message=5, reply_header=4,
    text="{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
         "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n")
CHATML = ChatTemplate(
    "chatml", bos=0, per_message=5, reply_header=3,
    text="{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
         "{{ end }}<|im_start|>assistant\n")


def text_of(content) -> str:
    """A message's text: a string, or the text parts of OpenAI's list of parts."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def message_tokens(message: dict, tokenizer: Tokenizer, template: ChatTemplate,
                   image_tokens: int = 0) -> int:
    """What one message costs inside a rendered prompt (header, text, images, end marker)."""
    text = text_of(message.get("content"))
    images = len(message.get("images") or []) * image_tokens
    return template.per_message + tokenizer.count(text) + images


def prompt_tokens(messages: list[dict], tokenizer: Tokenizer, template: ChatTemplate,
                  image_tokens: int = 0) -> int:
    """Tokens of the whole rendered prompt, reply header included."""
    body = sum(message_tokens(m, tokenizer, template, image_tokens) for m in messages)
    return template.bos + body + template.reply_header
