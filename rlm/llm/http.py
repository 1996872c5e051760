"""The direct HTTP door to local model servers: Ollama and OpenAI-compatible ones (no litellm).

litellm serves every provider, but each call through it costs milliseconds of Python
(logging objects, cost maps, response wrapping) and importing it costs seconds. For the two
kinds of server a local-first user talks to most (Ollama, and an OpenAI-compatible ``/v1``
endpoint named by an api base: vLLM, llama.cpp, LM Studio) ``DirectModel`` speaks HTTP/1.1
itself over asyncio streams: keep-alive connections pooled per event loop
(``rlm.llm.pool``), streaming only when someone listens to tokens (``on_token``), the wire
formats in ``rlm.llm.wire``. Retries and errors are the model layer's own
(``rlm.llm.retry``, ``rlm.llm.failures``), exactly as for litellm. ``ollama/`` models use
Ollama's ``/api/chat`` (the server applies the model's chat template).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlsplit

from rlm.errors import ConfigError
from rlm.llm import CallOptions, Completion, SyncComplete, TokenCallback
from rlm.llm.failures import CallTimedOut, Target
from rlm.llm.pool import Pool
from rlm.llm.pricing import priced_completion
from rlm.llm.providers import (
    KEY_VARS,
    OPENAI_COMPATIBLE,
    check_model_string,
    is_ollama,
    model_name,
    ollama_server,
    provider_of,
)
from rlm.llm.retry import RetryPolicy, Timeouts, default_backoff, with_retries
from rlm.llm.wire import (
    HTTPStatus,
    WireReply,
    ollama_request,
    ollama_stream,
    openai_request,
    openai_stream,
    read_body,
    read_head,
    split_lines,
)


def supports(model: str, api_base: str | None = None) -> bool:
    """True when ``model`` can take the direct door: Ollama models, and OpenAI-compatible
    ones (``openai/``, ``hosted_vllm/``, ...) sent to an explicit api base."""
    return is_ollama(model) or (provider_of(model) in OPENAI_COMPATIBLE and bool(api_base))


class DirectModel(SyncComplete):
    """``rlm.llm.Model`` over direct HTTP for Ollama and OpenAI-compatible servers.

    Args:
        api_base: the server: ``http://host:port/v1`` for OpenAI-compatible ones (calls go
            to ``{api_base}/chat/completions``), ``http://host:11434`` for Ollama (default
            ``OLLAMA_HOST``, else ``http://127.0.0.1:11434``).
        api_key: sent as ``Authorization: Bearer``; default: the provider's key variable
            (``OPENAI_API_KEY`` for ``openai/``), none for Ollama.
        env: where keys and ``OLLAMA_HOST`` are read (default ``os.environ``).
        timeouts: connect, first byte, between two streamed pieces, the whole call
            (``rlm.llm.retry.Timeouts``; the settings ``RLM_*_TIMEOUT``).
        retries, backoff, sleep: the retry policy (``rlm.llm.retry.RetryPolicy``).

    Replies are always streamed, also when nobody listens to tokens: a server that stops
    answering is then noticed within ``timeouts.chunk``, not only at the end of the call.
    """

    def __init__(self, api_base: str | None = None, *, api_key: str | None = None,
                 env: Mapping[str, str] | None = None, timeouts: Timeouts | None = None,
                 retries: int = 3, backoff: Callable[[int], float] = default_backoff,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.api_base = api_base.rstrip("/") if api_base else None
        self.api_key = api_key
        self.env = os.environ if env is None else env
        self.timeouts = timeouts or Timeouts()
        self.retry = RetryPolicy(max(0, int(retries)), backoff, sleep, self.timeouts.call)
        self._pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        """Ask ``model`` for one reply; stream the reply's text to ``on_token`` when given
        (raises the same typed errors as ``LiteLLMModel.complete``). ``options`` go to
        Ollama as ``options.num_ctx``, ``think`` and ``keep_alive``."""
        started = time.monotonic()
        model = check_model_string(model)
        ollama = is_ollama(model)
        base = self.api_base_for(model)
        build = ollama_request if ollama else openai_request
        target = Target(model, base, self.timeouts.first_byte)
        on_thinking = options.on_thinking if options else None

        async def attempt(listen: TokenCallback | None) -> WireReply:
            url, body = build(base, model_name(model), messages, stop, max_tokens,
                              stream=True, options=options)
            return await self._request(url, body, ollama, listen or _ignore, on_thinking)

        reply = await with_retries(attempt, target, self.retry, on_token)
        return priced_completion(model, messages, reply.text, reply.usage, base,
                                 time.monotonic() - started, thinking=reply.thinking)

    def api_base_for(self, model: str) -> str:
        """The server a call to ``model`` goes to (``OLLAMA_HOST`` as the rest of the model
        layer reads it: ``gpu-box`` means ``http://gpu-box:11434``)."""
        if is_ollama(model):
            return ollama_server(self.api_base, self.env)
        if self.api_base:
            return self.api_base
        raise ConfigError(f"{model} needs an api base for the direct door (an OpenAI-"
                          f"compatible server): set RLM_API_BASE or pass --api-base.")

    async def aclose(self) -> None:
        """Close this event loop's idle connections now (else they close with the loop)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            pool.close()

    # --- one HTTP exchange --------------------------------------------------------------
    async def _request(self, url: str, body: dict, ollama: bool, on_token: TokenCallback | None,
                       on_thinking: TokenCallback | None) -> WireReply:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        key = (parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80), tls)
        pool = await self._pool()
        payload = json.dumps(body).encode()
        accept = "text/event-stream" if body.get("stream") and not ollama else "application/json"
        head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"Accept: {accept}\r\nUser-Agent: rlm\r\n{self._auth(ollama)}\r\n").encode()
        for fresh_try in (False, True):
            reader, writer, reused = await pool.open(key, self.timeouts.connect)
            try:
                writer.write(head + payload)
                status, headers = await self._read_head(reader)
            except (OSError, asyncio.IncompleteReadError):
                writer.close()
                if reused and not fresh_try:
                    continue  # the server closed an idle keep-alive connection: reconnect
                raise
            try:
                result = await self._read_reply(reader, headers, status, ollama, on_token,
                                                on_thinking)
            except BaseException:
                writer.close()
                raise
            if headers.get("connection", "").lower() == "close" or reader.at_eof():
                writer.close()
            else:
                pool.keep(key, reader, writer)
            return result
        raise AssertionError("unreachable")

    async def _read_reply(self, reader: asyncio.StreamReader, headers: dict[str, str],
                          status: int, ollama: bool, on_token: TokenCallback | None,
                          on_thinking: TokenCallback | None) -> WireReply:
        chunks = read_body(reader, headers, first=self.timeouts.first_byte,
                           between=self.timeouts.chunk)
        if status >= 400:
            raise HTTPStatus(status, b"".join([c async for c in chunks]), headers)
        stream = ollama_stream if ollama else openai_stream
        return await stream(split_lines(chunks), on_token or _ignore, on_thinking)

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        try:
            async with asyncio.timeout(self.timeouts.first_byte):
                return await read_head(reader)
        except TimeoutError:
            raise CallTimedOut("first_byte", self.timeouts.first_byte) from None

    async def _pool(self) -> Pool:
        loop = asyncio.get_running_loop()
        if loop not in self._pools:
            self._pools[loop] = pool = Pool()
            await pool.start()
        return self._pools[loop]

    def _auth(self, ollama: bool) -> str:
        key = self.api_key if ollama else self.api_key or self.env.get(KEY_VARS["openai"][0])
        return f"Authorization: Bearer {key}\r\n" if key else ""


def _ignore(text: str) -> None:
    """Where streamed tokens go when nobody listens."""
