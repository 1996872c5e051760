"""A scripted Ollama server speaking Ollama's real HTTP API on 127.0.0.1, as strictly as
the real one (``ollama/ollama``, read at v0.33.0-rc2; see ``ollama_models.py`` for the
releases where each behaviour changed, and ``version=`` to be an older server).

Serves ``/api/tags``, ``/api/show``, ``/api/ps``, ``/api/chat``, ``/api/generate`` (NDJSON
streaming, or one JSON object with ``"stream": false``), ``/api/version`` and ``/``. An
unknown model gets Ollama's 404 ``{"error": "model 'x' not found"}``. What a real server
does and this one copies:

* **The running window.** A request runs at ``options.num_ctx``, else the server default
  (``server/routes.go`` ``modelOptions``: ``DefaultOptions`` takes
  ``OLLAMA_CONTEXT_LENGTH``, else ``s.defaultNumCtx``, which is 4096 below 24 GiB of VRAM,
  routes.go:2050-2057; 2048 before v0.6.7), capped at the trained length
  (``llm/server.go`` ``NewLlamaServer``). A longer prompt is cut silently
  (``ollama_window.py``); every cut is recorded in ``truncations``.
* **num_predict** cuts the reply, ``done_reason: "length"`` (``llm/server.go`` DoneReason).
* **Loads.** A model loads on first use and reloads when its window changes
  (``server/sched.go`` ``needsReload`` compares the runner options); each load is in
  ``loads`` and costs ``load_delay`` seconds, reported as ``load_duration``. ``keep_alive``
  (``api.Duration``) sets the expiry ``/api/ps`` shows; 0 unloads after the request.
* **Parallelism.** ``OLLAMA_NUM_PARALLEL`` (default 1 since v0.10.0, 4 before) requests run
  at once, the rest wait (``llm/llama_server.go``: ``semaphore.NewWeighted(numParallel)``);
  beyond ``OLLAMA_MAX_QUEUE`` (512) waiting, a 503 (``sched.go`` ``ErrMaxQueue``).
* **Thinking** (``routes.go`` ``ChatHandler``): for a model with the "thinking" capability
  an absent ``think`` means on (since v0.12.4); thinking goes to ``message.thinking``
  (``thinking`` on ``/api/generate``), in stream chunks too; ``think: false`` tells the
  model not to think; before v0.12.4 an absent ``think`` left the model's raw
  ``<think>...</think>`` at the start of ``content`` (and before v0.9.0 there was no
  ``think``). ``think: true`` for a model without the capability is a 400
  ``{"error": "\\"name\\" does not support thinking"}`` (the full registry name before
  v0.12.5).
"""

from __future__ import annotations

import json
import threading
import time

from .base import ChatRequest, LoopbackServer, Replies, Reply
from .ollama_models import (
    BUSY,
    CTX_4096,
    CURRENT_VERSION,
    MAX_QUEUE,
    PARALLEL_1,
    PS_CONTEXT,
    THINK_FIELD,
    THINK_ON,
    THINK_QUOTED,
    FakeModel,
    Load,
    Loaded,
    expiry,
    full_name,
    keep_alive_seconds,
    registry_name,
    version_tuple,
)
from .ollama_window import SHIFT_REFUSED, Fit, Truncation, cut_front, fit_messages, runner_limit
from .replies import split_thinking
from .tokenize import IMAGE_TOKENS, message_tokens

__all__ = ["FakeModel", "OllamaServer", "full_name"]


