"""The ``base`` arm: one plain model call with the whole context in the prompt.

The prompt is cut to fit the model's *running* window with the engine's own machinery
(``rlm.core.budget``: the window decided as a run decides it, the prompt counted as a run
counts it, room kept for the reply), never left to the server to cut silently. When it is
cut, the prompt says so to the model and the result says how many tokens were kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from rlm.config import Settings
from rlm.core.budget import Windows, prompt_limit, prompt_tokens, reply_room
from rlm.llm import CallOptions, Completion, Model
from rlm.llm.providers import is_ollama
from rlm.llm.tokens import count_tokens
from rlm.llm.windows import Window

PROMPT = """\
Answer the question about the text below.

Question: {question}

The text:
<<<
{context}
>>>{cut_note}

Question: {question}
Answer:"""
CUT_NOTE = ("\n[The text was cut to fit the model's window: only its first {kept:,} of "
            "{total:,} tokens are shown.]")
SHRINK = 0.95   # each retry keeps this share of the characters (rarely more than one)


@dataclass(frozen=True)
class Cut:
    """How much of the context a base prompt kept (tokens, cl100k_base)."""

    kept_tokens: int
    total_tokens: int
    window: int

    def to_dict(self) -> dict[str, int]:
        return {"kept_tokens": self.kept_tokens, "total_tokens": self.total_tokens,
                "window": self.window}


def build_prompt(question: str, context: str, model: str, window: Window,
                 settings: Settings) -> tuple[list[dict], Cut | None]:
    """The base prompt, its context cut (at a line or sentence end) to fit the window."""
    messages = _messages(question, context, None)
    limit = prompt_limit(window, settings)
    if limit is None or window.running is None or prompt_tokens(messages, model) <= limit:
        return messages, None
    total = count_tokens(context, model)
    overhead = prompt_tokens(_messages(question, "", Cut(total, total, 0)), model)
    room = max(0, limit - overhead)
    # Counted as the engine counts a prompt (margins, digits), so the first cut nearly fits.
    whole = prompt_tokens([{"role": "user", "content": context}], model)
    chars = int(len(context) * room / max(1, whole))
    while True:
        kept = _cut(context, chars)
        cut = Cut(count_tokens(kept, model), total, window.running)
        messages = _messages(question, kept, cut)
        if prompt_tokens(messages, model) <= limit or not kept:
            return messages, cut
        chars = int(len(kept) * SHRINK)


def _messages(question: str, context: str, cut: Cut | None) -> list[dict]:
    note = CUT_NOTE.format(kept=cut.kept_tokens, total=cut.total_tokens) if cut else ""
    return [{"role": "user", "content": PROMPT.format(question=question, context=context,
                                                      cut_note=note)}]


def _cut(text: str, chars: int) -> str:
    """The first ``chars`` characters, ended at the last line or sentence end in them."""
    if chars >= len(text):
        return text
    head = text[:max(0, chars)]
    end = max(head.rfind("\n"), head.rfind(". ") + 1)
    return head[:end] if end > len(head) // 2 else head


async def ask_base(question: str, context: str, *, client: Model, settings: Settings,
                   env: Mapping[str, str] | None = None) -> tuple[Completion, Cut | None]:
    """One call of ``settings.model`` on the whole (fitted) context.

    Returns:
        The completion and how the context was cut (``None``: it fit whole).
    """
    model = settings.model or ""
    window = await Windows(settings, env).get(model)
    messages, cut = build_prompt(question, context, model, window, settings)
    think = {"on": True, "off": False}.get(settings.think) if window.thinking else None
    options = CallOptions(num_ctx=window.num_ctx, think=think,
                          keep_alive=settings.keep_alive if is_ollama(model) else None)
    completion = await client.complete(messages, model=model, options=options,
                                       max_tokens=reply_room(window, settings))
    return completion, cut


def cut_words(cut: Cut | None) -> str:
    """``kept 6,102 of 131,072 tokens (window 8,192)``, or empty."""
    if cut is None:
        return ""
    share = math.floor(100 * cut.kept_tokens / max(1, cut.total_tokens))
    return (f"kept {cut.kept_tokens:,} of {cut.total_tokens:,} tokens ({share}%, window "
            f"{cut.window:,})")
