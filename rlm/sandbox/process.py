"""One worker process: how it is started, watched, described when it dies, and killed.

The worker runs in its own session (``start_new_session=True``, so ``killpg`` reaches
everything it forks), in a private temp folder, with a scrubbed environment, the protocol
on an inherited socket (``pass_fds``), and fds 1/2 on a pipe into the host's ``LogBuffer``.
A worker forked by the fork server (``forkserver.py``) gets the same, set up by itself
(``template.become_worker``), and is this process's child once adopted (``ForkedChild``).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from rlm.config import is_secret_name

from .channel import Connection, LogBuffer
from .clock import ActionClock
from .procs import ticks_now
from .protocol import EXIT_MEMORY, MARKER_ENV

ADOPTION_TRIES = 5000  # 1 ms apart: a forked worker is adopted within a few at worst
MIN_SECRET_CHARS = 6  # shorter values would match half the environment by accident
DROPPED_ALWAYS = ("PYTHONINSPECT",)  # would turn the worker into an interactive prompt
# Imports the worker's modules as package ``_rlm_sandbox`` (not ``rlm``: its __init__ would
# pull in the engine). Their bytecode is cached even under PYTHONDONTWRITEBYTECODE: compiling
# them costs every cold start ~10 ms.
BOOTSTRAP = (
    "import sys as _sys\n"
    "_pkg = type(_sys)('_rlm_sandbox'); _pkg.__path__ = [{folder!r}]\n"
    "_sys.modules['_rlm_sandbox'] = _pkg; del _pkg\n"
    "_keep, _sys.dont_write_bytecode = _sys.dont_write_bytecode, False\n"
    "from _rlm_sandbox.worker import main as _rlm_main\n"
    "_sys.dont_write_bytecode = _keep; del _keep\n"
    "_rlm_main(_sys.argv[1:])\n"
)


def scrub_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without secrets: any variable whose name says KEY, TOKEN, SECRET,
    PASSWORD, CREDENTIAL or AUTH, and any variable that contains one of their values."""
    secret = {name for name in environ if is_secret_name(name)}
    values = {environ[name] for name in secret if len(environ[name]) >= MIN_SECRET_CHARS}
    return {name: value for name, value in environ.items()
            if name not in secret and name not in DROPPED_ALWAYS
            and not any(v in value or v in name for v in values)}


