"""Keep-alive connections of the direct HTTP door, one pool per event loop.

A pool keeps idle connections per (host, port, tls) and closes them when its event loop
shuts down: ``asyncio.run`` closes every started async generator of its loop before closing
the loop itself, and the pool's watcher is such a generator.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator

from rlm.llm.failures import CallTimedOut

CONNECT_TIMEOUT = 10.0
IDLE_PER_HOST = 64     # keep-alive connections kept per host

Key = tuple[str, int, bool]
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Pool:
    """Idle keep-alive connections of one event loop, per (host, port, tls)."""

    def __init__(self) -> None:
        self.idle: dict[Key, list[Connection]] = {}
        self.watch = _close_at_shutdown(self)

    async def start(self) -> None:
        """Arrange for the idle connections to close when the loop shuts down."""
        await anext(self.watch)

    async def open(self, key: Key, timeout: float = CONNECT_TIMEOUT
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection to ``key``: an idle one (``reused`` True) or a new one, opened within
        ``timeout`` seconds (else ``CallTimedOut``)."""
        idle = self.idle.get(key, [])
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer, True
            writer.close()
        host, port, tls = key
        context = _tls_context() if tls else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, limit=2 ** 24), timeout)
        except TimeoutError:
            raise CallTimedOut("connect", timeout) from None
        return reader, writer, False

    def keep(self, key: Key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle = self.idle.setdefault(key, [])
        if len(idle) < IDLE_PER_HOST and not writer.is_closing():
            idle.append((reader, writer))
        else:
            writer.close()

    def close(self) -> None:
        for conns in self.idle.values():
            for _, writer in conns:
                writer.close()
        self.idle.clear()


async def _close_at_shutdown(pool: Pool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        pool.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every https connection (making one reads the CA certificates:
    ~20 ms on the event loop, per new connection before)."""
    return ssl.create_default_context()
