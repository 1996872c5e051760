"""A direct HTTP door to OpenAI-compatible and Ollama servers, for speed (no litellm).

litellm serves every provider, but each call through it costs milliseconds of Python
(logging objects, cost maps, response wrapping) and importing it costs seconds. For the two
kinds of server a local-first user talks to most (an OpenAI-compatible ``/v1`` endpoint
named by an api base, and Ollama) ``FastModel`` speaks HTTP/1.1 itself over asyncio
streams: keep-alive connections pooled per event loop (closed when it shuts down),
streaming only when someone listens to tokens (``on_token``). ``supports(model, api_base)``
says whether a model can take this door; ``FastFirstModel`` sends the rest to litellm.
Usage is the server's, else tiktoken's count; cost is 0 locally, else litellm's price.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import urlsplit

from rlm.errors import ModelNotFound, ProviderError, ServerUnreachable
from rlm.llm import Completion, TokenCallback
from rlm.llm.providers import (DEFAULT_OLLAMA_HOST, KEY_VARS, OLLAMA_PROVIDERS,
                               OPENAI_COMPATIBLE, model_name, provider_of)
from rlm.llm.wire import (  # noqa: F401  (the wire formats, split out to keep files small)
    _HTTPStatus,
    _openai_request,
    _ollama_request,
    _openai_whole,
    _openai_usage,
    _openai_stream,
    _ollama_whole,
    _ollama_stream,
    _read_head,
    _body,
    _unchunk,
    _lines)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 3           # tries per call for a retryable status or a dropped connection
BACKOFF = 0.5          # seconds before the 2nd try, doubled after
CONNECT_TIMEOUT = 10.0
IDLE_PER_HOST = 64     # keep-alive connections kept per host


def supports(model: str, api_base: str | None = None) -> bool:
    """True when ``model`` can go through ``FastModel``: Ollama models, and OpenAI-
    compatible ones (``openai/``, ``hosted_vllm/``, ...) sent to an explicit api base."""
    provider = provider_of(model)
    return provider in OLLAMA_PROVIDERS or (provider in OPENAI_COMPATIBLE and bool(api_base))


class FastFirstModel:
    """``rlm.llm.Model``: each call goes through ``FastModel`` when ``supports`` allows it,
    else through ``fallback`` (default: a ``LiteLLMModel`` with the same ``api_base``/``env``).
    """

    def __init__(self, api_base: str | None = None, *, env: Mapping[str, str] | None = None,
                 fallback=None):
        self.api_base = api_base or None
        self.env = os.environ if env is None else env
        self.fast = FastModel(api_base, env=self.env)
        self._fallback = fallback

    def fallback(self):
        """The ``Model`` for providers this door does not serve (built on first use)."""
        if self._fallback is None:
            from rlm.llm.litellm_model import LiteLLMModel

            self._fallback = LiteLLMModel(api_base=self.api_base, env=self.env)
        return self._fallback

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None,
                       on_token: TokenCallback | None = None) -> Completion:
        door = self.fast if supports(model, self.api_base) else self.fallback()
        return await door.complete(messages, model=model, stop=stop, max_tokens=max_tokens,
                                   on_token=on_token)


class _Pool:
    """Idle keep-alive connections of one event loop, per (host, port, tls)."""

    def __init__(self):
        self.idle: dict[tuple, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.watch = _close_at_shutdown(self)

    async def start(self) -> None:
        """Close the idle connections when the loop shuts down: ``asyncio.run`` closes
        every started async generator of its loop before closing the loop itself."""
        await anext(self.watch)

    async def open(self, key: tuple) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        idle = self.idle.get(key, [])
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        host, port, tls = key
        context = ssl.create_default_context() if tls else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, limit=2 ** 24), CONNECT_TIMEOUT)
        return reader, writer, False

    def keep(self, key: tuple, reader, writer) -> None:
        idle = self.idle.setdefault(key, [])
        if len(idle) < IDLE_PER_HOST and not writer.is_closing():
            idle.append((reader, writer))
        else:
            writer.close()

    def close(self) -> None:
        for conns in self.idle.values():
            for _, writer in conns:
                writer.close()
        self.idle.clear()


async def _close_at_shutdown(pool: _Pool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        pool.close()


class FastModel:
    """``rlm.llm.Model`` over direct HTTP for OpenAI-compatible servers and Ollama.

    Args:
        api_base: the server: ``http://host:port/v1`` for OpenAI-compatible ones (calls go
            to ``{api_base}/chat/completions``), ``http://host:11434`` for Ollama (default
            ``OLLAMA_HOST``, else ``http://127.0.0.1:11434``).
        api_key: sent as ``Authorization: Bearer``; default: the provider's key variable
            (``OPENAI_API_KEY`` for ``openai/``), none for Ollama.
        env: where keys and ``OLLAMA_HOST`` are read (default ``os.environ``).
        timeout: seconds to wait for each piece of a reply (a slow model may stream slowly).
    """

    def __init__(self, api_base: str | None = None, *, api_key: str | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 600.0):
        self.api_base = api_base.rstrip("/") if api_base else None
        self.api_key = api_key
        self.env = os.environ if env is None else env
        self.timeout = timeout
        self._pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None,
                       on_token: TokenCallback | None = None) -> Completion:
        started = time.monotonic()
        ollama = provider_of(model) in OLLAMA_PROVIDERS
        base = self._base(ollama)
        url, body = (_ollama_request if ollama else _openai_request)(
            base, model_name(model), messages, stop, max_tokens, stream=on_token is not None)
        text, usage = await self._call(model, base, url, body, ollama, on_token)
        return self._completion(model, base, messages, text, usage, time.monotonic() - started)

    # --- one call, with retries ---------------------------------------------------------
    async def _call(self, model: str, base: str, url: str, body: dict, ollama: bool,
                    on_token: TokenCallback | None) -> tuple[str, tuple[int, int] | None]:
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            sent_tokens = False

            def listen(piece: str) -> None:
                nonlocal sent_tokens
                sent_tokens = True
                on_token(piece)

            try:
                return await self._request(url, body, ollama, listen if on_token else None)
            except _HTTPStatus as exc:
                if exc.status not in RETRY_STATUS or attempt == ATTEMPTS:
                    raise _status_error(model, base, exc, ollama) from None
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                if sent_tokens or attempt == ATTEMPTS or isinstance(exc, ConnectionRefusedError):
                    raise ServerUnreachable(_unreachable(model, base, exc, ollama),
                                            model=model) from None
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def _request(self, url: str, body: dict, ollama: bool,
                       on_token: TokenCallback | None) -> tuple[str, tuple[int, int] | None]:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        key = (parts.hostname, parts.port or (443 if tls else 80), tls)
        pool = await self._pool()
        payload = json.dumps(body).encode()
        accept = "text/event-stream" if body.get("stream") and not ollama else "application/json"
        head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"Accept: {accept}\r\nUser-Agent: rlm\r\n{self._auth(ollama)}\r\n").encode()
        for fresh_try in (False, True):
            reader, writer, reused = await pool.open(key)
            try:
                writer.write(head + payload)
                async with asyncio.timeout(self.timeout):
                    status, headers = await _read_head(reader)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if reused and not fresh_try:
                    continue  # the server closed an idle keep-alive connection: reconnect
                raise
            try:
                result = await self._read_reply(reader, headers, status, ollama, on_token)
            except BaseException:
                writer.close()
                raise
            if headers.get("connection", "").lower() == "close" or reader.at_eof():
                writer.close()
            else:
                pool.keep(key, reader, writer)
            return result
        raise AssertionError("unreachable")

    async def _read_reply(self, reader, headers: dict, status: int, ollama: bool,
                          on_token: TokenCallback | None):
        chunks = _body(reader, headers, self.timeout)
        if status >= 400:
            raise _HTTPStatus(status, b"".join([c async for c in chunks]))
        if on_token is None:
            data = json.loads(b"".join([c async for c in chunks]) or b"{}")
            return (_ollama_whole if ollama else _openai_whole)(data)
        return await (_ollama_stream if ollama else _openai_stream)(_lines(chunks), on_token)

    # --- helpers ------------------------------------------------------------------------
    async def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        if loop not in self._pools:
            self._pools[loop] = pool = _Pool()
            await pool.start()
        return self._pools[loop]

    def _base(self, ollama: bool) -> str:
        if self.api_base:
            return self.api_base
        if ollama:
            host = self.env.get("OLLAMA_HOST", "").strip() or DEFAULT_OLLAMA_HOST
            return (host if "//" in host else f"http://{host}").rstrip("/")
        raise ProviderError("The fast model door needs an api base for OpenAI-compatible "
                            "models. Set RLM_API_BASE or pass --api-base.")

    def _auth(self, ollama: bool) -> str:
        key = self.api_key if ollama else self.api_key or self.env.get(KEY_VARS["openai"][0])
        return f"Authorization: Bearer {key}\r\n" if key else ""

    def _completion(self, model: str, base: str, messages: list[dict], text: str,
                    usage: tuple[int, int] | None, seconds: float) -> Completion:
        from rlm.llm import tokens

        if not usage or not any(usage):
            usage = (tokens.count_messages(messages, model), tokens.count_tokens(text, model))
        cost = tokens.cost_usd(model, usage[0], usage[1], base)
        return Completion(text=text, model=model, prompt_tokens=usage[0],
                          completion_tokens=usage[1], cost_usd=cost, seconds=seconds)


# --- request bodies ---------------------------------------------------------------------
def _status_error(model: str, base: str, exc: _HTTPStatus, ollama: bool) -> Exception:
    detail = exc.message()
    if exc.status == 404:
        fix = (f"Pull it with `ollama pull {model_name(model)}`" if ollama else
               f"Check the model name against `curl {base}/models`")
        return ModelNotFound(f"{base} has no model {model_name(model)!r} ({detail}). {fix}, "
                             f"or choose another with --model.", model=model)
    if exc.status in (401, 403):
        return ProviderError(f"{base} refused the request for {model} (HTTP {exc.status}: "
                             f"{detail}). Set the server's key in OPENAI_API_KEY (or your "
                             f".env file).", model=model)
    return ProviderError(f"{base} failed on {model} (HTTP {exc.status}: {detail}). Try again; "
                         f"if it persists, check the server's log.", model=model)


def _unreachable(model: str, base: str, exc: BaseException, ollama: bool) -> str:
    reason = str(exc) or type(exc).__name__
    fix = ("Start it with `ollama serve`, or point OLLAMA_HOST at it" if ollama else
           "Start the server, or fix RLM_API_BASE / --api-base")
    return f"Could not reach {base} for {model} ({reason}). {fix}."
