"""The shared part of the loopback model servers: real HTTP/1.1 on 127.0.0.1.

A ``LoopbackServer`` runs ``ThreadingHTTPServer`` on an ephemeral port in a daemon thread.
Subclasses (``OllamaServer``, ``OpenAIServer``, ``LlamaCppServer``) map a path to a
``Reply``; this module does what every server shares: scripted replies, per-request latency,
``stop`` handling, a record of every request, the in-flight count and its peak, a limit of
requests served at once (the rest queue, as in a real server) and the peak of those served,
token counts through a chat template and a tokenizer (``tokenize.py``), injected failures
and stalls (``failures.py``), and a lifetime after which the server stops by itself so a
forgotten server cannot outlive its test run. The HTTP plumbing is in ``handler.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .failures import Scripted, retry_after_header
from .handler import make_http_server
from .replies import ThinkingReply, cut_at_stop, raw_text
from .tokenize import LLAMA3, SCALED_CL100K, ChatTemplate, Tokenizer, prompt_tokens


@dataclass
class ChatRequest:
    """What a reply function sees: one chat or generate request, decoded.

    ``messages`` are what the model is given: after a server's truncation, when it cuts.
    """

    path: str
    model: str
    messages: list[dict]
    stop: list[str]
    stream: bool
    body: dict
    max_tokens: int | None = None   # num_predict / max_tokens, when the request sets one
    prompt_tokens: int = 0          # the server's count of ``messages``, template included

    @property
    def last_content(self) -> str:
        """The last message's text (the prompt of a one-message call)."""
        return str(self.messages[-1].get("content", "")) if self.messages else ""


ReplyFn = Callable[[ChatRequest], "str | ThinkingReply"]
Replies = Sequence["str | ThinkingReply | ReplyFn"] | ReplyFn | None


@dataclass
class Recorded:
    """One request as the server saw it; times are ``time.monotonic()``."""

    method: str
    path: str
    body: dict | None
    arrived: float
    headers: dict = field(default_factory=dict)
    client_port: int = 0  # the client's TCP port: one per connection, so keep-alive shows
    ended: float | None = None
    status: int | None = None
    stalled: str | None = None  # the stall mode, when this request was stalled


@dataclass
class Reply:
    """A response: a JSON body, or an iterator of byte chunks sent with chunked encoding."""

    status: int = 200
    body: dict | list | str | None = None
    chunks: Iterable[bytes] | None = None
    content_type: str = "application/json"
    drop: bool = False  # close the socket without answering (a connection reset)
    headers: dict = field(default_factory=dict)
    stall: str | None = None  # "never" or "mid_stream" (see failures.py)
    on_done: Callable[[], None] | None = None  # run once the answer is sent or abandoned


