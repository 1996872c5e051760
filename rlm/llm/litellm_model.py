"""``LiteLLMModel``: the ``Model`` for every provider, through litellm."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from rlm.llm import CallOptions, Completion, SyncComplete, TokenCallback
from rlm.llm.failures import CallTimedOut, Target, kind_of
from rlm.llm.litellm_loader import load_litellm
from rlm.llm.pricing import priced_completion
from rlm.llm.providers import (
    OPENAI_COMPATIBLE,
    check_model_string,
    is_ollama,
    needs_known_provider_check,
    ollama_host,
    provider_of,
    require_key,
)
from rlm.llm.retry import RetryPolicy, Timeouts, default_backoff, with_retries
from rlm.llm.thinking import ThinkingFilter, split_thinking
from rlm.llm.wire import WireReply


class LiteLLMModel(SyncComplete):
    """The ``Model`` for every provider, through litellm.

    Each call checks the model string and the provider key first (a hosted model with no
    key fails before any request), then asks litellm, streaming when ``on_token`` is given.
    Failures are retried by the model layer's one policy (``rlm.llm.retry``); the last one
    becomes a typed error from ``rlm.errors`` whose message says what to do. Usage comes
    from the server, or from tiktoken when the server reports none. Local calls (Ollama,
    or any api base on this machine) cost 0.

    Args:
        api_base: sent with every call. When unset, Ollama models go to ``OLLAMA_HOST``
            (default ``http://127.0.0.1:11434``), since litellm itself only reads
            ``OLLAMA_API_BASE``.
        timeouts: first byte (litellm's own request timeout), between two streamed pieces,
            the whole call (``rlm.llm.retry.Timeouts``; the settings ``RLM_*_TIMEOUT``).
        env: where keys and ``OLLAMA_HOST`` are read (default ``os.environ``).
        retries, backoff, sleep: the retry policy (``rlm.llm.retry.RetryPolicy``).
    """

    def __init__(self, api_base: str | None = None, *, retries: int = 3,
                 timeouts: Timeouts | None = None, env: Mapping[str, str] | None = None,
                 backoff: Callable[[int], float] = default_backoff,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.api_base = api_base or None
        self.timeouts = timeouts or Timeouts()
        self.env = os.environ if env is None else env
        self.retry = RetryPolicy(max(0, int(retries)), backoff, sleep, self.timeouts.call)

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        """Ask ``model`` for one reply; stream the reply's text to ``on_token`` when given.
        For Ollama models ``options`` become litellm's ``num_ctx``, ``keep_alive`` and
        ``reasoning_effort`` (litellm's way to send ``think``).

        Raises:
            ConfigError: the model string is not one litellm knows.
            MissingKey: the provider's key is unset (before any request) or was refused.
            ServerUnreachable: the server is not running / the connection kept failing.
            ModelNotFound: the server does not have the model.
            ProviderError: any other failure that retries did not cure.
        """
        call = self._prepare(messages, model, stop, max_tokens, options)
        started = time.monotonic()
        reply = await with_retries(call.run, call.target, self.retry, on_token)
        return priced_completion(model, messages, reply.text, reply.usage, call.target.api_base,
                                 time.monotonic() - started, thinking=reply.thinking)

    def api_base_for(self, model: str) -> str | None:
        """The api base a call to ``model`` uses."""
        if self.api_base:
            return self.api_base
        return ollama_host(self.env) if is_ollama(model) else None

    def _prepare(self, messages: list[dict], model: str, stop: Sequence[str],
                 max_tokens: int | None, options: CallOptions | None) -> _Call:
        model = check_model_string(model)
        api_base = self.api_base_for(model)
        key = require_key(model, self.env, api_base)
        litellm = load_litellm()
        if needs_known_provider_check(model):
            check_model_string(model, litellm.provider_list)
        kwargs: dict[str, Any] = {"model": model, "messages": messages, "api_base": api_base,
                                  "timeout": self.timeouts.first_byte, "max_retries": 0,
                                  "num_retries": 0}
        if stop:
            kwargs["stop"] = list(stop)
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if key or (api_base and provider_of(model) in OPENAI_COMPATIBLE):
            kwargs["api_key"] = key or "no-key-needed"
        if options is not None and is_ollama(model):
            kwargs |= {"num_ctx": options.num_ctx} if options.num_ctx else {}
            kwargs |= {"keep_alive": options.keep_alive} if options.keep_alive else {}
            if options.think is not None:
                kwargs["reasoning_effort"] = "medium" if options.think else "none"
        on_thinking = options.on_thinking if options else None
        return _Call(litellm, kwargs, Target(model, api_base, self.timeouts.first_byte),
                     self.timeouts, on_thinking)


class _Call:
    """One prepared litellm call: run it (streamed or whole) and read text, thinking (litellm's
    ``reasoning_content``, or a ``<think>`` block it left in the content) and usage."""

    def __init__(self, litellm: Any, kwargs: dict[str, Any], target: Target,
                 timeouts: Timeouts, on_thinking: TokenCallback | None = None):
        self.litellm = litellm
        self.kwargs = kwargs
        self.target = target
        self.timeouts = timeouts
        self.on_thinking = on_thinking

    async def run(self, on_token: TokenCallback | None) -> WireReply:
        if on_token is None:
            response = await self._ask()
            message = _first(response, "message")
            inline, text = split_thinking(getattr(message, "content", None) or "")
            thinking = getattr(message, "reasoning_content", None) or inline
            return WireReply(text, thinking, _usage_numbers(getattr(response, "usage", None)))
        response = await self._ask(stream=True, stream_options={"include_usage": True})
        split, usage = ThinkingFilter(on_token, self.on_thinking), None
        async for chunk in _paced(response, self.timeouts):
            usage = getattr(chunk, "usage", None) or usage
            delta = _first(chunk, "delta")
            if getattr(delta, "reasoning_content", None):
                split.add_thinking(delta.reasoning_content)
            if getattr(delta, "content", None):
                split.feed(delta.content)
        thinking, text = split.finish()
        return WireReply(text, thinking, _usage_numbers(usage))


    async def _ask(self, **extra: Any) -> Any:
        try:
            return await self.litellm.acompletion(**self.kwargs, **extra)
        except Exception as exc:
            if kind_of(exc) in ("Timeout", "APITimeoutError"):  # litellm's own timeout
                raise CallTimedOut("first_byte", self.timeouts.first_byte) from exc
            raise


async def _paced(stream: Any, timeouts: Timeouts) -> AsyncIterator[Any]:
    """The stream's chunks, the first within ``first_byte`` seconds, each next within
    ``chunk`` seconds (else ``CallTimedOut``)."""
    chunks, limit, what = stream.__aiter__(), timeouts.first_byte, "first_byte"
    while True:
        try:
            async with asyncio.timeout(limit):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise CallTimedOut(what, limit) from None
        yield chunk
        limit, what = timeouts.chunk, "chunk"


def _first(response: Any, part: str) -> Any:
    """``response.choices[0].<part>``, or None when the response has no choice."""
    try:
        return getattr(response.choices[0], part, None)
    except (AttributeError, IndexError):
        return None


def _usage_numbers(usage) -> tuple[int, int] | None:
    """(prompt, completion) tokens as the server reported them; ``None`` when it did not."""
    if usage is None:
        return None
    return int(getattr(usage, "prompt_tokens", 0) or 0), \
        int(getattr(usage, "completion_tokens", 0) or 0)
