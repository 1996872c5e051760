"""The shared part of the loopback model servers: real HTTP/1.1 on 127.0.0.1.

A ``LoopbackServer`` runs ``ThreadingHTTPServer`` on an ephemeral port in a daemon thread.
Subclasses (``OllamaServer``, ``OpenAIServer``) map a path to a ``Reply``; this module does
the plumbing every test relies on: scripted replies, per-request latency, ``stop`` handling,
a record of every request, the in-flight count and its peak, injected failures, keep-alive
with chunked streaming (as the real servers do), and a lifetime after which the server stops
by itself so a forgotten server cannot outlive its test run.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ChatRequest:
    """What a reply function sees: one chat or generate request, already decoded."""

    path: str
    model: str
    messages: list[dict]
    stop: list[str]
    stream: bool
    body: dict

    @property
    def last_content(self) -> str:
        """The last message's text (the prompt of a one-message call)."""
        return str(self.messages[-1].get("content", "")) if self.messages else ""


ReplyFn = Callable[[ChatRequest], str]
Replies = Sequence[str | ReplyFn] | ReplyFn | None


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


@dataclass
class Reply:
    """A response: a JSON body, or an iterator of byte chunks sent with chunked encoding."""

    status: int = 200
    body: dict | list | str | None = None
    chunks: Iterable[bytes] | None = None
    content_type: str = "application/json"
    drop: bool = False  # close the socket without answering (a connection reset)


@dataclass
class _Failure:
    status: int
    message: str


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` before the first stop sequence, as a real server does."""
    cut = len(text)
    for seq in stop:
        if seq:
            found = text.find(seq)
            if 0 <= found < cut:
                cut = found
    return text[:cut]


def word_count(text: str) -> int:
    return len(text.split())


class LoopbackServer:
    """Base of the scripted servers. Use as a context manager or ``start()``/``stop()``.

    Args:
        replies: a list of replies (str, or a function of the ``ChatRequest``) used in
            arrival order; or one function used for every request; ``None`` echoes
            ``"ok"``. May be reassigned at any time.
        latency: seconds to wait before answering each chat request (a number, or a
            function of the ``ChatRequest``).
        report_usage: when False the server reports no token counts.
        chunk_chars: characters per streamed piece.
        lifetime: seconds after which the server stops by itself.
    """

    chat_paths: tuple[str, ...] = ()

    def __init__(self, replies: Replies = None, *, latency: float | Callable = 0.0,
                 report_usage: bool = True, chunk_chars: int = 4, lifetime: float = 120.0):
        self.replies = replies
        self.latency = latency
        self.report_usage = report_usage
        self.chunk_chars = chunk_chars
        self.lifetime = lifetime
        self.requests: list[Recorded] = []
        self.errors: list[str] = []  # exceptions raised by the script while answering
        self.in_flight = 0
        self.max_in_flight = 0
        self._index = 0
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._sockets: set[socket.socket] = set()

    # -- scripting -------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, message: str = "scripted failure") -> None:
        """Answer the next ``count`` chat requests with ``status`` (0 drops the connection)."""
        with self._lock:
            self._failures.extend(_Failure(status, message) for _ in range(count))

    def chat_requests(self) -> list[Recorded]:
        """The recorded requests to the chat/generate paths, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path in self.chat_paths]

    def usage(self, request: ChatRequest, text: str) -> tuple[int, int]:
        """Token counts the server reports: whitespace words of the prompt and the reply."""
        prompt = sum(word_count(str(m.get("content", ""))) for m in request.messages)
        return prompt, word_count(text)

    def reply_text(self, request: ChatRequest) -> str:
        """The scripted reply for ``request``, cut at its stop sequences."""
        with self._lock:
            reply = self._pick_reply()
        text = reply(request) if callable(reply) else reply
        return cut_at_stop(text, request.stop)

    def _pick_reply(self) -> str | ReplyFn:
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
            time.sleep(delay)

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
        self._httpd = _HTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"{type(self).__name__}-serve")
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # end idle keep-alive connections
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

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

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _serve(self, method: str, path: str, body: dict | None, headers: dict) -> Reply:
        if path in self.chat_paths:
            failure = self._take_failure()
            if failure is not None:
                if failure.status == 0:
                    return Reply(drop=True)
                return self.error_reply(failure.status, failure.message)
        try:
            return self.route(method, path, body, headers)
        except Exception as exc:  # noqa: BLE001  (a broken script, e.g. out of replies: a 500)
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return self.error_reply(500, f"loopback server error: {exc}")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up is normal here (retries, timeouts); anything else is shown."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real servers
    owner: LoopbackServer
    timeout = 30  # an idle keep-alive connection ends its thread after this
    disable_nagle_algorithm = True  # else headers + body in two writes cost a 40 ms ACK delay

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._sockets.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._sockets.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        counted = path in self.owner.chat_paths
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(method, path, body, time.monotonic(), headers,
                          self.client_address[1])
        self.owner._begin(record, counted)
        status = 0
        try:
            reply = self.owner._serve(method, path, body, headers)
            status = 0 if reply.drop else reply.status
            self._send(reply, head_only=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.owner._end(record, counted, status)

    def _read_body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def _send(self, reply: Reply, head_only: bool) -> None:
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        payload = data.encode() if reply.body is not None else b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)
