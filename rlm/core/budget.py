"""Fitting every call into its model's running window.

The run decides each model's window once (``Windows``) and every call is counted before it
is sent: prompt plus the room kept for the reply must fit, so that no server ever cuts a
prompt (Ollama would do it silently). Counting is tiktoken's ``cl100k_base``, which is not
the model's own tokenizer: ``MARGIN`` and ``PER_MESSAGE`` cover the difference and the chat
template the server wraps around each message (measured against the loopback servers, which
count 10% more than cl100k plus a Llama 3 template). Sizes that depend on the window scale
with it: the reply room, an observation's length, and when an agent's history is folded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping

from rlm.config import Settings
from rlm.llm.providers import is_ollama
from rlm.llm.tokens import count_digits, count_messages
from rlm.llm.windows import OLLAMA_DEFAULT_NUM_CTX, Window, decide_window, num_ctx_for

MARGIN = 1.15           # our count times this is what a local tokenizer may count
PER_MESSAGE = 4         # plus this per message for the chat template's special tokens
REPLY_SHARE = 4         # the reply may take at most 1/4 of a small window
CHARS_PER_TOKEN = 3     # a cautious rate for output text (code and numbers run below 4)
OBSERVATION_SHARE = 0.25  # one observation takes at most this share of the window

WindowLookup = Callable[[str], Awaitable[int | None]]


def content_tokens(messages: list[dict], model: str | None) -> int:
    """Our count of the messages' text, plus two more for every three digits (a tokenizer
    may spend one token per digit where ``cl100k_base`` packs three: measured 2.3x on lists
    of numbers with Gemma's). The costly part of a count: the others take it as ``content``
    when the caller has it."""
    return count_messages(messages, model) + math.ceil(count_digits(messages) * 2 / 3)


def prompt_tokens(messages: list[dict], model: str | None, factor: float = 1.0,
                  content: int | None = None) -> int:
    """Tokens the server may count for ``messages``: ``content_tokens`` times ``MARGIN`` or
    what the server's own counts showed (``factor``), plus the chat template's tokens."""
    content = content_tokens(messages, model) if content is None else content
    return math.ceil(content * max(MARGIN, factor)) + PER_MESSAGE * len(messages)


def raw_tokens(messages: list[dict], model: str | None, content: int | None = None) -> int:
    """``prompt_tokens`` before the margins: what a server's count is compared with."""
    content = content_tokens(messages, model) if content is None else content
    return content + PER_MESSAGE * len(messages)


def reply_room(window: Window, settings: Settings) -> int | None:
    """Tokens kept for the reply: ``reply_max_tokens``, at most a quarter of the window."""
    wanted = settings.reply_max_tokens
    if window.running is None:
        return wanted
    share = window.running // REPLY_SHARE
    return min(wanted, share) if wanted else share


def prompt_limit(window: Window, settings: Settings) -> int | None:
    """The most prompt tokens a call may send (``None``: the window is unknown)."""
    if window.running is None:
        return None
    return window.running - (reply_room(window, settings) or 0)


def observation_chars(window: Window, settings: Settings) -> int:
    """An observation's length in characters: the setting, less for a small window."""
    if window.running is None:
        return settings.observation_chars
    scaled = int(window.running * OBSERVATION_SHARE * CHARS_PER_TOKEN)
    return max(300, min(settings.observation_chars, scaled))


class Windows:
    """Each model's window, decided once per run (the first time a model is asked about).

    Args:
        settings: ``api_base``, ``num_ctx`` and ``model_num_ctx`` decide them.
        env: where ``OLLAMA_HOST`` and ``OLLAMA_NUM_PARALLEL`` are read.
        lookup: ``async (model) -> tokens | None`` instead of asking servers (tests, or an
            embedder who knows better): that number is the running window.
    """

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None,
                 lookup: WindowLookup | None = None):
        self.settings = settings
        self.env = env
        self.lookup = lookup
        self.known: dict[str, Window] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.factors: dict[str, float] = {}  # per model: server's count / ours, at its worst

    def factor(self, model: str) -> float:
        """How much more than our count the model's server counted, at most (1.0: it never
        counted more than ``MARGIN`` allows for)."""
        return self.factors.get(model, 1.0)

    def learn(self, model: str, messages: list[dict], server_tokens: int,
              content: int | None = None) -> None:
        """Compare a server's count of a whole prompt with ours; keep the worst ratio (a
        server that reused a cached prefix counts less, and teaches nothing). ``content``:
        the prompt's ``content_tokens`` when the caller has counted them."""
        ours = raw_tokens(messages, model, content)
        if ours and server_tokens > ours * MARGIN:
            self.factors[model] = max(self.factor(model), server_tokens / ours * 1.05)

    async def get(self, model: str) -> Window:
        """The window of ``model``; an unknown one when it cannot be found out (the call
        then says what is wrong, if anything is)."""
        lock = self._locks.setdefault(model, asyncio.Lock())
        async with lock:
            if model not in self.known:
                self.known[model] = await self._decide(model)
            return self.known[model]

    async def _decide(self, model: str) -> Window:
        if self.lookup is not None:
            tokens = await self.lookup(model)
            return Window(model, tokens, tokens, "window_lookup") if tokens else Window(model, None)
        s = self.settings
        try:
            return await decide_window(model, api_base=s.api_base, env=self.env,
                                       num_ctx=s.num_ctx, model_num_ctx=s.model_num_ctx)
        except Exception:  # noqa: BLE001  (unknown is not an error here: the call decides)
            asked = num_ctx_for(model, s.model_num_ctx) or s.num_ctx
            if is_ollama(model):  # still never leave the window to the server's default
                tokens = asked or OLLAMA_DEFAULT_NUM_CTX
                return Window(model, tokens, source="Ollama could not describe the model",
                              num_ctx=tokens)
            return Window(model, asked, source="the num_ctx setting" if asked else "unknown")
