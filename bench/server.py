"""A scripted OpenAI-compatible model server for the bench, on 127.0.0.1 only.

Run it as its own process (so its CPU is not the engine's)::

    python bench/server.py --latency 0.05 --lifetime 900 --log /tmp/bench-server.jsonl

It prints ``PORT <n>`` on stdout once it listens, and stops by itself after ``--lifetime``
seconds (or on ``POST /_quit``). Standard library only, so either venv can start it.

What it answers:
- ``POST /v1/chat/completions``: one JSON object, or server-sent events (``stream: true``)
  with a final usage chunk when ``stream_options.include_usage`` is asked. Every reply
  waits the configured latency first, then is sent at once (streamed in ``chunk``-character
  pieces).
- ``GET /v1/models``: one model, ``bench``.
- ``POST /_script``: the replies of the next scenario (see ``Script``); clears nothing else.
- ``GET /_log?since=N``: the request log from entry ``N`` on (JSON list).
- ``POST /_quit``: stop now.

Which reply a request gets: a request without a system message is a plain sub-call
(``llm_query``) and gets ``"A:" + prompt``; one whose messages contain ``[[root]]`` is the
root agent, any other agent request is a child. The turn is the number of assistant
messages in the request plus one. The replies of a role are a list indexed by turn (the
last one repeats).

Every request writes one log line (JSON): ``n, role, turn, arrival, end`` (monotonic
seconds, comparable across processes on one machine), ``prompt_chars``, ``messages``,
``in_flight`` (requests in flight when it arrived, itself included), ``stream``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT_MARKER = "[[root]]"
SUB_PREFIX = "A:"


@dataclass
class Script:
    """What the server answers; replaced as a whole by ``POST /_script``."""

    root: list[str] = field(default_factory=lambda: ["Final Answer: ok"])
    child: list[str] = field(default_factory=lambda: ["Final Answer: child ok"])
    latency: float = 0.05
    latency_by: dict[str, float] = field(default_factory=dict)  # "root:2" -> seconds
    chunk: int = 4

    @classmethod
    def from_dict(cls, data: dict, default_latency: float) -> Script:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known.setdefault("latency", default_latency)
        return cls(**known)

    def reply(self, role: str, turn: int, messages: list[dict]) -> str:
        if role == "sub":
            return SUB_PREFIX + _text(messages[-1].get("content")) if messages else SUB_PREFIX
        replies = self.root if role == "root" else self.child
        return replies[min(turn, len(replies)) - 1] if replies else ""

    def delay(self, role: str, turn: int) -> float:
        return self.latency_by.get(f"{role}:{turn}", self.latency)


def classify(messages: list[dict]) -> tuple[str, int]:
    """(role, turn) of a chat request: ``sub``, ``root`` or ``child``; turn from 1."""
    if not any(m.get("role") == "system" for m in messages):
        return "sub", 1
    turn = 1 + sum(1 for m in messages if m.get("role") == "assistant")
    head = " ".join(_text(m.get("content")) for m in messages[:3])
    return ("root" if ROOT_MARKER in head else "child"), turn


def _text(content) -> str:
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def cut_at_stop(text: str, stop) -> str:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[:min(cuts)] if cuts else text


class BenchServer:
    """The asyncio HTTP/1.1 server (keep-alive, chunked streaming)."""

    def __init__(self, latency: float, log_path: str | None, slots: int = 0):
        self.default_latency = latency
        # A server's slots (llama.cpp -np, OLLAMA_NUM_PARALLEL): requests beyond wait.
        self.slots: Any = asyncio.Semaphore(slots) if slots else contextlib.nullcontext()
        self.script = Script(latency=latency)
        self.log: list[dict] = []
        self.in_flight = 0
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self.done.is_set():
                head = await reader.readuntil(b"\r\n\r\n")
                method, target, headers = _parse_head(head)
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                keep = headers.get("connection", "").lower() != "close"
                await self.route(method, target, body, writer, keep)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, target: str, body: bytes, writer, keep: bool) -> None:
        url = urlsplit(target)
        path = url.path.rstrip("/")
        if path in ("/v1/chat/completions", "/chat/completions") and method == "POST":
            await self.chat(json.loads(body or b"{}"), writer, keep)
        elif path in ("/v1/models", "/models"):
            _send_json(writer, 200, {"object": "list", "data": [
                {"id": "bench", "object": "model", "created": 0, "owned_by": "bench"}]}, keep)
        elif path == "/_script" and method == "POST":
            self.script = Script.from_dict(json.loads(body or b"{}"), self.default_latency)
            _send_json(writer, 200, {"ok": True, "log_size": len(self.log)}, keep)
        elif path == "/_log":
            since = int(parse_qs(url.query).get("since", ["0"])[0])
            _send_json(writer, 200, self.log[since:], keep)
        elif path == "/_quit":
            _send_json(writer, 200, {"ok": True}, False)
            self.done.set()
        else:
            _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}}, keep)
        await writer.drain()

    async def chat(self, request: dict, writer, keep: bool) -> None:
        arrival = time.monotonic()
        self.in_flight += 1
        messages = list(request.get("messages") or [])
        role, turn = classify(messages)
        entry = {"n": len(self.log), "role": role, "turn": turn, "arrival": arrival,
                 "prompt_chars": sum(len(_text(m.get("content"))) for m in messages),
                 "messages": len(messages), "in_flight": self.in_flight,
                 "stream": bool(request.get("stream"))}
        self.log.append(entry)
        try:
            script = self.script
            async with self.slots:
                await asyncio.sleep(script.delay(role, turn))
            text = cut_at_stop(script.reply(role, turn, messages), request.get("stop"))
            usage = {"prompt_tokens": max(1, entry["prompt_chars"] // 4),
                     "completion_tokens": max(1, len(text) // 4)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            model = request.get("model", "bench")
            if entry["stream"]:
                wants_usage = (request.get("stream_options") or {}).get("include_usage")
                await _send_stream(writer, model, text, script.chunk,
                                   usage if wants_usage else None, keep)
            else:
                _send_json(writer, 200, _whole(model, text, usage), keep)
                await writer.drain()
        finally:
            self.in_flight -= 1
            entry["end"] = time.monotonic()
            if self.log_file:
                self.log_file.write(json.dumps(entry) + "\n")


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _status_line(status: int) -> bytes:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request"}.get(status, "Error")
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


def _send_json(writer, status: int, obj, keep: bool) -> None:
    payload = json.dumps(obj).encode()
    writer.write(_status_line(status) + (
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode() + payload)


def _head(model: str, kind: str) -> dict:
    return {"id": "chatcmpl-bench", "object": kind, "created": int(time.time()),
            "model": model, "system_fingerprint": None}


def _whole(model: str, text: str, usage: dict) -> dict:
    return {**_head(model, "chat.completion"), "usage": usage, "choices": [{
        "index": 0, "message": {"role": "assistant", "content": text},
        "finish_reason": "stop", "logprobs": None}]}


async def _send_stream(writer, model: str, text: str, chunk: int, usage: dict | None,
                       keep: bool) -> None:
    head = _head(model, "chat.completion.chunk")

    def delta(d: dict, finish=None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": d, "finish_reason": finish,
                                     "logprobs": None}]}

    events = [delta({"role": "assistant", "content": ""})]
    size = max(1, chunk)
    events += [delta({"content": text[i:i + size]}) for i in range(0, len(text), size)]
    events.append(delta({}, "stop"))
    if usage:
        events.append({**head, "choices": [], "usage": usage})
    parts = [_status_line(200), (f"Content-Type: text/event-stream\r\nTransfer-Encoding: "
                                 f"chunked\r\nConnection: {'keep-alive' if keep else 'close'}"
                                 f"\r\n\r\n").encode()]
    for event in events:
        data = f"data: {json.dumps(event)}\n\n".encode()
        parts.append(b"%x\r\n%s\r\n" % (len(data), data))
    done = b"data: [DONE]\n\n"
    parts.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    writer.write(b"".join(parts))
    await writer.drain()


async def serve(port: int, latency: float, lifetime: float, log_path: str | None,
                slots: int = 0) -> None:
    bench = BenchServer(latency, log_path, slots)
    server = await asyncio.start_server(bench.handle, "127.0.0.1", port, limit=2 ** 28,
                                        backlog=2048)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bench.done.set)
    try:
        await asyncio.wait_for(bench.done.wait(), lifetime)
    except TimeoutError:
        print(f"bench server: lifetime of {lifetime:g} s is up, stopping", file=sys.stderr)
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--lifetime", type=float, default=900.0,
                        help="stop by itself after this many seconds")
    parser.add_argument("--log", default=None, help="append one JSON line per request here")
    parser.add_argument("--slots", type=int, default=0,
                        help="requests served at once; more wait (0: no limit)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.latency, args.lifetime, args.log, args.slots))
    os._exit(0)  # do not wait on idle keep-alive connections


if __name__ == "__main__":
    main()
