"""Warm workers and the bookkeeping that guarantees every process of a run is gone.

A warm worker has started its interpreter and done its imports and waits for ``load``; a
sandbox that takes one only pays for reading its context. The pool also owns teardown:
``release`` kills a worker's group at once and finishes (sweep, reap, remove the folder)
in the background; ``close`` waits for all of that and sweeps the whole run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
from collections import deque

from rlm.errors import SandboxError

from . import procs
from .api import SandboxConfig
from .process import WorkerProcess

READY_TIMEOUT = 30.0  # seconds for a new interpreter to start and import
EXIT_TIMEOUT = 10.0  # seconds to wait for a killed worker to be reaped


class SandboxPool:
    """Keeps ``warm`` workers started, and cleans up after every worker it ever started.

    Args:
        config: the settings of the sandboxes this pool serves (limits are applied when a
            worker loads its context, so any config can use any warm worker).
        warm: how many started workers to keep waiting. 0 starts each worker on demand.
    """

    def __init__(self, config: SandboxConfig | None = None, warm: int = 1):
        self.config = config or SandboxConfig()
        self.warm = warm
        self.run_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._since = procs.ticks_now()
        self._numbers = itertools.count(1)
        self._spare: deque[asyncio.Task[WorkerProcess]] = deque()
        self._live: set[WorkerProcess] = set()
        self._teardowns: set[asyncio.Task] = set()
        self._closed = False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: spares start after the first sandbox has loaded
        self.refill()

    async def warm_up(self) -> None:
        """Wait until the warm workers are ready (useful before timing a start)."""
        self.refill()
        await asyncio.gather(*self._spare, return_exceptions=True)

    async def acquire(self, label: str = "") -> WorkerProcess:
        """A started worker waiting for ``load``: a warm one if there is one, else a new one.

        Does not start a replacement: call ``refill`` once the worker has loaded, so that
        spawning (which blocks the loop for a few ms) stays off the caller's critical path.
        """
        if self._closed:
            raise SandboxError("This sandbox pool is closed; create a new SandboxPool.")
        while self._spare:
            task = self._spare.popleft()
            try:
                worker = await asyncio.shield(task)
            except asyncio.CancelledError:
                self._spare.appendleft(task)  # still warming: keep it for the next caller
                raise
            except Exception:  # noqa: BLE001, S112 - a spare that failed: try the next one
                continue
            if worker.alive:
                return worker
            self.release(worker)
        return await self._start(label, wait_ready=False)

    def release(self, worker: WorkerProcess) -> None:
        """Kill ``worker``'s group now; sweep, reap and remove its folder in the background."""
        if worker.released:
            return
        worker.released = True
        worker.kill()
        task = asyncio.get_running_loop().create_task(self._teardown(worker))
        self._teardowns.add(task)
        task.add_done_callback(self._teardowns.discard)

    async def close(self) -> None:
        """Kill the warm workers and every worker not yet released, wait until each of
        their processes is gone, then sweep the run for anything that escaped. Idempotent."""
        self._closed = True
        for task in self._spare:
            task.cancel()
        await asyncio.gather(*self._spare, return_exceptions=True)
        self._spare.clear()
        for worker in list(self._live):
            self.release(worker)
        while self._teardowns:
            await asyncio.gather(*list(self._teardowns), return_exceptions=True)
        await asyncio.to_thread(procs.sweep, procs.marker(self.run_id), prefix=True,
                                since=self._since)

    def refill(self) -> None:
        """Start spare workers in the background until ``warm`` are waiting or starting."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        while len(self._spare) < self.warm:
            self._spare.append(loop.create_task(self._start("warm", wait_ready=True)))

    async def _start(self, label: str, *, wait_ready: bool) -> WorkerProcess:
        procs.become_subreaper()
        worker, host_end, log_read = WorkerProcess.launch(
            procs.marker(self.run_id, next(self._numbers)), label)
        self._live.add(worker)  # tracked before any await, so nothing can leak
        try:
            await worker.connect(host_end, log_read)
            if wait_ready:
                await self._wait_ready(worker)
        except BaseException:
            self.release(worker)
            raise
        return worker

    async def _wait_ready(self, worker: WorkerProcess) -> None:
        try:
            ready = await asyncio.wait_for(asyncio.shield(worker.channel.ready), READY_TIMEOUT)
        except TimeoutError:
            ready = None
        if ready is None:
            raise SandboxError(f"The sandbox worker did not start. Its log:\n"
                               f"{worker.log.text()[-2000:]}")

    async def _teardown(self, worker: WorkerProcess) -> None:
        try:
            await asyncio.to_thread(procs.sweep, worker.marker, roots=frozenset({worker.pid}),
                                    keep=frozenset({worker.pid}), since=worker.since)
            await worker.wait_exit(EXIT_TIMEOUT)
        finally:
            self._live.discard(worker)
            await asyncio.to_thread(shutil.rmtree, worker.folder, True)
