"""Does a sub-call's prompt fit its model? Checked before the call is sent.

Small local models have small windows (Ollama often runs them at 2k-8k tokens), and a
prompt that does not fit is silently truncated by the server: the answer then reads fine
and is wrong. A prompt too long for its model is refused with advice instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rlm.llm.tokens import count_tokens
from rlm.llm.windows import trained_window

CHECK_ABOVE_CHARS = 8_000  # shorter prompts fit every model worth using
REPLY_ROOM = 512           # tokens left for the answer

WindowLookup = Callable[[str], Awaitable[int | None]]


class FitChecker:
    """Caches each model's window; ``check`` returns ``None`` or a refusal text."""

    def __init__(self, lookup: WindowLookup | None = None):
        self._lookup = lookup or default_window
        self._windows: dict[str, int | None] = {}
        self._lock = asyncio.Lock()

    async def check(self, model: str, prompt: str) -> str | None:
        if len(prompt) <= CHECK_ABOVE_CHARS:
            return None
        window = await self.window(model)
        if not window:
            return None
        tokens = count_tokens(prompt, model)
        if tokens + REPLY_ROOM <= window:
            return None
        return (f"[llm_query refused: the prompt is about {tokens:,} tokens but {model} takes "
                f"{window:,}. Split the text into smaller chunks (for example "
                f"{max(1, (window - REPLY_ROOM) * 3):,} characters each) and use "
                f"llm_query_batched.]")

    async def window(self, model: str) -> int | None:
        async with self._lock:
            if model not in self._windows:
                try:
                    self._windows[model] = await self._lookup(model)
                except Exception:  # noqa: BLE001  unknown is not an error: the call decides
                    self._windows[model] = None
            return self._windows[model]


async def default_window(model: str) -> int | None:
    """The model's window as the model layer reports it (``rlm.llm.windows``)."""
    return await trained_window(model)