class OllamaServer(LoopbackServer):
    """Ollama's API, scripted.

    Args:
        models: the pulled models (names or ``FakeModel``).
        version: the Ollama release to be (``/api/version``, and the behaviours above).
        default_num_ctx: the window of a request without ``num_ctx`` (default: 4096, 2048
            before v0.6.7). ``context_length_env`` (``OLLAMA_CONTEXT_LENGTH``) overrides it.
        num_parallel: ``OLLAMA_NUM_PARALLEL`` (default: 1, 4 before v0.10.0).
        max_queue: ``OLLAMA_MAX_QUEUE``.
        load_delay: seconds each model load takes.
        (other options: see ``LoopbackServer``)
    """

    chat_paths = ("/api/chat", "/api/generate")

    def __init__(self, replies: Replies = None, *, models=("llama3:latest",),
                 version: str = CURRENT_VERSION, default_num_ctx: int | None = None,
                 context_length_env: int | None = None, num_parallel: int | None = None,
                 max_queue: int = MAX_QUEUE, load_delay: float = 0.01, **options):
        self.version = version
        old = version_tuple(version)
        if num_parallel is None:
            num_parallel = 1 if old >= PARALLEL_1 else 4
        super().__init__(replies, num_parallel=num_parallel, **options)
        self.models = [m if isinstance(m, FakeModel) else FakeModel(m) for m in models]
        self.default_num_ctx = default_num_ctx or (4096 if old >= CTX_4096 else 2048)
        self.context_length_env = context_length_env
        self.max_queue = max_queue
        self.load_delay = load_delay
        self.truncations: list[Truncation] = []
        self.loads: list[Load] = []
        self.keep_alives: list = []  # the keep_alive of every chat request (None: absent)
        self.loaded: dict[str, Loaded] = {}
        self._load_lock = threading.Lock()

    @property
    def version_info(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    def find(self, name: str) -> FakeModel | None:
        wanted = full_name(name or "")
        return next((m for m in self.models if full_name(m.name) == wanted), None)

    def count_prompt(self, messages: list[dict], model: str | None = None) -> int:
        """Prompt tokens of ``messages`` for ``model`` (default: the first pulled one), in
        its chat template, images included."""
        found = self.find(model) if model else self.models[0]
        if found is None:
            raise KeyError(model)
        counts = self._counts(messages, found)
        template = found.chat_template()
        return template.bos + sum(counts) + template.reply_header

    def _counts(self, messages: list[dict], model: FakeModel) -> list[int]:
        images = IMAGE_TOKENS if model.vision else 0
        return [message_tokens(m, self.tokenizer, model.chat_template(), images)
                for m in messages]

    def window(self, model: FakeModel, options: dict) -> int:
        """The window a request runs at: num_ctx, else the default; at most the trained
        length, at least 4 (2048 for vision models: ``sched.go`` ``getRunner``)."""
        asked = options.get("num_ctx") or self.context_length_env or self.default_num_ctx
        num_ctx = max(4, min(int(asked), model.context_length or int(asked)))
        return max(num_ctx, 2048) if model.vision else num_ctx

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
        if path == "/api/ps":
            return Reply(200, {"models": self._ps()})
        if path in ("/api/show", "/api/chat", "/api/generate"):
            name = body.get("model") or body.get("name") or ""
            model = self.find(name)
            if model is None:
                return self.error_reply(404, f"model '{name}' not found")
            if path == "/api/show":
                return Reply(200, model.show())
            return self._answer(path, body, model)
        return self.error_reply(404, "404 page not found")

    def _ps(self) -> list[dict]:
        with self._load_lock:
            loaded = list(self.loaded.values())
        return [m.ps_entry(self.version_info >= PS_CONTEXT) for m in loaded]

    # -- one chat or generate request ---------------------------------------------------
    def _answer(self, path: str, body: dict, model: FakeModel) -> Reply:
        mode = self._think_mode(body, model)
        if mode.startswith("error:"):
            return self.error_reply(400, mode[len("error:"):])
        options = body.get("options") or {}
        num_ctx = self.window(model, options)
        request = _chat_request(path, body)
        with self._lock:
            self.keep_alives.append(body.get("keep_alive"))
            waiting = self.in_flight - self.served - 1
        if waiting >= self.max_queue:
            return self.error_reply(503, BUSY)
        if not self.take_slot():
            return Reply(drop=True)
        try:
            return self.in_slot(self._generate(path, body, model, request, num_ctx, mode))
        except BaseException:
            self.free_slot()
            raise

    def _think_mode(self, body: dict, model: FakeModel) -> str:
        """"parse" (thinking to its own field), "off", "raw", or "error:<message>"."""
        version, think = self.version_info, body.get("think")
        if version < THINK_FIELD:
            return "raw"
        if version >= THINK_ON and model.thinking and think is None:
            think = True
        if think not in (None, False) and not model.thinking:
            name = body.get("model", "")
            who = json.dumps(name) if version >= THINK_QUOTED else registry_name(name)
            return f"error:{who} does not support thinking"
        if think is None or not model.thinking:
            return "raw"
        return "parse" if think is not False else "off"

    def _generate(self, path: str, body: dict, model: FakeModel, request: ChatRequest,
                  num_ctx: int, mode: str) -> Reply:
        started = time.monotonic()
        load_seconds = self._ensure_loaded(model, num_ctx, body.get("keep_alive"))
        if not request.messages:  # Ollama's answer to an empty chat: the model is loaded
            return Reply(200, {"model": request.model, "created_at": _now(),
                               "message": {"role": "assistant", "content": ""},
                               "done": True, "done_reason": "load"})
        fit = self._fit(request.messages, model, num_ctx, body.get("shift"))
        if fit is None:
            return self.error_reply(400, SHIFT_REFUSED)
        request.messages, request.prompt_tokens = fit.messages, fit.tokens
        self.wait_latency(request)
        raw = self.reply_text(request)
        if mode == "off":  # told not to think (its template says so), the model does not
            raw = split_thinking(raw)[1]
        raw, cut = self.limit_reply(raw, request.max_tokens)
        thinking, content = split_thinking(raw) if mode == "parse" else ("", raw)
        done = {"done": True, "done_reason": "length" if cut else "stop",
                "total_duration": int((time.monotonic() - started) * 1e9),
                "load_duration": int(load_seconds * 1e9),
                "prompt_eval_duration": 50_000, "eval_duration": 100_000}
        if self.report_usage:
            done.update(prompt_eval_count=fit.tokens, eval_count=self.tokenizer.count(raw))
        key = "message" if path == "/api/chat" else "response"
        if keep_alive_seconds(body.get("keep_alive")) == 0:
            self._unload(model)
        if not request.stream:
            return Reply(200, {**_piece(request, key, content, thinking), **done},
                         content_type="application/json; charset=utf-8")
        return Reply(200, chunks=self._stream(request, key, thinking, content, done),
                     content_type="application/x-ndjson")

    def _fit(self, messages: list[dict], model: FakeModel, num_ctx: int,
             shift) -> Fit | None:
        template = model.chat_template()
        counts = self._counts(messages, model)
        fixed = template.bos + template.reply_header
        fit = fit_messages(messages, counts, fixed, num_ctx)
        limit = runner_limit(fit.tokens, num_ctx, template.bos, self.version_info)
        if limit is not None:
            if shift is False:
                return None
            fit.cut_tokens = fit.tokens - limit
            fit.messages = cut_front(fit.messages, fit.cut_tokens, self.tokenizer)
            fit.tokens = limit
        if fit.truncated:
            self._record_truncation(model, num_ctx, fit)
        return fit

    def _record_truncation(self, model: FakeModel, num_ctx: int, fit: Fit) -> None:
        record = self.current_record()
        with self._lock:
            chats = [r for r in self.requests if r.path in self.chat_paths]
            index = next((i for i, r in enumerate(chats) if r is record), -1)
            self.truncations.append(Truncation(
                index, model.name, num_ctx, fit.tokens_before, fit.tokens, fit.dropped,
                fit.cut_tokens))

    def _ensure_loaded(self, model: FakeModel, num_ctx: int, keep_alive) -> float:
        """Load or reload ``model`` at ``num_ctx``; the seconds it took (0 when loaded)."""
        seconds = keep_alive_seconds(keep_alive)
        with self._load_lock:
            current = self.loaded.get(model.name)
            if current is not None and current.num_ctx == num_ctx:
                current.keep_alive, current.expires_at = seconds, expiry(seconds)
                return 0.0
            self.loads.append(Load(model.name, num_ctx, current and current.num_ctx,
                                   time.monotonic()))
            if self.load_delay:
                self.stopping.wait(self.load_delay)
            self.loaded[model.name] = Loaded(model, num_ctx, seconds, expiry(seconds))
            return self.load_delay

    def _unload(self, model: FakeModel) -> None:
        with self._load_lock:
            self.loaded.pop(model.name, None)

    def _stream(self, request: ChatRequest, key: str, thinking: str, content: str,
                done: dict):
        for piece in self.pieces(thinking):
            yield _line({**_piece(request, key, "", piece), "done": False})
        for piece in self.pieces(content):
            yield _line({**_piece(request, key, piece, ""), "done": False})
        yield _line({**_piece(request, key, "", ""), **done})


def _piece(request: ChatRequest, key: str, content: str, thinking: str) -> dict:
    if key == "message":
        message = {"role": "assistant", "content": content}
        message |= {"thinking": thinking} if thinking else {}
        return {"model": request.model, "created_at": _now(), "message": message}
    extra = {"thinking": thinking} if thinking else {}
    return {"model": request.model, "created_at": _now(), "response": content, **extra}


def _chat_request(path: str, body: dict) -> ChatRequest:
    """A chat or generate body decoded (``/api/generate`` renders its prompt, with its
    ``system``, through the same template: a user message)."""
    if path == "/api/chat":
        messages = list(body.get("messages") or [])
    else:
        system = [{"role": "system", "content": body["system"]}] if body.get("system") else []
        messages = system + [{"role": "user", "content": body.get("prompt", "")}]
    options = body.get("options") or {}
    stop = options.get("stop") or body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    num_predict = options.get("num_predict")
    # Ollama streams unless told not to.
    return ChatRequest(path, body.get("model", ""), messages, stop,
                       bool(body.get("stream", True)), body,
                       max_tokens=int(num_predict) if num_predict is not None else None)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


def _line(obj: dict) -> bytes:
    return (json.dumps(obj) + "\n").encode()
