"""The fork server's template: a worker's imports done once, one forked worker per request.

Worker side, stdlib only. Started by the host (``forkserver.py``) as
``python -c TEMPLATE_BOOT <control fd> <host pid>``; it imports everything a worker needs,
says ``ready`` on its control socket (``AF_UNIX``, ``SOCK_SEQPACKET``: one message per
request, with the worker's two descriptors attached) and then, single-threaded, forks one
worker per request until the host closes the socket or dies.

The shape follows CPython's ``multiprocessing.forkserver``: a preloaded server that forks
on request, file descriptors passed with ``SCM_RIGHTS`` (``socket.recv_fds`` here, its
``reduction.recvfds``), the child closing what it must not keep and resetting signal
handlers (its ``_serve_one``), and the server leaving when its host's end closes (its
"alive" pipe). Two differences. The worker is forked twice (a middle process forks it and
exits at once), so it is re-parented to the host, which is a child subreaper
(``procs.py``): the host reaps it and waits on it as on a spawned worker, and it outlives a
template that dies. And each worker then does for itself everything that is per worker
(``become_worker``), exactly as a spawned worker is set up by ``subprocess``.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost the template's start ~3 ms
import gc
import json
import os
import signal
import sys
from array import array

from . import netguard, readtext, worker
from .protocol import MARKER_ENV

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Imported once here, shared by every fork, instead of copied into each worker that needs
# them: what the worker imports late (a memory limit, an error's traceback, SHOW_VARS) and
# what sandbox code imports most. Not tempfile: it would cache the template's folder.
PRELOAD = ("resource", "traceback", "reprlib", "re", "collections")
MAX_REQUEST = 64 * 1024
MAX_FDS = 2  # a request brings the worker's protocol socket and log pipe
PREFORK_AFTER = 2  # requests served before a middle is forked ahead of the next one


def main(argv: list[str]) -> None:
    control_fd, host_pid = int(argv[0]), int(argv[1])
    os.set_inheritable(control_fd, False)
    netguard.libc()  # loaded once here, shared by every fork
    readtext.ready()
    for name in PRELOAD:
        __import__(name)
    control = _socket.socket(fileno=control_fd)
    gc.collect()
    gc.freeze()  # the collector of a fork never walks (and so never copies) these pages
    control.send(b'{"op":"ready"}')
    middle, served = None, 0
    while True:
        message, fds = recv_fds(control)
        if not message:
            os._exit(0)  # the host closed its end (or died): nothing more to fork
        try:
            middle = middle or Middle(control, host_pid)
            reply: dict[str, Any] = {"pid": middle.fork_worker(message, fds)}
        except Exception as exc:  # noqa: BLE001 - reported to the host, the template lives on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        control.send(json.dumps(reply).encode())
        if middle is not None:
            middle.finish()
        served += 1
        # A run's first worker is its root agent's; a second means children, which come
        # in numbers: only then is a middle kept waiting (it costs ~1 MB while it waits).
        middle = Middle(control, host_pid) if served >= PREFORK_AFTER else None


class Middle:
    """The process between the template and a worker: it waits for one request, forks the
    worker, says its pid and exits, so the worker is re-parented to the host. Forked ahead
    of a request, its own start (copying pages, Python's after-fork work: ~1.5 ms, most of
    a request's time in the template) is off the request's path."""

    def __init__(self, control: _socket.socket, host_pid: int):
        self.control, self.host_pid = control, host_pid
        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            control.close()  # the host sees the template's end close when the template dies
            self._serve(theirs)
        theirs.close()
        self.socket = ours

    def fork_worker(self, message: bytes, fds: list[int]) -> int:
        """Hand the request over; the worker's pid."""
        if len(fds) != 2:
            raise ValueError(f"a fork request needs 2 descriptors, got {len(fds)}")
        send_fds(self.socket, message, fds)
        answer = self.socket.recv(64)
        if not answer:
            raise OSError("the worker could not be forked")
        return int(answer)

    def finish(self) -> None:
        """Reap it: it has exited after its one request, or is about to."""
        self.socket.close()
        os.waitpid(self.pid, 0)

    def _serve(self, sock: _socket.socket) -> None:
        try:
            message, fds = recv_fds(sock)
            if message:
                pid = os.fork()
                if pid == 0:
                    sock.close()
                    become_worker(json.loads(message), fds, self.host_pid)
                sock.send(str(pid).encode())
        finally:
            os._exit(0)


def become_worker(request: dict[str, Any], fds: list[int], host_pid: int) -> None:
    """In the forked worker: set up what is per worker, then serve the host. Never returns.

    The same as a spawned worker gets: its own session and process group, fds 1 and 2 on its
    log pipe and nothing else open but the protocol socket, its own folder as cwd and
    ``TMPDIR``, the run marker (also where ``/proc/<pid>/environ`` shows it: the sweep reads
    it there), and death with the host, asked for at ``load`` (by then the host has adopted
    it; until then the worker only waits on its socket, which closes when the host dies).
    """
    code = 1
    try:
        channel, log = fds
        os.setsid()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, channel)  # the template's and middle's sockets among them
        os.closerange(channel + 1, os.sysconf("SC_OPEN_MAX"))
        sys.argv[1:] = [str(channel), str(host_pid)]  # as a spawned worker's
        folder = request["folder"]
        os.chdir(folder)
        set_marker(request["marker"])
        os.environ["TMPDIR"] = folder
        for number in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        code = 0
        worker.serve(channel, host_pid, adopted=False)
    except BaseException:  # noqa: BLE001 - whatever it is, it goes to the host's log
        import traceback

        traceback.print_exc()
        code = code or 1
    finally:
        os._exit(code)


def recv_fds(sock: _socket.socket) -> tuple[bytes, list[int]]:
    """One message and the descriptors that came with it (``socket.recv_fds``'s code)."""
    fds = array("i")
    data, ancillary, _flags, _address = sock.recvmsg(MAX_REQUEST, _socket.CMSG_LEN(
        MAX_FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def send_fds(sock: _socket.socket, data: bytes, fds: list[int]) -> None:
    """``socket.send_fds``'s code."""
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array("i", fds))])


def set_marker(value: str) -> None:
    """Put ``value`` in the marker variable: in ``os.environ`` (what programs the code starts
    inherit) and where ``/proc/<pid>/environ`` reads it (what the sweep reads), the
    environment block this process was started with. The template's placeholder has the
    same length (``procs.marker``), so the block is written over in place, the way
    ``setproctitle`` writes over ``argv``."""
    os.environ[MARKER_ENV] = value
    import ctypes

    try:
        with open("/proc/self/stat", "rb") as src:  # fields 50 and 51: env_start, env_end
            fields = src.read().rpartition(b")")[2].split()
        start, end = int(fields[50 - 3]), int(fields[51 - 3])
    except (OSError, ValueError, IndexError):
        return
    block = (ctypes.c_char * (end - start)).from_address(start).raw
    name = f"{MARKER_ENV}=".encode()
    at = 0 if block.startswith(name) else block.find(b"\0" + name) + 1
    if at == 0 and not block.startswith(name):
        return
    at += len(name)
    old = block[at:block.find(b"\0", at)]
    new = value.encode()
    if len(new) == len(old):
        ctypes.memmove(start + at, new, len(new))
