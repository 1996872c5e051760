"""A thin Ollama-API front for a llama.cpp (llama-cpp-python) server, for end-to-end tests.

Nothing installable here speaks Ollama's HTTP API, so this small stdlib server does: it serves
``/``, ``/api/version``, ``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/pull``,
``/api/chat`` and ``/api/generate`` (NDJSON streamed or not, with ``prompt_eval_count`` and
``eval_count``) and forwards generation to the llama.cpp server's OpenAI-compatible
``/v1/chat/completions`` and ``/v1/completions``. litellm's ``ollama/`` and ``ollama_chat/``
providers and the ``ollama`` Python client then all talk to a real model.

It serves exactly one model, under one name (``--name``). Like a Modelfile, it has default
options (``stop`` and ``num_predict``) that a request's own ``options`` replace, and a
template: ``/api/generate`` wraps a prompt as ``User: ...`` / ``Assistant:`` unless ``raw``.

Run: ``python scripts/ollama_front.py --upstream http://127.0.0.1:PORT --port 11434
--name gemma3:270m --model-file MODEL.gguf [--chat-template TOKENIZER_CONFIG.json]``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = "0.6.3-front"
# What /api/generate does to a prompt unless ``raw`` (as a Modelfile TEMPLATE would say it).
GENERATE_TEMPLATE = "{{ if .System }}{{ .System }}\n\n{{ end }}User: {{ .Prompt }}\nAssistant:"
# Ollama option name -> OpenAI-style request field of llama-cpp-python's server.
OPTION_MAP = {
    "num_predict": "max_tokens", "temperature": "temperature", "top_p": "top_p",
    "top_k": "top_k", "min_p": "min_p", "seed": "seed", "stop": "stop",
    "repeat_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class FrontError(Exception):
    """An error to answer as Ollama does: ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Front:
    """What the front serves and where it forwards."""

    upstream: str
    name: str
    model_file: Path
    num_ctx: int = 8192
    default_options: dict[str, Any] = field(default_factory=dict)
    render_prompt: Callable[[list[dict]], str] | None = None
    digest: str = ""
    timeout: float = 600.0

    def model_entry(self) -> dict:
        """The model as ``/api/tags`` lists it."""
        stat = self.model_file.stat()
        return {
            "name": self.name, "model": self.name, "size": stat.st_size,
            "modified_at": _iso(stat.st_mtime), "digest": self.digest,
            "details": self.details(),
        }

    def details(self) -> dict:
        family = self.name.split(":")[0]
        return {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                "parameter_size": "268M", "quantization_level": "Q4_K_M"}

    def check_model(self, requested: str | None) -> None:
        """Answer 404 for any model but ours, as Ollama does."""
        wanted = (requested or "").removesuffix(":latest")
        if wanted not in (self.name, self.name.removesuffix(":latest")):
            raise FrontError(404, f"model '{requested}' not found, try pulling it first")

    def options(self, body: dict) -> dict:
        """Modelfile defaults replaced by the request's options, as OpenAI request fields."""
        merged = {**self.default_options, **(body.get("options") or {})}
        request = {OPTION_MAP[k]: v for k, v in merged.items() if k in OPTION_MAP}
        if request.get("max_tokens") is not None and request["max_tokens"] < 0:
            request["max_tokens"] = None  # Ollama: -1 means "until the model stops"
        return request

    # --- upstream calls -------------------------------------------------------------

    def post(self, path: str, payload: dict) -> dict:
        with self._open(path, payload) as response:
            return json.loads(response.read())

    def stream(self, path: str, payload: dict) -> Iterator[dict]:
        """The upstream server's SSE events, as dicts, until ``[DONE]``."""
        with self._open(path, {**payload, "stream": True}) as response:
            for raw in response:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` as the model counts them (with its BOS token)."""
        return int(self.post("/extras/tokenize/count", {"input": text})["count"])

    def _open(self, path: str, payload: dict):
        request = urllib.request.Request(
            self.upstream.rstrip("/") + path, data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise FrontError(exc.code, f"llama.cpp server said: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FrontError(502, f"llama.cpp server at {self.upstream} is not answering "
                                  f"({exc}); start it with scripts/e2e_model.sh start") from None


# --- generation ------------------------------------------------------------------------


@dataclass
class Generation:
    """One forwarded generation: how to call upstream and how to shape Ollama's answer."""

    path: str
    payload: dict
    wrap: Callable[[str], dict]        # text -> the Ollama field(s) carrying it
    prompt_text: Callable[[], str]     # for counting prompt tokens when streaming


def chat_generation(front: Front, body: dict) -> Generation:
    messages = [{"role": m.get("role", "user"), "content": m.get("content") or ""}
                for m in body.get("messages") or []]
    if not messages:
        raise FrontError(400, "messages is empty: send at least one message")
    render = front.render_prompt or (lambda ms: "\n".join(m["content"] for m in ms))
    return Generation(
        "/v1/chat/completions", {"messages": messages, **front.options(body)},
        lambda text: {"message": {"role": "assistant", "content": text}},
        lambda: render(messages))


def generate_generation(front: Front, body: dict) -> Generation:
    prompt = body.get("prompt") or ""
    if not body.get("raw"):  # Ollama wraps the prompt in the model's template unless raw
        prompt = f"User: {prompt}\nAssistant:"
        if body.get("system"):
            prompt = f"{body['system']}\n\n{prompt}"
    return Generation(
        "/v1/completions", {"prompt": prompt, **front.options(body)},
        lambda text: {"response": text}, lambda: prompt)


def answer_once(front: Front, gen: Generation, model: str) -> dict:
    """A non-streamed generation as one Ollama JSON object."""
    started = time.monotonic()
    reply = front.post(gen.path, {**gen.payload, "stream": False})
    choice = reply["choices"][0]
    text = choice.get("text") if "text" in choice else choice["message"].get("content")
    usage = reply.get("usage") or {}
    return final_chunk(model, gen.wrap(text or ""), choice.get("finish_reason"), started,
                       usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def answer_stream(front: Front, gen: Generation, model: str) -> Iterator[dict]:
    """A streamed generation as Ollama's NDJSON chunks; the last one carries the counts."""
    started, parts, finish = time.monotonic(), [], None
    for event in front.stream(gen.path, gen.payload):
        choice = (event.get("choices") or [{}])[0]
        delta = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get(
            "content")
        finish = choice.get("finish_reason") or finish
        if delta:
            parts.append(delta)
            yield {"model": model, "created_at": _iso(), **gen.wrap(delta), "done": False}
    text = "".join(parts)
    prompt_tokens = front.count_tokens(gen.prompt_text())
    completion_tokens = front.count_tokens(text) - 1 if text else 0  # minus the BOS token
    yield final_chunk(model, gen.wrap(""), finish, started, prompt_tokens, completion_tokens)


def final_chunk(model: str, content: dict, finish: str | None, started: float,
                prompt_tokens: int, completion_tokens: int) -> dict:
    total = int((time.monotonic() - started) * 1e9)
    return {
        "model": model, "created_at": _iso(), **content, "done": True,
        "done_reason": "length" if finish == "length" else "stop",
        "total_duration": total, "load_duration": 0,
        "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 0,
        "eval_count": completion_tokens, "eval_duration": total,
    }


# --- HTTP ------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    front: Front  # set on the subclass made by make_server

    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain")

    def do_GET(self) -> None:
        routes = {"/": self._root, "/api/version": lambda: {"version": VERSION},
                  "/api/tags": lambda: {"models": [self.front.model_entry()]},
                  "/api/ps": self._ps}
        self._route(routes, None)

    def do_POST(self) -> None:
        routes = {"/api/show": self._show, "/api/pull": self._pull,
                  "/api/chat": lambda body: self._generation(body, chat_generation),
                  "/api/generate": lambda body: self._generation(body, generate_generation)}
        self._route(routes, self._body())

    def _route(self, routes: dict, body: dict | None) -> None:
        path = self.path.split("?")[0].rstrip("/") or "/"
        try:
            if path not in routes:
                raise FrontError(404, f"{path} is not served by ollama_front")
            result = routes[path]() if body is None else routes[path](body)
            if result is not None:
                self._send_json(200, result)
        except FrontError as exc:
            self._send_json(exc.status, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away mid-stream

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        return body if isinstance(body, dict) else {"__invalid__": True}

    def _root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain")

    def _ps(self) -> dict:
        return {"models": [{**self.front.model_entry(), "size_vram": 0,
                            "expires_at": _iso(time.time() + 300)}]}

    def _show(self, body: dict) -> dict:
        self.front.check_model(body.get("model") or body.get("name"))
        stops = self.front.default_options.get("stop") or []
        parameters = "\n".join(f'stop "{s}"' for s in stops)
        return {
            "modelfile": f"FROM {self.front.model_file}\n{parameters}\n",
            "parameters": parameters, "template": GENERATE_TEMPLATE,
            "details": self.front.details(), "capabilities": ["completion"],
            "model_info": {"general.architecture": "gemma3",
                           "general.parameter_count": 268098176,
                           "gemma3.context_length": self.front.num_ctx},
            "modified_at": self.front.model_entry()["modified_at"],
        }

    def _pull(self, body: dict) -> dict:
        self.front.check_model(body.get("model") or body.get("name"))
        return {"status": "success"}

    def _generation(self, body: dict, build: Callable[[Front, dict], Generation]) -> dict | None:
        if body.get("__invalid__"):
            raise FrontError(400, "the request body is not a JSON object")
        model = body.get("model")
        self.front.check_model(model)
        gen = build(self.front, body)
        if body.get("stream", True) is False:
            return answer_once(self.front, gen, model)
        self._stream_ndjson(answer_stream(self.front, gen, model))
        return None

    def _stream_ndjson(self, chunks: Iterator[dict]) -> None:
        """Send chunks as chunked NDJSON; an upstream failure mid-way becomes an error line."""
        first = next(chunks)  # fail with a plain HTTP error before any byte is sent
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in itertools.chain([first], chunks):
                self._write_chunk(json.dumps(chunk).encode() + b"\n")
        except FrontError as exc:
            self._write_chunk(json.dumps({"error": str(exc)}).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{_iso()} {self.address_string()} {format % args}\n")


def _iso(timestamp: float | None = None) -> str:
    moment = datetime.fromtimestamp(timestamp if timestamp is not None else time.time(),
                                    tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def template_renderer(config_path: Path) -> Callable[[list[dict]], str]:
    """Render messages exactly as the llama.cpp server's ``hf-tokenizer-config`` format does.

    Used only to count prompt tokens of streamed chats (llama-cpp-python reports no usage
    when streaming). The BOS token is left out: the token counter adds it.
    """
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # llama-cpp-python's own dep

    config = json.loads(config_path.read_text())
    template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
        config["chat_template"])

    def render(messages: list[dict]) -> str:
        closing = [*messages, {"role": "assistant", "content": ""}]
        text = template.render(messages=closing, bos_token="", eos_token=config["eos_token"])
        return text.removeprefix("<bos>")

    return render


def make_server(front: Front, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("FrontHandler", (Handler,), {"front": front})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="llama.cpp server, http://HOST:PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--name", default="gemma3:270m", help="the model name to serve")
    parser.add_argument("--model-file", type=Path, required=True, help="the served GGUF file")
    parser.add_argument("--num-ctx", type=int, default=8192, help="the server's context size")
    parser.add_argument("--chat-template", type=Path, help="the server's tokenizer config JSON")
    parser.add_argument("--stop", action="append", default=None,
                        help='default stop sequence (repeatable; default "User:" and '
                             '"\\nAssistant:")')
    parser.add_argument("--num-predict", type=int, default=256,
                        help="default max tokens when a request sets none")
    args = parser.parse_args(argv)
    front = Front(
        upstream=args.upstream, name=args.name, model_file=args.model_file,
        num_ctx=args.num_ctx, digest=_sha256(args.model_file),
        default_options={"stop": args.stop or ["User:", "\nAssistant:"],
                         "num_predict": args.num_predict},
        render_prompt=template_renderer(args.chat_template) if args.chat_template else None)
    server = make_server(front, args.host, args.port)
    sys.stderr.write(f"ollama_front serving {args.name} on http://{args.host}:{args.port} "
                     f"-> {args.upstream}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