class ForkedChild:
    """A forked worker, waited on like a ``Popen``. Until the middle process that forked it
    has exited, it is not yet our child: ``poll`` says None then, ``wait`` waits."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None  # not adopted yet (or reaped by someone else: see ``wait``)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        for _ in range(ADOPTION_TRIES):
            if self.poll() is not None:
                return self.returncode  # type: ignore[return-value]
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                time.sleep(0.001)
                continue
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        self.returncode = -signal.SIGKILL  # never ours: someone else reaped it
        return self.returncode


class WorkerProcess:
    """A started worker. ``conn`` talks to it; ``exit`` resolves with its return code.

    ``popen`` is the ``subprocess.Popen`` of a spawned worker or the ``ForkedChild`` of a
    forked one (``pid``, ``poll``, ``wait``).
    """

    def __init__(self, popen: subprocess.Popen | ForkedChild, folder: Path, marker: str,
                 since: int):
        self.popen = popen
        self.since = since  # procs.ticks_now() before it started
        self.folder = folder
        self.marker = marker
        self.conn: Connection | None = None
        self.log = LogBuffer()
        self.exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.calls: set[asyncio.Task] = set()  # handler tasks serving this worker
        self.clock: ActionClock | None = None  # the running action's clock, if any
        self.released = False
        self._watching = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def channel(self) -> Connection:
        """``conn``, for code that holds a connected worker (the pool hands out no other)."""
        if self.conn is None:
            raise RuntimeError("the sandbox worker is not connected yet: await connect() first")
        return self.conn

    @property
    def alive(self) -> bool:
        return not self.exit.done() and self.conn is not None and not self.conn.is_closed

    @classmethod
    def launch(cls, marker: str, label: str = "") -> tuple[WorkerProcess, socket.socket, int]:
        """Start the process (synchronously, so the caller can track it before any await).

        Returns the worker, the host's end of its socket and the read end of its log pipe;
        pass them to ``connect``.
        """
        since = ticks_now()
        folder = new_folder(label)
        host_end, worker_end = socket.socketpair()
        log_read, log_write = os.pipe()
        env = scrub_env(os.environ)
        env[MARKER_ENV] = marker
        env["TMPDIR"] = str(folder)  # tempfile and child programs: the one writable folder
        boot = BOOTSTRAP.format(folder=str(Path(__file__).resolve().parent))
        try:
            popen = subprocess.Popen(
                [sys.executable, "-c", boot, str(worker_end.fileno()), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log_write, stderr=log_write, cwd=folder,
                env=env, pass_fds=(worker_end.fileno(),), start_new_session=True)
        except BaseException:
            host_end.close()
            os.close(log_read)
            raise
        finally:
            worker_end.close()
            os.close(log_write)
        return cls(popen, folder, marker, since), host_end, log_read

    async def connect(self, host_end: socket.socket, log_read: int) -> None:
        loop = asyncio.get_running_loop()
        self.watch()
        pipe = os.fdopen(log_read, "rb", 0)
        try:
            await loop.connect_read_pipe(lambda: self.log, pipe)
        except BaseException:
            pipe.close()  # not os.close: a transport made before the failure closes it too
            host_end.close()
            raise
        self.conn = await Connection.open(host_end)

    def watch(self) -> None:
        """Resolve ``exit`` when the process ends (``connect`` calls it; so does a pool that
        gets a worker it will never connect, to reap it)."""
        if self._watching:
            return
        self._watching = True
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: a thread waits instead
            waiter = loop.run_in_executor(None, self.popen.wait)
            waiter.add_done_callback(lambda f: self._exited(f.result()))
            return

        def ready() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._reap(loop, 0)

        loop.add_reader(pidfd, ready)

    def _reap(self, loop: asyncio.AbstractEventLoop, tries: int) -> None:
        code = self.popen.poll()
        if code is None and tries < ADOPTION_TRIES:  # it exited before we adopted it
            loop.call_later(0.001, self._reap, loop, tries + 1)
            return
        self._exited(-signal.SIGKILL if code is None else code)

    def _exited(self, code: int) -> None:
        if not self.exit.done():
            self.exit.set_result(code)
        if self.conn is not None:
            self.conn.close("exited")

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the worker's main thread (how a timeout stops code)."""
        _signal(lambda: os.kill(self.pid, signal.SIGINT))

    def kill(self) -> None:
        """SIGKILL the whole process group now; cancel the handler calls it was waiting on."""
        _signal(lambda: os.killpg(self.pid, signal.SIGKILL))
        if self.conn is not None:
            self.conn.close("killed")
        for task in list(self.calls):
            task.cancel()

    async def wait_exit(self, timeout: float) -> int | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self.exit), timeout)
        except TimeoutError:
            return None

    def describe_exit(self, code: int | None, memory_mb: int | None) -> str:
        """What happened to a worker that died by itself, in a few words."""
        if self.conn is not None and self.conn.closed.done():
            reason = self.conn.closed.result()
            if reason.startswith("protocol error"):
                return f"the worker broke its protocol ({reason})"
        if code is None:
            return "the worker closed its channel and did not exit"
        log = self.log.text()
        if code == EXIT_MEMORY or (memory_mb and "MemoryError" in log[-2000:]):
            return f"memory limit: the worker ran out of memory (limit {memory_mb} MB)"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"killed by signal {name}"
        return f"exit code {code}"


def new_folder(label: str) -> Path:
    """A worker's private temp folder (its cwd and TMPDIR)."""
    return Path(tempfile.mkdtemp(prefix=f"rlm-sandbox-{_slug(label)}"))


def _signal(send) -> None:
    try:
        send()
    except (ProcessLookupError, PermissionError):
        pass


def _slug(label: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:40]
    return f"{slug}-" if slug else ""
