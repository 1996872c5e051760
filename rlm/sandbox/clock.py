"""The action clock: counts the sandbox's own running time, paused while it waits on the host."""

from __future__ import annotations

import asyncio


class ActionClock:
    """Running time of one action; ``expired`` resolves when it passes ``limit``.

    ``pause``/``resume`` nest: the clock runs only while no handler call is in flight.
    """

    def __init__(self, limit: float, paused: int = 0):
        self._loop = asyncio.get_running_loop()
        self.limit = limit
        self.expired: asyncio.Future[None] = self._loop.create_future()
        self._used = 0.0
        self._paused = paused
        self._since = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._arm()

    @property
    def seconds(self) -> float:
        running = 0.0 if self._paused else self._loop.time() - self._since
        return self._used + running

    def pause(self) -> None:
        if self._stopped:
            return
        if self._paused == 0:
            self._used += self._loop.time() - self._since
            self._disarm()
        self._paused += 1

    def resume(self) -> None:
        if self._stopped:
            return
        self._paused = max(0, self._paused - 1)
        if self._paused == 0:
            self._since = self._loop.time()
            self._arm()

    def stop(self) -> float:
        """Freeze the clock; returns the running time."""
        seconds = self.seconds
        self._used, self._paused, self._stopped = seconds, 1, True
        self._disarm()
        return seconds

    def _arm(self) -> None:
        if self._paused or self.expired.done():
            return
        self._timer = self._loop.call_at(self._since + max(0.0, self.limit - self._used),
                                         self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        if not self.expired.done():
            self.expired.set_result(None)
