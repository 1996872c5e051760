"""The wire formats ``rlm.llm.http`` speaks: request bodies, whole and streamed replies of
OpenAI-compatible and Ollama servers, and just enough HTTP/1.1 (status line, headers,
content-length and chunked bodies) to read them off an asyncio stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from rlm.llm import CallOptions, TokenCallback
from rlm.llm.failures import CallTimedOut
from rlm.llm.thinking import ThinkingFilter


class HTTPStatus(Exception):
    """The server answered with an error status (or an error inside a stream).

    ``status_code`` and the message (the server's own words) are what
    ``rlm.llm.failures`` reads, as it does from litellm's exceptions.
    """

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        super().__init__(_error_words(status, body))
        self.status_code = status
        self.body = body
        self.headers = headers or {}  # Retry-After, for rlm.llm.failures.retry_after


def _error_words(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
        error = data.get("error", data)
        text = error.get("message", error) if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace")
    return " ".join(str(text).split())[:300] or f"HTTP {status}"


Usage = tuple[int, int] | None  # (prompt, completion) tokens as the server reported them


@dataclass
class WireReply:
    """What a server answered: the reply, the thinking apart from it, the usage."""

    text: str
    thinking: str
    usage: Usage


def openai_request(base: str, name: str, messages: list[dict], stop: Sequence[str],
                   max_tokens: int | None, stream: bool,
                   options: CallOptions | None = None) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"model": name, "messages": messages, "stream": stream}
    body |= {"stream_options": {"include_usage": True}} if stream else {}
    body |= {"stop": list(stop)} if stop else {}
    body |= {"max_tokens": max_tokens} if max_tokens else {}
    return f"{base}/chat/completions", body


def ollama_request(base: str, name: str, messages: list[dict], stop: Sequence[str],
                   max_tokens: int | None, stream: bool,
                   options: CallOptions | None = None) -> tuple[str, dict[str, Any]]:
    settings: dict[str, Any] = {"stop": list(stop)} if stop else {}
    settings |= {"num_predict": max_tokens} if max_tokens else {}
    body: dict[str, Any] = {"model": name, "messages": messages, "stream": stream}
    if options is not None:
        settings |= {"num_ctx": options.num_ctx} if options.num_ctx else {}
        body |= {"think": options.think} if options.think is not None else {}
        body |= {"keep_alive": options.keep_alive} if options.keep_alive else {}
    return f"{base}/api/chat", body | {"options": settings}


# --- replies ------------------------------------------------------------------------------
def openai_usage(usage: dict | None) -> Usage:
    return (int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0)) if usage else None


async def openai_stream(lines: AsyncIterator[bytes], on_token: TokenCallback,
                        on_thinking: TokenCallback | None = None) -> WireReply:
    """Server-sent events: ``reasoning_content`` (llama.cpp) or ``reasoning`` (vLLM) is
    thinking, and so is a ``<think>`` block at the start of the content."""
    split, usage = ThinkingFilter(on_token, on_thinking), None
    async for line in lines:
        data = line[5:].strip() if line.startswith(b"data:") else b""
        if data == b"[DONE]":
            break
        if not data:
            continue
        event = json.loads(data)
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content") or delta.get("reasoning"):
                split.add_thinking(delta.get("reasoning_content") or delta["reasoning"])
            if delta.get("content"):
                split.feed(delta["content"])
        usage = openai_usage(event.get("usage")) or usage
    async for _ in lines:  # read to the end so the connection can be reused
        pass
    thinking, text = split.finish()
    return WireReply(text, thinking, usage)


def _ollama_usage(data: dict) -> Usage:
    return int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)


async def ollama_stream(lines: AsyncIterator[bytes], on_token: TokenCallback,
                        on_thinking: TokenCallback | None = None) -> WireReply:
    """NDJSON: ``message.thinking`` (a request with ``think``) is thinking, and so is a
    ``<think>`` block at the start of the content (older servers, ``think`` absent)."""
    split, usage = ThinkingFilter(on_token, on_thinking), None
    async for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        if event.get("error"):
            raise HTTPStatus(500, line)
        message = event.get("message") or {}
        if message.get("thinking"):
            split.add_thinking(message["thinking"])
        if message.get("content"):
            split.feed(message["content"])
        if event.get("done"):
            usage = _ollama_usage(event)
    thinking, text = split.finish()
    return WireReply(text, thinking, usage)


# --- HTTP/1.1 framing ---------------------------------------------------------------------
async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str], *,
                    first: float, between: float) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive (chunked framing removed), in few large pieces: one
    ``read`` (and one timer) per socket read, not per chunk, keeps a stream cheap. The
    first bytes may take ``first`` seconds (the model is thinking, or loading), each later
    read ``between``; past that, ``CallTimedOut``."""
    clock = _ReadClock(first, between)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        buffer, done = b"", False
        while not done:
            data = await clock.read(reader)
            if not data:
                raise asyncio.IncompleteReadError(buffer, None)
            buffer += data
            payload, buffer, done = unchunk(buffer)
            if payload:
                yield payload
    elif "content-length" in headers:
        left = int(headers["content-length"])
        while left:
            chunk = await clock.read(reader, min(left, 2 ** 20))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(chunk)
            yield chunk
    else:  # the body ends when the server closes the connection
        while chunk := await clock.read(reader):
            yield chunk


class _ReadClock:
    """The time one socket read may take: ``first`` until bytes have come, then ``between``."""

    def __init__(self, first: float, between: float):
        self.first, self.between, self.started = first, between, False

    async def read(self, reader: asyncio.StreamReader, size: int = 2 ** 16) -> bytes:
        limit = self.between if self.started else self.first
        try:
            async with asyncio.timeout(limit):
                data = await reader.read(size)
        except TimeoutError:
            raise CallTimedOut("chunk" if self.started else "first_byte", limit) from None
        self.started = True
        return data


def unchunk(buffer: bytes) -> tuple[bytes, bytes, bool]:
    """Decode the complete chunks at the start of ``buffer``: (payload, rest, ended)."""
    parts: list[bytes] = []
    pos = 0
    while (eol := buffer.find(b"\r\n", pos)) >= 0:
        size = int(buffer[pos:eol].split(b";", 1)[0], 16)
        if size == 0:  # the last chunk; these servers send no trailers
            ended = buffer.endswith(b"\r\n\r\n", eol)
            return b"".join(parts), b"" if ended else buffer[pos:], ended
        if len(buffer) < eol + 4 + size:
            break
        parts.append(buffer[eol + 2:eol + 2 + size])
        pos = eol + 4 + size
    return b"".join(parts), buffer[pos:], False


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line
    if buffer:
        yield buffer
