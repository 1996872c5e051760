"""The direct path: Ollama's ``/api/chat`` and OpenAI-compatible ``/chat/completions`` over
aiohttp, without litellm.

litellm costs about 7 ms of CPU per call and 0.6 ms per streamed chunk (a 300-token reply:
~200 ms), which on a two-core machine caps how many calls can be in flight. For the servers
whose API is small and stable (Ollama, vLLM, llama.cpp, LM Studio...), ``LiteLLMModel(
direct=True)`` sends the request itself. Failures raise ``HTTPError`` (with ``status_code``)
or aiohttp's own errors, which ``rlm.llm.failures`` maps exactly like litellm's.

Differences from litellm, on purpose: ``ollama/`` models also use ``/api/chat`` (Ollama
applies the model's chat template; litellm renders its own prompt for ``/api/generate``),
and content given as a list of parts is sent to Ollama as its joined text.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rlm.llm.failures import Target
from rlm.llm.providers import OLLAMA_PROVIDERS, OPENAI_COMPATIBLE, model_name, provider_of


class HTTPError(Exception):
    """The server answered with an error status (or an error inside a stream)."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


def supports(model: str, api_base: str | None) -> bool:
    """True for Ollama models, and for OpenAI-compatible ones given an api base."""
    provider = provider_of(model)
    return provider in OLLAMA_PROVIDERS or (provider in OPENAI_COMPATIBLE and bool(api_base))


@dataclass
class DirectCall:
    """One prepared request; ``run`` has the same contract as the litellm call."""

    sessions: Sessions
    target: Target
    url: str
    body: dict
    headers: dict
    ollama: bool

    async def run(self, on_token) -> tuple[str, int, int]:
        import aiohttp

        session = await self.sessions.get()
        body = {**self.body, "stream": on_token is not None}
        if on_token is not None and not self.ollama:
            body["stream_options"] = {"include_usage": True}
        timeout = aiohttp.ClientTimeout(total=self.target.timeout)
        async with session.post(self.url, json=body, headers=self.headers,
                                timeout=timeout) as response:
            if response.status >= 400:
                raise HTTPError(response.status, _error_text(await response.text()))
            if on_token is None:
                return _read_whole(await response.json(content_type=None), self.ollama)
            return await _read_stream(response.content, on_token, self.ollama)


def prepare(sessions: Sessions, target: Target, messages: list[dict], stop, max_tokens,
            api_key: str | None) -> DirectCall:
    """Build the request for ``target`` (the caller checked ``supports`` first)."""
    model, base = target.model, (target.api_base or "").rstrip("/")
    if provider_of(model) in OLLAMA_PROVIDERS:
        options = {"stop": list(stop)} if stop else {}
        if max_tokens:
            options["num_predict"] = max_tokens
        body = {"model": model_name(model), "messages": [_plain(m) for m in messages],
                "options": options}
        return DirectCall(sessions, target, f"{base}/api/chat", body, {}, ollama=True)
    body = {"model": model_name(model), "messages": messages}
    if stop:
        body["stop"] = list(stop)
    if max_tokens:
        body["max_tokens"] = max_tokens
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return DirectCall(sessions, target, f"{base}/chat/completions", body, headers, ollama=False)


def _plain(message: dict) -> dict:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return {**message, "content": "" if content is None else content}


def _error_text(raw: str) -> str:
    try:
        error = json.loads(raw).get("error", raw)
    except (ValueError, AttributeError):
        return raw.strip()[:300]
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]


def _read_whole(data: dict, ollama: bool) -> tuple[str, int, int]:
    if "error" in data:
        raise HTTPError(500, _error_text(json.dumps(data)))
    if ollama:
        text = (data.get("message") or {}).get("content") or ""
        return text, int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)
    choices = data.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content") or ""
    return (text, *_openai_usage(data.get("usage")))


def _openai_usage(usage: dict | None) -> tuple[int, int]:
    usage = usage or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


async def _read_stream(content, on_token, ollama: bool) -> tuple[str, int, int]:
    parts: list[str] = []
    usage = (0, 0)
    async for data in _events(content, ollama):
        if "error" in data:
            raise HTTPError(500, _error_text(json.dumps(data)))
        piece, usage = _stream_piece(data, ollama, usage)
        if piece:
            parts.append(piece)
            on_token(piece)
    return ("".join(parts), *usage)


def _stream_piece(data: dict, ollama: bool, usage: tuple[int, int]):
    if ollama:
        piece = (data.get("message") or {}).get("content") or ""
        if data.get("done"):
            usage = (int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0))
        return piece, usage
    if data.get("usage"):
        usage = _openai_usage(data["usage"])
    choices = data.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or "", usage


async def _events(content, ollama: bool) -> AsyncIterator[dict]:
    """Decoded stream events: NDJSON lines (Ollama) or ``data:`` lines (server-sent events)."""
    async for raw in content:
        line = raw.strip()
        if not line:
            continue
        if not ollama:
            if not line.startswith(b"data:"):
                continue  # comments, event names
            line = line[5:].strip()
            if line == b"[DONE]":
                return
        yield json.loads(line)


async def _keeper(session) -> AsyncIterator[None]:
    """Holds a session open until the event loop shuts its async generators down."""
    try:
        yield
    finally:
        await session.close()


class Sessions:
    """One keep-alive aiohttp session per event loop, closed when that loop is shut down.

    ``asyncio.run`` (and pytest's runner) close every async generator of the loop before
    closing it; the session's keeper is such a generator, so the session never outlives its
    loop and never has to be closed by the caller (``aclose`` does it early).
    """

    def __init__(self, limit: int = 100):
        self.limit = limit
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def get(self):
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None or entry[0].closed:
            import aiohttp

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit), trust_env=True)
            keeper = _keeper(session)
            await keeper.__anext__()  # registers it with the loop's async-generator hooks
            entry = self._by_loop[loop] = (session, keeper)
        return entry[0]

    async def aclose(self) -> None:
        entry = self._by_loop.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()
