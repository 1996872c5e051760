"""The host's end of the fork server: one template process per pool forks its workers.

Starting a worker as a new interpreter costs 40-130 ms (imports, bytecode, the handshake);
forking a template that has done all of that costs a few. The template (``template.py``)
is started once per pool with the same scrubbed environment a spawned worker gets, in a
session of its own, and waits on a control socket of its own (``SOCK_SEQPACKET``: one
message per request). A request carries the worker's marker and folder, with its protocol
socket and log pipe attached (``SCM_RIGHTS``); the answer is the worker's pid. The worker
is forked twice, so this process (a child subreaper) adopts it: from then on it is waited
on, killed and swept like a spawned worker (``process.ForkedChild``), and it outlives a
template that dies.

The template leaves when this process closes the control socket, or dies (the kernel
closes it then). A template that dies or does not start is not replaced: the pool starts
its workers by spawning from then on, and says so (``ForkServer.failure``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from rlm.errors import SandboxError

from .channel import LogBuffer
from .process import BOOTSTRAP, scrub_env
from .protocol import MARKER_ENV

READY_TIMEOUT = 30.0  # seconds for the template to start and import
# The template imports the worker package the way a spawned worker does (``BOOTSTRAP``).
TEMPLATE_BOOT = BOOTSTRAP.replace("worker import main", "template import main")


class ForkServerGone(SandboxError):
    """The template is not there (it died, or never started): spawn instead."""


class ForkServer:
    """One template process and the requests waiting on it.

    Args:
        placeholder: the template's marker value, as long as every worker's marker
            (``procs.marker(run_id, 0)``), so a forked worker writes its own over it.
    """

    def __init__(self, placeholder: str):
        self.placeholder = placeholder
        self.failure: str | None = None  # why forking is not possible, once it is not
        self.log = LogBuffer()
        self._popen: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._ready: asyncio.Future[bool] | None = None
        self._waiting: deque[asyncio.Future[dict[str, Any]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spawning: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self._popen.pid if self._popen else 0

    @property
    def started(self) -> bool:
        """``start`` was called (the template may still be on its way)."""
        return self._ready is not None

    async def start(self) -> None:
        """Spawn the template (in a thread: the loop goes on) and wait until it is ready.

        Raises:
            ForkServerGone: it could not be started, or died before it was ready.
        """
        if self._ready is None:
            if self.failure is not None:  # closed before it ever started
                raise ForkServerGone(self.failure)
            self._loop = asyncio.get_running_loop()
            self._ready = self._loop.create_future()
            self._spawning = self._loop.create_task(self._spawn())
        try:
            ok = await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT)
        except TimeoutError:
            self._fail(f"the fork server did not start within {READY_TIMEOUT:g} s")
            ok = False
        if not ok:
            raise ForkServerGone(self.failure or "the fork server is gone")

    async def fork(self, marker: str, folder: Path) -> tuple[asyncio.Future[dict[str, Any]],
                                                               socket.socket, int]:
        """Ask for one worker. Returns the future of the template's answer (``{"pid"}`` or
        ``{"error"}``), the host's end of the worker's socket and the read end of its log.

        Raises:
            ForkServerGone: the template is not there; the request was not sent.
        """
        await self.start()
        control = self._control
        if control is None or self._loop is None:  # died since it was ready
            raise ForkServerGone(self.failure or "the fork server is gone")
        host_end, worker_end = socket.socketpair()
        log_read, log_write = os.pipe()
        answer = self._loop.create_future()
        request = json.dumps({"marker": marker, "folder": str(folder)}).encode()
        try:
            socket.send_fds(control, [request], [worker_end.fileno(), log_write])
        except OSError as exc:  # a full socket means a stuck template: as good as gone
            host_end.close()
            os.close(log_read)
            self._fail(f"the fork server stopped taking requests ({exc})")
            raise ForkServerGone(self.failure or "") from None
        finally:
            worker_end.close()
            os.close(log_write)
        self._waiting.append(answer)
        return answer, host_end, log_read

    async def close(self) -> None:
        """Stop the template and reap it. Idempotent."""
        if self.failure is None:
            self.failure = "the fork server was closed"
        self._drop_control()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(False)
        if self._spawning is not None:  # still spawning: it kills what it spawned
            await asyncio.gather(self._spawning, return_exceptions=True)
        popen, self._popen = self._popen, None
        if popen is not None:
            popen.kill()  # idle between requests: nothing of value is lost
            await asyncio.to_thread(popen.wait)

    # --- internals ----------------------------------------------------------------------

    async def _spawn(self) -> None:
        assert self._loop is not None and self._ready is not None
        host_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log_read, log_write = os.pipe()
        env = scrub_env(os.environ)
        env[MARKER_ENV] = self.placeholder
        boot = TEMPLATE_BOOT.format(folder=str(Path(__file__).resolve().parent))
        command = [sys.executable, "-c", boot, str(template_end.fileno()), str(os.getpid())]
        try:
            popen = await asyncio.to_thread(
                subprocess.Popen, command, stdin=subprocess.DEVNULL, stdout=log_write,
                stderr=log_write, cwd="/", env=env, pass_fds=(template_end.fileno(),),
                start_new_session=True)
        except BaseException as exc:
            host_end.close()
            os.close(log_read)
            self._fail(f"the fork server could not be started ({exc})")
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            template_end.close()
            os.close(log_write)
        if self._ready.done():  # closed while it was being spawned
            host_end.close()
            os.close(log_read)
            popen.kill()
            await asyncio.to_thread(popen.wait)
            return
        self._popen = popen
        host_end.setblocking(False)
        self._control = host_end
        self._loop.add_reader(host_end, self._on_readable)
        pipe = os.fdopen(log_read, "rb", 0)
        try:
            await self._loop.connect_read_pipe(lambda: self.log, pipe)
        except Exception as exc:  # noqa: BLE001 - no log then, but say why it is unusable
            pipe.close()
            self._fail(f"the fork server's log could not be read ({exc})")

    def _on_readable(self) -> None:
        control = self._control
        if control is None:
            return
        try:
            data = control.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            data, why = b"", str(exc)
        else:
            why = "it exited"
        if not data:
            self._fail(f"the fork server died ({why}; {self._describe_exit()})")
            return
        message = json.loads(data)
        if message.get("op") == "ready":
            assert self._ready is not None
            if not self._ready.done():
                self._ready.set_result(True)
        elif self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_result(message)

    def _describe_exit(self) -> str:
        code = self._popen.poll() if self._popen else None
        tail = self.log.text().strip()[-300:]
        return (f"exit code {code}" if code is not None else "still running") + (
            f", its log: {tail}" if tail else "")

    def _fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        self._drop_control()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(False)
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_result({"error": self.failure})

    def _drop_control(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(control)
            control.close()
