"""The model layer: the ``Model`` protocol every client implements, and what a call returns.

The engine only knows this protocol: ``await model.complete(messages, model=...)`` returns a
``Completion`` with the text and that call's own usage (never "last usage" state). The
implementations live beside it: the direct HTTP door to local servers (``http``), litellm
for every other provider (``litellm_model``), several hosts (``router``), and the scripted
model for tests (``scripted``); ``factory.make_model`` is the one place that builds them.
Importing this package is light: no litellm, no network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class CallOptions:
    """How the engine wants a model run, beyond the messages: the same on every call of a
    run (a local server reloads a model whose window changes).

    Attributes:
        num_ctx: Ollama's running window (``options.num_ctx``); other servers ignore it.
        think: a thinking model thinks (True), does not (False), or as its server decides
            (None).
        keep_alive: how long Ollama keeps the model loaded after a call (a duration such
            as ``"30m"``; ``None``: the server's 5 minutes).
        on_thinking: receives streamed thinking, apart from the reply's tokens.
    """

    num_ctx: int | None = None
    think: bool | None = None
    keep_alive: str | None = None
    on_thinking: TokenCallback | None = None


@dataclass(frozen=True)
class Completion:
    """One model call's reply and its own usage.

    ``text`` is the reply alone; a thinking model's thinking is in ``thinking``, never in
    ``text`` (``rlm.llm.thinking``).
    """

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    thinking: str = ""
    host: str = ""  # which host served it, when a model is spread over several
    server_counted: bool = False  # prompt_tokens is the server's own count, not ours


class Model(Protocol):
    """What the engine needs from a model client."""

    async def complete(
        self,
        messages: list[dict],
        *,
        model: str,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        on_token: TokenCallback | None = None,
        options: CallOptions | None = None,
    ) -> Completion:
        """Ask ``model`` for one reply; stream the reply's text to ``on_token`` when given."""
        ...


class SyncComplete:
    """``complete_sync`` for a client whose ``complete`` is async (mixed into the clients)."""

    complete: Callable[..., Any]

    def complete_sync(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                      max_tokens: int | None = None, on_token: TokenCallback | None = None,
                      options: CallOptions | None = None) -> Completion:
        """``complete`` for code without an event loop (not from inside a running loop)."""
        import asyncio

        return asyncio.run(self.complete(messages, model=model, stop=stop, max_tokens=max_tokens,
                                         on_token=on_token, options=options))
