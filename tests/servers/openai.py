"""A scripted OpenAI-compatible server (``/v1/chat/completions``, ``/v1/models``) on 127.0.0.1.

Answers as one JSON object, or as server-sent events ending in ``data: [DONE]`` with a final
usage chunk when the request asks ``stream_options.include_usage``. With ``api_key`` set it
answers 401 to a request whose ``Authorization`` is not ``Bearer <api_key>``.
"""

from __future__ import annotations

import json
import time

from .base import ChatRequest, LoopbackServer, Replies, Reply


class OpenAIServer(LoopbackServer):
    """OpenAI's chat API, scripted.

    Args:
        models: model ids served; ``None`` accepts any model name.
        api_key: when set, the key every request must carry.
        (other options: see ``LoopbackServer``)
    """

    chat_paths = ("/v1/chat/completions", "/chat/completions")

    def __init__(self, replies: Replies = None, *, models: list[str] | None = None,
                 api_key: str | None = None, **options):
        super().__init__(replies, **options)
        self.models = models
        self.api_key = api_key

    def error_reply(self, status: int, message: str) -> Reply:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key",
                404: "model_not_found"}.get(status, "server_error")
        return Reply(status, {"error": {"message": message, "type": kind, "code": kind,
                                        "param": None}})

    def route(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_reply(401, "Incorrect API key provided.")
        if path in ("/v1/models", "/models", "/openai/v1/models"):  # the last: groq's client
            ids = self.models or ["any-model"]
            return Reply(200, {"object": "list", "data": [
                {"id": i, "object": "model", "created": 0, "owned_by": "loopback"} for i in ids]})
        if path in self.chat_paths and method == "POST":
            return self._answer(path, body or {})
        return self.error_reply(404, f"no route for {method} {path}")

    def _answer(self, path: str, body: dict) -> Reply:
        request = _chat_request(path, body)
        if self.models is not None and request.model not in self.models:
            return self.error_reply(404, f"The model `{request.model}` does not exist")
        self.wait_latency(request)
        text = self.reply_text(request)
        if not request.stream:
            return Reply(200, self._whole(request, text))
        return Reply(200, chunks=self._stream(request, text), content_type="text/event-stream")

    def _whole(self, request: ChatRequest, text: str) -> dict:
        reply = {**_head(request, "chat.completion"), "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text},
            "finish_reason": "stop", "logprobs": None}]}
        if self.report_usage:
            reply["usage"] = self._usage(request, text)
        return reply

    def _stream(self, request: ChatRequest, text: str):
        head = _head(request, "chat.completion.chunk")
        yield _event({**head, "choices": [_delta({"role": "assistant", "content": ""})]})
        for piece in self.pieces(text):
            yield _event({**head, "choices": [_delta({"content": piece})]})
        yield _event({**head, "choices": [_delta({}, "stop")]})
        wants_usage = (request.body.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.report_usage:
            yield _event({**head, "choices": [], "usage": self._usage(request, text)})
        yield b"data: [DONE]\n\n"

    def _usage(self, request: ChatRequest, text: str) -> dict:
        prompt, completion = self.usage(request, text)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}


def _chat_request(path: str, body: dict) -> ChatRequest:
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    return ChatRequest(path, body.get("model", ""), list(body.get("messages") or []), stop,
                       bool(body.get("stream", False)), body)


def _head(request: ChatRequest, kind: str) -> dict:
    return {"id": "chatcmpl-loopback", "object": kind, "created": int(time.time()),
            "model": request.model, "system_fingerprint": None}


def _delta(delta: dict, finish: str | None = None) -> dict:
    return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}


def _event(obj: dict) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()
