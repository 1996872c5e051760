"""Saying that a model call is waiting, while it waits.

A local server may take minutes to load a model, and a stuck one may never answer: the
user should see that the run is waiting and for how long, not a frozen screen. ``Watch``
runs beside one call and reports after ``FIRST_NOTICE`` seconds, then at doubling intervals,
until the first piece of the reply (or thinking) arrives or the call ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType

from rlm.llm import TokenCallback

FIRST_NOTICE = 5.0  # seconds: a local model's first token usually comes sooner

WaitCallback = Callable[[float, str, float], None]  # (seconds, reason, since: wall time)


class Watch:
    """An async context around one model call that calls ``on_wait`` while nothing comes.

    ``reason`` is "slot" while the call waits for a slot of its server, then "reply".
    """

    def __init__(self, on_wait: WaitCallback | None):
        self.on_wait = on_wait
        self.reason = "slot"
        self.since = time.time()
        self.answered = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def heard(self, callback: TokenCallback | None) -> TokenCallback | None:
        """``callback`` that also tells the watch something came back (a call nobody
        streams from is simply over when it ends)."""
        if self.on_wait is None or callback is None:
            return callback

        def heard(text: str) -> None:
            self.answered.set()
            callback(text)

        return heard

    async def __aenter__(self) -> Watch:
        if self.on_wait is not None:
            self._task = asyncio.ensure_future(self._report())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _report(self) -> None:
        assert self.on_wait is not None
        started, notice = time.monotonic(), FIRST_NOTICE
        while True:
            try:
                await asyncio.wait_for(self.answered.wait(), notice - (time.monotonic() - started))
                return
            except TimeoutError:
                self.on_wait(time.monotonic() - started, self.reason, self.since)
                notice *= 2
