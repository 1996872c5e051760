"""A private event loop on a thread of its own, so sync calls can share loop-bound state.

Sandbox workers belong to the event loop that started them. ``RLM(keep_warm=True)`` keeps
a warm pool across runs; for the sync API that only works when every run uses the same
loop, which ``EngineLoop`` provides.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EngineLoop:
    """An event loop running forever on a daemon thread until ``close()``."""

    def __init__(self, name: str = "rlm-engine"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T],
            on_interrupt: Callable[[], None] | None = None) -> T:
        """Run ``coro`` on the loop and wait for it; Ctrl-C calls ``on_interrupt`` first
        (for example ``RLM.cancel``) and still waits, so the run ends cleanly."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            if on_interrupt is None:
                future.cancel()
                raise
            on_interrupt()
            return future.result()

    def close(self, final: Callable[[], Coroutine[Any, Any, Any]] | None = None) -> None:
        """Run ``final()`` on the loop (cleanup), then stop the loop and its thread."""
        if self.loop.is_closed():
            return
        if final is not None:
            asyncio.run_coroutine_threadsafe(final(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
