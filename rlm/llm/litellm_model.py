"""``LiteLLMModel``: the ``Model`` for every provider, through litellm."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from rlm.llm import direct_aiohttp as llm_direct
from rlm.llm import Completion, TokenCallback
from rlm.errors import Cancelled, LimitReached, RLMError
from rlm.llm.failures import Target, is_retryable, to_typed
from rlm.llm.litellm_loader import load_litellm
from rlm.llm.providers import (
    OPENAI_COMPATIBLE,
    check_model_string,
    is_ollama,
    needs_known_provider_check,
    ollama_host,
    provider_of,
    require_key,
)
from rlm.llm.tokens import cost_usd, count_messages, count_tokens

class LiteLLMModel:
    """The ``Model`` for every provider, through litellm.

    Each call checks the model string and the provider key first (a hosted model with no
    key fails before any request), then asks litellm, streaming when ``on_token`` is given.
    Rate limits, server errors, timeouts and dropped connections are retried with
    exponential backoff; the last failure becomes a typed error from ``rlm.errors`` whose
    message says what to do. Usage comes from the server, or from tiktoken when the server
    reports none. Local calls (Ollama, or any api base on this machine) cost 0.

    Args:
        api_base: sent with every call. When unset, Ollama models go to ``OLLAMA_HOST``
            (default ``http://127.0.0.1:11434``), since litellm itself only reads
            ``OLLAMA_API_BASE``.
        retries: further tries after a retryable failure (0 = try once).
        timeout: seconds per try (``None``: litellm's default).
        env: where keys and ``OLLAMA_HOST`` are read (default ``os.environ``).
        backoff: seconds to wait before retry ``n`` (0-based); default 0.5 s doubling to 8 s.
        sleep: the coroutine used to wait between tries (tests pass a recorder).
        direct: send Ollama and OpenAI-compatible (with an api base) calls straight over
            HTTP instead of through litellm (``rlm.llm.direct_aiohttp``): same results and errors,
            a fraction of the CPU per call, and litellm is never imported for them.
    """

    def __init__(self, api_base: str | None = None, *, retries: int = 3,
                 timeout: float | None = 600, env: Mapping[str, str] | None = None,
                 backoff: Callable[[int], float] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 direct: bool = False):
        self.api_base = api_base or None
        self.retries = max(0, int(retries))
        self.timeout = timeout
        self.env = os.environ if env is None else env
        self.backoff = backoff or default_backoff
        self._sleep = sleep
        self.direct = direct
        self._sessions = llm_direct.Sessions()

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None,
                       on_token: TokenCallback | None = None) -> Completion:
        """Ask ``model`` for one reply; stream text to ``on_token`` when given.

        Raises:
            ConfigError: the model string is not one litellm knows.
            MissingKey: the provider's key is unset (before any request) or was refused.
            ServerUnreachable: the server is not running / the connection kept failing.
            ModelNotFound: the server does not have the model.
            ProviderError: any other failure that retries did not cure.
        """
        call = self._prepare(messages, model, stop, max_tokens)
        started = time.monotonic()
        text, prompt_tokens, completion_tokens = await self._with_retries(call, on_token)
        prompt_tokens = prompt_tokens or count_messages(messages, model)
        if not completion_tokens and text:
            completion_tokens = count_tokens(text, model)
        cost = cost_usd(model, prompt_tokens, completion_tokens, call.target.api_base)
        return Completion(text=text, model=model, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, cost_usd=cost,
                          seconds=time.monotonic() - started)

    def complete_sync(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                      max_tokens: int | None = None,
                      on_token: TokenCallback | None = None) -> Completion:
        """``complete`` for code without an event loop (not from inside a running loop)."""
        return asyncio.run(self.complete(messages, model=model, stop=stop,
                                         max_tokens=max_tokens, on_token=on_token))

    def api_base_for(self, model: str) -> str | None:
        """The api base a call to ``model`` uses."""
        if self.api_base:
            return self.api_base
        return ollama_host(self.env) if is_ollama(model) else None

    async def aclose(self) -> None:
        """Close the direct path's connections now (else they close with the event loop)."""
        await self._sessions.aclose()

    def _prepare(self, messages, model, stop, max_tokens) -> _Call | llm_direct.DirectCall:
        model = check_model_string(model)
        api_base = self.api_base_for(model)
        key = require_key(model, self.env, api_base)
        if self.direct and llm_direct.supports(model, api_base):
            target = Target(model, api_base, self.timeout)
            return llm_direct.prepare(self._sessions, target, messages, stop, max_tokens, key)
        litellm = load_litellm()
        if needs_known_provider_check(model):
            check_model_string(model, litellm.provider_list)
        kwargs = {"model": model, "messages": messages, "api_base": api_base,
                  "timeout": self.timeout, "max_retries": 0, "num_retries": 0}
        if stop:
            kwargs["stop"] = list(stop)
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if key or (api_base and provider_of(model) in OPENAI_COMPATIBLE):
            kwargs["api_key"] = key or "no-key-needed"
        return _Call(litellm, kwargs, Target(model, api_base, self.timeout))

    async def _with_retries(self, call: _Call | llm_direct.DirectCall,
                            on_token: TokenCallback | None):
        streamed = _StreamGuard(on_token)
        for attempt in range(self.retries + 1):
            try:
                return await call.run(streamed if on_token else None)
            except PASS_THROUGH:
                raise
            except Exception as exc:  # litellm raises many types; each is mapped below
                if exc is streamed.raised:  # the caller's own callback failed: not ours
                    raise
                last_try = attempt == self.retries or streamed.sent
                # Both may probe the server with a TCP connect: keep that off the loop.
                if last_try or not await asyncio.to_thread(is_retryable, exc, call.target):
                    typed = await asyncio.to_thread(to_typed, exc, call.target, attempt + 1)
                    raise typed from exc
            await self._sleep(self.backoff(attempt))
        raise AssertionError("unreachable")


# Exceptions that already say what happened: never retried, never re-wrapped.
PASS_THROUGH = (asyncio.CancelledError, RLMError, Cancelled, LimitReached)


def default_backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, ... capped at 8 s."""
    return min(8.0, 0.5 * 2 ** attempt)


class _StreamGuard:
    """Forwards tokens and remembers whether any went out (then a retry would repeat them)
    and what the callback raised (that goes to the caller unchanged)."""

    def __init__(self, on_token: TokenCallback | None):
        self._on_token = on_token
        self.sent = False
        self.raised: BaseException | None = None

    def __call__(self, text: str) -> None:
        self.sent = True
        if self._on_token is not None:
            try:
                self._on_token(text)
            except BaseException as exc:
                self.raised = exc
                raise


class _Call:
    """One prepared litellm call: run it (streamed or whole) and read text and usage."""

    def __init__(self, litellm, kwargs: dict, target: Target):
        self.litellm = litellm
        self.kwargs = kwargs
        self.target = target

    async def run(self, on_token: TokenCallback | None) -> tuple[str, int, int]:
        if on_token is None:
            response = await self.litellm.acompletion(**self.kwargs)
            return _text_of(response), *_usage_of(response)
        response = await self.litellm.acompletion(
            **self.kwargs, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        usage = None
        async for chunk in response:
            usage = getattr(chunk, "usage", None) or usage
            piece = _delta_of(chunk)
            if piece:
                parts.append(piece)
                on_token(piece)
        return "".join(parts), *_usage_numbers(usage)


def _text_of(response) -> str:
    try:
        return response.choices[0].message.content or ""
    except (AttributeError, IndexError):
        return ""


def _delta_of(chunk) -> str:
    try:
        return chunk.choices[0].delta.content or ""
    except (AttributeError, IndexError):
        return ""


def _usage_of(response) -> tuple[int, int]:
    return _usage_numbers(getattr(response, "usage", None))


def _usage_numbers(usage) -> tuple[int, int]:
    """(prompt, completion) tokens; 0 where the server gave none."""
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), \
        int(getattr(usage, "completion_tokens", 0) or 0)
