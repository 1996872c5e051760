"""How Ollama fits a chat into its running window, silently.

Two stages, both without any error reaching the client:

1. ``server/prompt.go`` ``chatPrompt`` drops whole messages from the front until the
   rendered prompt fits ``num_ctx``, always keeping the latest message and every system
   message before the cut (prompt.go:20-74: the first start ``i`` whose
   ``system messages before i + messages[i:]`` fit wins). Releases before v0.15.5 walked
   backward from the end instead (df7024952 only saved tokenize calls); as dropping a
   message never makes a prompt longer, both walks keep the same messages. Images count
   768 tokens each for models with a projector.
2. When the kept prompt is still too long (the latest message alone is), the runner cuts
   tokens out of it. Since v0.30.11 (``llm/llama_server.go``
   ``completionPromptForRequest``, c191a145b) a prompt of more than ``num_ctx - 1`` tokens
   keeps its first ``num_keep`` (+1 for BOS) tokens and its end, down to
   ``contextShiftPromptLimit`` = ``num_ctx - max((num_ctx - n_keep) / 2, 1)``, about half
   the window; a request with ``"shift": false`` gets a 400 instead. Before, the runner
   kept ``num_keep`` tokens and the end, to exactly ``num_ctx`` tokens
   (``runner/ollamarunner/runner.go`` ``NewSequence``, "truncating input prompt").

``prompt_eval_count`` then reports the tokens kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ollama_models import NUM_KEEP, SHIFT_HEADROOM
from .tokenize import Tokenizer, text_of

SHIFT_REFUSED = ("the prompt is longer than the context length currently available to the "
                 "model; shorten the prompt, adjust the context length in settings, or use "
                 "a model with a longer context length")  # llm/llama_server.go:296


@dataclass
class Truncation:
    """One prompt a server cut: which chat request (index into ``chat_requests()``), at
    what window, tokens before and after, the messages dropped whole (oldest first), and
    the tokens the runner cut out of what was kept."""

    request: int
    model: str
    num_ctx: int
    tokens_before: int
    tokens_after: int
    dropped: list[dict]
    cut_tokens: int = 0


@dataclass
class Fit:
    """The prompt the model gets: kept messages, their token count, what was dropped."""

    messages: list[dict]
    tokens: int
    tokens_before: int
    dropped: list[dict] = field(default_factory=list)
    cut_tokens: int = 0  # tokens the runner cut out of the kept prompt

    @property
    def truncated(self) -> bool:
        return bool(self.dropped) or self.cut_tokens > 0


def fit_messages(messages: list[dict], counts: list[int], fixed: int, num_ctx: int) -> Fit:
    """Stage 1: drop whole messages from the front (``chatPrompt``).

    Start ``i`` costs ``fixed`` + the system messages before ``i`` + ``messages[i:]``;
    moving the start past a system message keeps it, so only other messages leave the
    total. The latest message always stays, fitting or not.
    """
    before = fixed + sum(counts)
    total, start = before, 0
    while total > num_ctx and start < len(messages) - 1:
        if messages[start].get("role") != "system":
            total -= counts[start]
        start += 1
    keep = [i for i, m in enumerate(messages) if i >= start or m.get("role") == "system"]
    dropped = [m for i, m in enumerate(messages) if i < start and m.get("role") != "system"]
    return Fit([messages[i] for i in keep], total, before, dropped)


def runner_limit(tokens: int, num_ctx: int, bos: int,
                 version: tuple[int, ...]) -> int | None:
    """Stage 2: the token count the runner cuts the prompt to, or None when it fits."""
    if version >= SHIFT_HEADROOM:
        if tokens <= num_ctx - 1:
            return None
        n_keep = min(NUM_KEEP + bos, num_ctx - 1)
        return num_ctx - max((num_ctx - n_keep) // 2, 1)
    return num_ctx if tokens > num_ctx else None


def cut_front(messages: list[dict], cut: int, tokenizer: Tokenizer) -> list[dict]:
    """What the model still sees once ``cut`` tokens went from the start of the prompt
    (after the first few kept ones): the earliest texts lose their beginnings."""
    seen = []
    for message in messages:
        text = text_of(message.get("content"))
        have = tokenizer.count(text)
        if cut <= 0 or not have:
            seen.append(message)
            continue
        keep = max(0, have - cut)
        cut -= have - keep
        seen.append({**message, "content": tokenizer.tail(text, keep)})
    return seen
