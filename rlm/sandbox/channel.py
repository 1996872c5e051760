"""The host's end of the wire (asyncio), and the ring buffer that keeps the worker's log.

``Connection`` reads frames from the worker's socket and routes them: answers to host
requests resolve the request's future, ``call`` messages go to ``on_call``. When the worker
goes away (or breaks the protocol) every pending request resolves to None.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Callable
from typing import Any

from .protocol import HEADER_BYTES, MAX_FRAME, encode

LOG_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The worker sent something that is not a frame of ours."""


class Connection:
    """Framed JSON messages over the worker's socket, with request ids."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        loop = asyncio.get_running_loop()
        self._reader, self._writer = reader, writer
        self._pending: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        self._ids = itertools.count(1)
        self.ready: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.on_call: Callable[[dict[str, Any]], None] | None = None
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def open(cls, sock: socket.socket) -> Connection:
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    def request(self, msg: dict[str, Any]) -> asyncio.Future[dict[str, Any] | None]:
        """Send ``msg`` with a fresh id; the future gets the answer, or None if the worker
        went away first."""
        future = asyncio.get_running_loop().create_future()
        if self.is_closed:
            future.set_result(None)
            return future
        msg["id"] = next(self._ids)
        self._pending[msg["id"]] = future
        self.send_bytes(encode(msg))
        return future

    def send_bytes(self, frame: bytes) -> None:
        """Queue a frame; a no-op once closed (late replies are dropped)."""
        if not self.is_closed:
            self._writer.write(frame)

    def close(self, reason: str = "closed") -> None:
        if self.is_closed:
            return
        self.closed.set_result(reason)
        self._task.cancel()
        self._writer.close()
        for future in [self.ready, *self._pending.values()]:
            if not future.done():
                future.set_result(None)
        self._pending.clear()

    async def _read_loop(self) -> None:
        reason = "closed"
        try:
            while True:
                self._dispatch(await self._read_frame())
        except asyncio.IncompleteReadError:
            reason = "closed"
        except (ProtocolError, ValueError, UnicodeDecodeError) as exc:
            reason = f"protocol error: {exc}"
        except ConnectionError as exc:
            reason = f"connection lost: {exc}"
        finally:
            self.close(reason)

    async def _read_frame(self) -> Any:
        size = int.from_bytes(await self._reader.readexactly(HEADER_BYTES), "big")
        if size > MAX_FRAME:
            raise ProtocolError(f"a frame of {size:,} bytes")
        return json.loads(await self._reader.readexactly(size))

    def _dispatch(self, msg: Any) -> None:
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "ready" and not self.ready.done():
            self.ready.set_result(msg)
        elif op == "call" and self.on_call is not None:
            self.on_call(msg)
        elif op in ("done", "loaded") and msg.get("id") in self._pending:
            future = self._pending.pop(msg["id"])
            if not future.done():
                future.set_result(msg)
        else:
            raise ProtocolError(f"an unexpected message {str(msg)[:80]!r}")


class LogBuffer(asyncio.Protocol):
    """The worker's own stdout/stderr (crashes, faulthandler, subprocess output): last 64 KiB."""

    def __init__(self) -> None:
        self._data = bytearray()

    def data_received(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > 2 * LOG_BYTES:
            del self._data[:-LOG_BYTES]

    def text(self) -> str:
        return self._data[-LOG_BYTES:].decode("utf-8", "replace")
