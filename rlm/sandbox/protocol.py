"""The wire between host and worker: length-prefixed JSON frames on a socket of their own.

Each frame is a 4-byte big-endian length and that many bytes of JSON (ASCII, so lone
surrogates in user strings survive). Every message is a dict with ``op`` and ``id``.

Host -> worker requests (``id`` counts host requests; the worker answers with the same id):
    ``load``   ``{context: {kind, path, ascii?} | None, memory_mb, network, files, max_output,
               tools}`` ->
               ``loaded`` ``{network, files, error}``; ``files`` is ``{read, write}`` (lists of
               paths) or None, and comes back as what confinement ran
    ``exec``   ``{code, limit}`` -> ``done`` with the action's outcome
    ``getvar`` ``{name}`` -> ``done`` with ``{ok, value}``
    ``setvar`` ``{name, value}`` -> ``done``: sets a variable to a JSON value (the engine
               keeps an agent's folded history there)
Worker -> host:
    ``ready``  sent once, after the imports: the worker waits for ``load``
    ``call``   ``{name, payload}``; the host answers ``reply`` ``{result}`` or ``{error}``
               with the call's id (calls count their own ids)

Stdlib only, and imported by the worker: keep it tiny.
"""

from __future__ import annotations

import json
import os
import threading

TYPE_CHECKING = False  # typing costs the worker's cold start ~5 ms; annotations only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

HEADER_BYTES = 4
MAX_FRAME = 1 << 30  # a frame larger than this is a protocol error, not an allocation
MARKER_ENV = "RLM_SANDBOX_RUN"  # every worker carries <run id>.<worker number>
EXIT_MEMORY = 86  # the worker's own machinery ran out of memory
REQUESTS = ("load", "exec", "getvar", "setvar")
CALLS = ("llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched", "tool")


def encode(msg: dict[str, Any]) -> bytes:
    """One frame: length, then compact ASCII JSON."""
    data = json.dumps(msg, separators=(",", ":")).encode("ascii")
    return len(data).to_bytes(HEADER_BYTES, "big") + data


class Channel:
    """The worker's blocking end of the socket. ``send`` is safe from several threads."""

    def __init__(self, fd: int):
        self.fd = fd
        self._write_lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        data = memoryview(encode(msg))
        with self._write_lock:
            while data:
                data = data[os.write(self.fd, data):]

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None when the host has gone."""
        head = self._read(HEADER_BYTES)
        if head is None:
            return None
        body = self._read(int.from_bytes(head, "big"))
        return None if body is None else json.loads(body)

    def _read(self, size: int) -> bytes | None:
        parts, left = [], size
        while left:
            chunk = os.read(self.fd, min(left, 1 << 20))
            if not chunk:
                return None
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)


class Mailbox:
    """Lets the main loop and any thread of user code wait for their own message.

    One waiter at a time reads the socket; messages it does not want are kept for the
    others, so a reply meant for a thread's ``llm_query`` never reaches the main loop.
    """

    def __init__(self, channel: Channel):
        self.channel = channel
        self._cond = threading.Condition()
        self._kept: list[dict[str, Any]] = []
        self._reading = False
        self._call_ids = 0

    def send(self, msg: dict[str, Any]) -> None:
        self.channel.send(msg)

    def call(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Ask the host; block until its reply to this call arrives."""
        with self._cond:
            self._call_ids += 1
            call_id = self._call_ids
        self.send({"op": "call", "id": call_id, "name": name, "payload": payload})
        return self.wait_for(lambda m: m.get("op") == "reply" and m.get("id") == call_id)

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with self._cond:
            while True:
                for i, msg in enumerate(self._kept):
                    if wanted(msg):
                        return self._kept.pop(i)
                if self._reading:
                    self._cond.wait()
                    continue
                self._kept.append(self._read_one())

    def _read_one(self) -> dict[str, Any]:
        # Called holding the condition; released while blocked on the socket.
        self._reading = True
        self._cond.release()
        try:
            msg = self.channel.recv()
        finally:
            self._cond.acquire()
            self._reading = False
            self._cond.notify_all()
        if msg is None:
            os._exit(0)  # the host has gone: nothing is left to answer to
        return msg