class LoopbackServer:
    """Base of the scripted servers. Use as a context manager or ``start()``/``stop()``.

    Args:
        replies: a list of replies (str, ``ThinkingReply``, or a function of the
            ``ChatRequest``) used in arrival order; or one function used for every
            request; ``None`` echoes ``"ok"``. May be reassigned at any time.
        latency: seconds to wait before answering each chat request (a number, or a
            function of the ``ChatRequest``); spent inside the request's parallel slot.
        report_usage: when False the server reports no token counts.
        chunk_chars: characters per streamed piece.
        lifetime: seconds after which the server stops by itself.
        tokenizer: counts text (``tokenize.py``; default cl100k_base x 1.1).
        template: the chat template's special tokens (default Llama 3's).
        num_parallel: requests served at once; more wait in the server (None: no limit).
        stall: a stall mode for every chat request (see ``failures.py``).
    """

    chat_paths: tuple[str, ...] = ()

    def __init__(self, replies: Replies = None, *, latency: float | Callable = 0.0,
                 report_usage: bool = True, chunk_chars: int = 4, lifetime: float = 120.0,
                 tokenizer: Tokenizer = SCALED_CL100K, template: ChatTemplate = LLAMA3,
                 num_parallel: int | None = None, stall: str | None = None):
        self.replies = replies
        self.latency = latency
        self.report_usage = report_usage
        self.chunk_chars = chunk_chars
        self.lifetime = lifetime
        self.tokenizer = tokenizer
        self.template = template
        self.num_parallel = num_parallel
        self.stall = Scripted(stall=stall).stall
        self.requests: list[Recorded] = []
        self.errors: list[str] = []  # exceptions raised by the script while answering
        self.in_flight = 0       # requests between arrival and the end of their answer
        self.max_in_flight = 0
        self.served = 0          # requests inside a parallel slot (not queued)
        self.max_served = 0
        self._index = 0
        self._actions: list[Scripted] = []
        self._connect_stalls = 0
        self._lock = threading.Lock()
        self._slots = threading.Condition()
        self._local = threading.local()  # the request the current handler thread serves
        self.stopping = threading.Event()
        self._httpd = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- scripting -------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, message: str = "scripted failure",
                  *, retry_after=None) -> None:
        """Answer the next ``count`` chat requests with ``status`` (0 drops the connection).

        ``retry_after`` (seconds, or a ``datetime`` sent as an HTTP-date) adds a
        ``Retry-After`` header.
        """
        action = Scripted(status, message, retry_after_header(retry_after))
        with self._lock:
            self._actions.extend(action for _ in range(count))

    def stall_next(self, count: int = 1, mode: str = "never") -> None:
        """Stall the next ``count`` chat requests (``mode``: see ``failures.py``)."""
        action = Scripted(stall=mode)
        with self._lock:
            if mode == "before_headers_after_connect":
                self._connect_stalls += count
            else:
                self._actions.extend(action for _ in range(count))

    def chat_requests(self) -> list[Recorded]:
        """The recorded requests to the chat/generate paths, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path in self.chat_paths]

    def count_prompt(self, messages: list[dict]) -> int:
        """Prompt tokens of ``messages`` as this server counts them (template included)."""
        return prompt_tokens(messages, self.tokenizer, self.template)

    def usage(self, request: ChatRequest, text: str) -> tuple[int, int]:
        """Token counts the server reports: the prompt the model saw, and the reply."""
        prompt = request.prompt_tokens or self.count_prompt(request.messages)
        return prompt, self.tokenizer.count(text)

    def reply_text(self, request: ChatRequest) -> str:
        """What the model generates for ``request``: the scripted reply (a
        ``ThinkingReply`` as ``<think>...</think>...``), cut at its stop sequences."""
        with self._lock:
            reply = self._pick_reply()
        text = raw_text(reply(request) if callable(reply) else reply)
        return cut_at_stop(text, request.stop)

    def limit_reply(self, text: str, max_tokens: int | None) -> tuple[str, bool]:
        """``text`` cut to ``max_tokens`` generated tokens; True when it was cut."""
        if max_tokens is None or max_tokens < 0 or self.tokenizer.count(text) <= max_tokens:
            return text, False
        return self.tokenizer.head(text, max_tokens), True

    def _pick_reply(self):
        if self.replies is None:
            return "ok"
        if callable(self.replies):
            return self.replies
        if self._index >= len(self.replies):
            raise AssertionError(f"{type(self).__name__} ran out of replies after "
                                 f"{self._index} requests")
        reply = self.replies[self._index]
        self._index += 1
        return reply

    def pieces(self, text: str) -> list[str]:
        """How a reply is split into streamed pieces."""
        size = max(1, self.chunk_chars)
        return [text[i:i + size] for i in range(0, len(text), size)]

    def wait_latency(self, request: ChatRequest) -> None:
        delay = self.latency(request) if callable(self.latency) else self.latency
        if delay:
            self.stopping.wait(delay)

    # -- parallel slots --------------------------------------------------------------
    def take_slot(self) -> bool:
        """Wait for a free parallel slot (False if the server stops meanwhile)."""
        with self._slots:
            while self.num_parallel and self.served >= self.num_parallel:
                if self.stopping.is_set():
                    return False
                self._slots.wait(0.05)
            if self.stopping.is_set():  # a slot freed by stop() serves nobody
                return False
            self.served += 1
            self.max_served = max(self.max_served, self.served)
            return True

    def free_slot(self) -> None:
        with self._slots:
            self.served -= 1
            self._slots.notify()

    def in_slot(self, reply: Reply) -> Reply:
        """``reply`` holding the slot taken for it until it is sent (or abandoned)."""
        reply.on_done = self.free_slot
        return reply

    # -- to be provided by subclasses ---------------------------------------------------
    def route(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        raise NotImplementedError

    def error_reply(self, status: int, message: str) -> Reply:
        raise NotImplementedError

    # -- life cycle --------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackServer:
        self.stopping.clear()
        self._httpd = make_http_server(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"{type(self).__name__}-serve")
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop at once: stalled and queued requests end, open connections are shut."""
        self.stopping.set()
        httpd, self._httpd = self._httpd, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- used by the handler ----------------------------------------------------------
    def _begin(self, record: Recorded, counted: bool) -> None:
        with self._lock:
            self.requests.append(record)
            if counted:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _end(self, record: Recorded, counted: bool, status: int) -> None:
        with self._lock:
            record.ended = time.monotonic()
            record.status = status
            if counted:
                self.in_flight -= 1

    def _take_connect_stall(self) -> bool:
        if self.stall == "before_headers_after_connect":
            return True
        with self._lock:
            if self._connect_stalls <= 0:
                return False
            self._connect_stalls -= 1
            return True

    def _take_action(self) -> Scripted | None:
        with self._lock:
            if self._actions:
                return self._actions.pop(0)
        every = self.stall if self.stall != "before_headers_after_connect" else None
        return Scripted(stall=every) if every else None

    def current_record(self) -> Recorded | None:
        """The ``Recorded`` of the request being answered on this thread."""
        return getattr(self._local, "record", None)

    def _serve(self, method: str, path: str, body: dict | None, headers: dict,
               record: Recorded | None = None) -> Reply:
        self._local.record = record
        action = self._take_action() if path in self.chat_paths else None
        if action is not None and action.stall == "never":
            return Reply(stall="never")
        if action is not None and action.stall is None:
            return self._failure(action)
        try:
            reply = self.route(method, path, body, headers)
        except Exception as exc:  # noqa: BLE001  (a broken script, e.g. out of replies: a 500)
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return self.error_reply(500, f"loopback server error: {exc}")
        if action is not None:  # mid_stream
            reply.stall = action.stall
        return reply

    def _failure(self, action: Scripted) -> Reply:
        if action.status == 0:
            return Reply(drop=True)
        reply = self.error_reply(action.status, action.message)
        if action.retry_after is not None:
            reply.headers["Retry-After"] = action.retry_after
        return reply

