"""A scripted Ollama server speaking Ollama's real HTTP API on 127.0.0.1.

Serves what litellm's ``ollama/`` (``/api/generate``) and ``ollama_chat/`` (``/api/chat``)
providers and the ``ollama`` Python client use: ``/api/tags``, ``/api/show``, ``/api/chat``,
``/api/generate`` (NDJSON streaming, or one JSON object with ``"stream": false``),
``/api/version`` and ``/``. An unknown model gets Ollama's 404 ``{"error": "model 'x' not
found"}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .base import ChatRequest, LoopbackServer, Replies, Reply


@dataclass
class FakeModel:
    """A pulled model as ``/api/tags`` and ``/api/show`` describe it."""

    name: str
    size: int = 4_661_224_676
    family: str = "llama"
    parameter_size: str = "8.0B"
    context_length: int = 8192
    quantization: str = "Q4_0"

    def tag_entry(self) -> dict:
        return {"name": self.name, "model": self.name, "size": self.size,
                "modified_at": "2025-01-01T00:00:00Z",
                "digest": f"{abs(hash(self.name)):064x}"[:64], "details": self.details()}

    def details(self) -> dict:
        return {"parent_model": "", "format": "gguf", "family": self.family,
                "families": [self.family], "parameter_size": self.parameter_size,
                "quantization_level": self.quantization}


def full_name(name: str) -> str:
    """Ollama's own normalisation: a name without a tag means ``:latest``."""
    return name if ":" in name else f"{name}:latest"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class OllamaServer(LoopbackServer):
    """Ollama's API, scripted. ``models`` are the pulled models (names or ``FakeModel``)."""

    chat_paths = ("/api/chat", "/api/generate")
    version = "0.6.3"

    def __init__(self, replies: Replies = None, *, models=("llama3:latest",), **options):
        super().__init__(replies, **options)
        self.models = [m if isinstance(m, FakeModel) else FakeModel(m) for m in models]

    def find(self, name: str) -> FakeModel | None:
        wanted = full_name(name or "")
        return next((m for m in self.models if full_name(m.name) == wanted), None)

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, {"error": message})

    def route(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        body = body or {}
        if path == "/" and method in ("GET", "HEAD"):
            return Reply(200, "Ollama is running", content_type="text/plain; charset=utf-8")
        if path == "/api/version":
            return Reply(200, {"version": self.version})
        if path == "/api/tags":
            return Reply(200, {"models": [m.tag_entry() for m in self.models]})
        if path in ("/api/show", "/api/chat", "/api/generate"):
            name = body.get("model") or body.get("name") or ""
            model = self.find(name)
            if model is None:
                return self.error_reply(404, f"model '{name}' not found")
            if path == "/api/show":
                return Reply(200, self._show(model))
            return self._answer(path, body)
        return self.error_reply(404, "404 page not found")

    def _show(self, model: FakeModel) -> dict:
        return {"license": "", "modelfile": f"FROM {model.name}\n", "parameters": "",
                "template": "{{ .Prompt }}", "details": model.details(),
                "model_info": {"general.architecture": model.family,
                               "general.parameter_count": 8_030_261_248,
                               f"{model.family}.context_length": model.context_length},
                "capabilities": ["completion"], "modified_at": "2025-01-01T00:00:00Z"}

    def _answer(self, path: str, body: dict) -> Reply:
        request = _chat_request(path, body)
        self.wait_latency(request)
        text = self.reply_text(request)
        key = "message" if path == "/api/chat" else "response"
        if not request.stream:
            return Reply(200, {**self._piece(request, key, text), **self._done(request, text)})
        return Reply(200, chunks=self._stream(request, key, text),
                     content_type="application/x-ndjson")

    def _stream(self, request: ChatRequest, key: str, text: str):
        for piece in self.pieces(text):
            yield _line({**self._piece(request, key, piece), "done": False})
        yield _line({**self._piece(request, key, ""), **self._done(request, text)})

    def _piece(self, request: ChatRequest, key: str, text: str) -> dict:
        value = {"role": "assistant", "content": text} if key == "message" else text
        return {"model": request.model, "created_at": _now(), key: value}

    def _done(self, request: ChatRequest, text: str) -> dict:
        done = {"done": True, "done_reason": "stop", "total_duration": 1000,
                "load_duration": 10, "eval_duration": 100, "prompt_eval_duration": 50}
        if self.report_usage:
            prompt, completion = self.usage(request, text)
            done.update(prompt_eval_count=prompt, eval_count=completion)
        return done


def _chat_request(path: str, body: dict) -> ChatRequest:
    if path == "/api/chat":
        messages = list(body.get("messages") or [])
    else:
        messages = [{"role": "user", "content": body.get("prompt", "")}]
    stop = (body.get("options") or {}).get("stop") or body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    # Ollama streams unless told not to.
    return ChatRequest(path, body.get("model", ""), messages, stop,
                       bool(body.get("stream", True)), body)


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()
