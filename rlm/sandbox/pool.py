"""Warm workers, the fork server, and the bookkeeping that guarantees every process of a run
is gone.

A pool starts its workers by forking a template that has already started its interpreter
and done the worker's imports (``forkserver.py``: a few ms), or, where that is not possible
or the template died, by spawning a new interpreter (``process.py``: 40-130 ms). A warm
worker has been started already and waits for ``load``: a sandbox that takes one only pays
for reading its context. The pool also owns teardown: ``release`` kills a worker's group at
once and finishes (sweep, reap, remove the folder) in the background; ``close`` waits for
all of that, stops the template and sweeps the whole run.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import shutil
import socket
import sys
from collections import deque
from pathlib import Path
from typing import Any

from rlm.errors import SandboxError

from . import procs
from .api import SandboxConfig
from .forkserver import ForkServer, ForkServerGone
from .process import ForkedChild, WorkerProcess, new_folder

READY_TIMEOUT = 30.0  # seconds for a new interpreter to start and import
EXIT_TIMEOUT = 10.0  # seconds to wait for a killed worker to be reaped
FORK_TIMEOUT = 5.0  # seconds ``close`` waits for the template's answers still due
FORK = "fork"
log = logging.getLogger("rlm.sandbox")


class SandboxPool:
    """Keeps ``warm`` workers started, and cleans up after every worker it ever started.

    Args:
        config: the settings of the sandboxes this pool serves (limits are applied when a
            worker loads its context, so any config can use any warm worker).
        warm: how many started workers to keep waiting; 0 starts each worker on demand.
            By default none while workers are forked (a fork is as quick as taking a
            spare from a host's point of view), one while they are spawned.
        fork_server: fork workers from a template process started once for this pool
            (Linux); False spawns a new interpreter for each.

    Attributes:
        start_method: how workers start: "fork", or "spawn: <why>" (``fork_server=False``,
            a system that cannot, a template that died).
    """

    def __init__(self, config: SandboxConfig | None = None, warm: int | None = None, *,
                 fork_server: bool = True):
        self.config = config or SandboxConfig()
        self._warm = warm
        self.run_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._since = procs.ticks_now()
        self._numbers = itertools.count(1)
        self._spare: deque[asyncio.Task[WorkerProcess]] = deque()
        self._live: set[WorkerProcess] = set()
        self._teardowns: set[asyncio.Task] = set()
        self._forking: set[asyncio.Future[dict[str, Any]]] = set()
        self._roots: set[int] = set()  # workers whose sweep is the last one's (``close``)
        self._warming: asyncio.Task[None] | None = None
        self._closed = False
        why = cannot_fork() if fork_server else "fork_server=False"
        self._server = ForkServer(procs.marker(self.run_id, 0)) if why is None else None
        self.start_method = FORK if why is None else f"spawn: {why}"
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the template and spares start with the first sandbox
        self.refill()

    @property
    def warm(self) -> int:
        """How many started workers this pool keeps waiting."""
        if self._warm is not None:
            return self._warm
        return 0 if self.start_method == FORK else 1

    async def warm_up(self) -> None:
        """Wait until the template and the warm workers are ready (before timing a start)."""
        self.refill()
        await self.warm_up_server()
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
        """Kill the warm workers, the template and every worker not yet released, and
        sweep the run for anything that escaped; return once each of their processes is
        gone. Idempotent."""
        self._closed = True
        for task in self._spare:
            task.cancel()
        await asyncio.gather(*self._spare, return_exceptions=True)
        self._spare.clear()
        if self._forking:  # workers forked for callers that left: released on arrival
            await asyncio.wait(list(self._forking), timeout=FORK_TIMEOUT)
        for worker in list(self._live):
            self.release(worker)
        if self._server is not None:
            if self._server.pid:
                self._roots.add(self._server.pid)  # its session: a middle that outlived it
            await self._server.close()  # killed at once (or never started); reaped
        while self._teardowns:  # each waits for its worker's exit (the sweep is below)
            await asyncio.gather(*list(self._teardowns), return_exceptions=True)
        await asyncio.to_thread(procs.sweep, procs.marker(self.run_id), prefix=True,
                                roots=frozenset(self._roots), since=self._since)

    def refill(self) -> None:
        """Start the template, and spare workers in the background until ``warm`` are
        waiting or starting."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        if self._server is not None and not self._server.started:
            self._warming = loop.create_task(self.warm_up_server())  # kept: not collected
        while len(self._spare) < self.warm:
            self._spare.append(loop.create_task(self._start("warm", wait_ready=True)))

    async def warm_up_server(self) -> None:
        """Start the template now (the first sandbox then only forks)."""
        if self._server is not None:
            try:
                await self._server.start()
            except ForkServerGone:
                self._spawn_from_now_on()

    # --- starting a worker --------------------------------------------------------------

    async def _start(self, label: str, *, wait_ready: bool) -> WorkerProcess:
        procs.become_subreaper()
        marker = procs.marker(self.run_id, next(self._numbers))
        if self.start_method == FORK:
            try:
                worker, host_end, log_read = await self._fork(marker, label)
            except ForkServerGone:
                self._spawn_from_now_on()
            else:
                return await self._connect(worker, host_end, log_read, wait_ready)
        worker, host_end, log_read = WorkerProcess.launch(marker, label)
        self._live.add(worker)  # tracked before any await, so nothing can leak
        return await self._connect(worker, host_end, log_read, wait_ready)

    async def _fork(self, marker: str, label: str) -> tuple[WorkerProcess, socket.socket, int]:
        assert self._server is not None
        if self._server.failure is not None:
            raise ForkServerGone(self._server.failure)
        since, folder = procs.ticks_now(), new_folder(label)
        try:
            answer, host_end, log_read = await self._server.fork(marker, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._forking.add(answer)
        answer.add_done_callback(self._forking.discard)
        try:
            reply = await asyncio.shield(answer)
        except asyncio.CancelledError:  # the worker comes anyway: release it when it does
            host_end.close()
            os.close(log_read)
            answer.add_done_callback(lambda done: self._orphan(done, folder, marker, since))
            raise
        if "pid" not in reply:
            host_end.close()
            os.close(log_read)
            shutil.rmtree(folder, ignore_errors=True)
            if self._server.failure is not None:
                raise ForkServerGone(self._server.failure)
            raise SandboxError(f"The fork server could not start a worker: {reply['error']}")
        worker = WorkerProcess(ForkedChild(reply["pid"]), folder, marker, since)
        self._live.add(worker)
        return worker, host_end, log_read

    async def _connect(self, worker: WorkerProcess, host_end: socket.socket, log_read: int,
                       wait_ready: bool) -> WorkerProcess:
        try:
            await worker.connect(host_end, log_read)
            if wait_ready:
                await self._wait_ready(worker)
        except BaseException:
            self.release(worker)
            raise
        return worker

    def _orphan(self, answer: asyncio.Future[dict[str, Any]], folder: Path, marker: str,
                since: int) -> None:
        """A worker forked for a caller that was cancelled: reap it like any other."""
        pid = answer.result().get("pid") if not answer.cancelled() else None
        if pid is None:
            shutil.rmtree(folder, ignore_errors=True)
            return
        worker = WorkerProcess(ForkedChild(pid), folder, marker, since)
        self._live.add(worker)
        worker.watch()
        self.release(worker)

    def _spawn_from_now_on(self) -> None:
        if self.start_method == FORK and self._server is not None:
            why = self._server.failure or "the fork server is gone"
            self.start_method = f"spawn: {why}"
            if not self._closed:
                log.warning("rlm sandbox: %s; from now on each sandbox starts a new "
                            "Python interpreter (tens of ms instead of a few).", why)

    async def _wait_ready(self, worker: WorkerProcess) -> None:
        try:
            ready = await asyncio.wait_for(asyncio.shield(worker.channel.ready), READY_TIMEOUT)
        except TimeoutError:
            ready = None
        if ready is None:
            raise SandboxError(f"The sandbox worker did not start. Its log:\n"
                               f"{worker.log.text()[-2000:]}")

    async def _teardown(self, worker: WorkerProcess) -> None:
        """After the kill: wait for the worker's exit, sweep what it left (while closing,
        the pool's last sweep does it, once for all), remove its folder."""
        try:
            await worker.wait_exit(EXIT_TIMEOUT)
        finally:
            sweep = not self._closed
            if not sweep:
                self._roots.add(worker.pid)
            try:
                await asyncio.to_thread(_clean_up, worker, sweep)
            finally:
                self._live.discard(worker)


def _clean_up(worker: WorkerProcess, sweep: bool) -> None:
    if sweep:
        procs.sweep(worker.marker, roots=frozenset({worker.pid}), keep=frozenset({worker.pid}),
                    since=worker.since)
    shutil.rmtree(worker.folder, ignore_errors=True)


def cannot_fork() -> str | None:
    """Why workers cannot be forked from a template here, or None when they can: Linux,
    a child subreaper (forked workers are adopted by this process) and fd passing."""
    if not sys.platform.startswith("linux"):
        return "the fork server is Linux only"
    if not hasattr(socket, "send_fds") or not hasattr(socket, "SOCK_SEQPACKET"):
        return "this Python cannot pass file descriptors"
    if not procs.become_subreaper():
        return "this process cannot become a child subreaper"
    return None
