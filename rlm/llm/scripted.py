"""A scripted model for exact, offline tests (and for trying the engine without a model).

``ScriptedModel(["reply 1", "reply 2"])`` answers calls in order; ``ScriptedModel(fn)``
answers ``fn(messages, model)``. Every call is kept in ``calls`` for assertions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlm.llm import CallOptions, Completion, TokenCallback
from rlm.llm.thinking import split_thinking

Reply = str | Callable[[list[dict], str], str]


@dataclass
class Call:
    messages: list[dict]
    model: str
    stop: tuple[str, ...]
    options: CallOptions | None = None


class ScriptedModel:
    """Replies from a list (in call order) or from a function of the messages.

    Args:
        replies: a list of replies (str, or a function of ``(messages, model)``), used in
            order; or one function used for every call.
        delay: seconds to wait per call (to make calls overlap in concurrency tests).
        stream_chunk: characters per streamed token when ``on_token`` is given.
        honor_stop: cut replies at stop sequences as a real server does (set ``False`` to
            act like a server that ignores them).
    """

    def __init__(self, replies: Sequence[Reply] | Callable[[list[dict], str], str],
                 *, delay: float = 0.0, stream_chunk: int = 8, honor_stop: bool = True):
        if isinstance(replies, str):
            raise TypeError("ScriptedModel takes a list of replies or a function, not one str")
        self._replies = replies
        self._index = 0
        self._lock = threading.Lock()
        self.delay = delay
        self.stream_chunk = stream_chunk
        self.honor_stop = honor_stop
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        with self._lock:
            self.calls.append(Call([dict(m) for m in messages], model, tuple(stop), options))
            reply = self._next()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            text = reply(messages, model) if callable(reply) else reply
            thinking, text = split_thinking(text)  # a scripted <think> block, as a server sends
            if self.honor_stop:
                text = _cut_at_stop(text, stop)
            if thinking and options is not None and options.on_thinking is not None:
                options.on_thinking(thinking)
            if on_token:
                for i in range(0, len(text), self.stream_chunk):
                    on_token(text[i:i + self.stream_chunk])
        finally:
            with self._lock:
                self.in_flight -= 1
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
        return Completion(text=text, model=model, prompt_tokens=max(1, prompt_chars // 4),
                          completion_tokens=max(1, (len(text) + len(thinking)) // 4),
                          thinking=thinking)

    def _next(self) -> Reply:
        if callable(self._replies):
            return self._replies
        if self._index >= len(self._replies):
            raise AssertionError(f"ScriptedModel ran out of replies after {self._index} calls")
        reply = self._replies[self._index]
        self._index += 1
        return reply


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut like a real server does: at the first stop sequence, which is not included."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[:min(cuts)] if cuts else text
