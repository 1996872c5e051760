"""HTTP/1.1 plumbing of the loopback servers: keep-alive, chunked streaming, stalls.

``ThreadingHTTPServer`` with daemon threads, one handler thread per connection, as the
real servers keep connections alive and stream with chunked encoding. Every wait in here
(an idle keep-alive connection, a stall) watches the owner's ``stopping`` event and the
client's side of the socket, so ``LoopbackServer.stop()`` ends at once even with stalled
requests, and a stalled request ends when its client gives up.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .failures import STALL_CHUNKS

POLL = 0.05


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() never waits for a handler thread

    def __init__(self, owner, handler):
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up is normal here (retries, timeouts); anything else is shown."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut every open connection (idle keep-alive ones and stalled ones)."""
        with self.sockets_lock:
            open_sockets = list(self.open_sockets)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def make_http_server(owner) -> _HTTPServer:
    handler = type("Handler", (_Handler,), {"owner": owner})
    return _HTTPServer(owner, handler)


def _client_gone(sock: socket.socket) -> bool:
    """True when the client closed its side; any bytes it sent meanwhile are discarded."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(65536, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real servers
    owner = None  # the LoopbackServer, set by make_http_server
    timeout = 30  # an idle keep-alive connection ends its thread after this
    disable_nagle_algorithm = True  # else headers + body in two writes cost a 40 ms ACK delay

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    def handle_one_request(self) -> None:
        if not self._wait_for_request():
            self.close_connection = True
            return
        if self.owner._take_connect_stall():
            self._stall()  # the request stays unread: no status line will ever come
            self.close_connection = True
            return
        super().handle_one_request()

    def _wait_for_request(self) -> bool:
        """Wait until the next request's bytes arrive (False: stop, idle timeout, hang-up)."""
        deadline = time.monotonic() + self.timeout
        while not self.owner.stopping.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([self.connection], [], [], POLL)
            except (OSError, ValueError):
                return False
            if readable:
                return True
        return False

    def _stall(self) -> None:
        """Send nothing more until the server stops or the client hangs up."""
        while not self.owner.stopping.wait(POLL):
            if _client_gone(self.connection):
                return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        from .base import Recorded

        path = self.path.split("?", 1)[0]
        body = self._read_body()
        counted = path in self.owner.chat_paths
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(method, path, body, time.monotonic(), headers,
                          self.client_address[1])
        self.owner._begin(record, counted)
        status, reply = 0, None
        try:
            reply = self.owner._serve(method, path, body, headers, record)
            record.stalled = reply.stall
            if reply.stall == "never":
                self._stall()
                self.close_connection = True
                return
            status = 0 if reply.drop else reply.status
            self._send(reply, head_only=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if reply is not None and reply.on_done is not None:
                reply.on_done()
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

    def _send(self, reply, head_only: bool) -> None:
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunks is not None:
            self._send_chunks(reply)
            return
        data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        payload = data.encode() if reply.body is not None else b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if head_only:
            return
        if reply.stall == "mid_stream":
            self.wfile.write(payload[:len(payload) // 2])
            self.wfile.flush()
            self._stall()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def _send_chunks(self, reply) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks = iter(reply.chunks)
        try:
            for sent, chunk in enumerate(chunks):
                if reply.stall == "mid_stream" and sent >= STALL_CHUNKS:
                    self._stall()
                    self.close_connection = True
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            if reply.stall == "mid_stream":  # fewer chunks than the stall point
                self._stall()
                self.close_connection = True
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
