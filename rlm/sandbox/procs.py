"""Process hygiene: no process started by sandbox code may outlive its run.

Every worker's environment carries ``RLM_SANDBOX_RUN=<run id>.<worker number>``, inherited
by anything user code starts. On Linux the host also becomes a child subreaper, so a
process that double-forks or calls ``setsid()`` is re-parented to the host instead of
init, and the host can reap it. ``sweep`` finds a worker's processes in ``/proc`` (by
marker, by process group or session, or by descent from one of those), kills them, and
reaps those that became our children. It never calls ``waitpid(-1)``: that would steal
exit codes from asyncio and subprocess.

Blocking (reads ``/proc`` and sleeps briefly); the host runs it in a thread.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import NamedTuple

from .protocol import MARKER_ENV

PR_SET_CHILD_SUBREAPER = 36
ROUNDS = 200  # kill rounds: a fork loop is caught within a few
_subreaper: bool | None = None


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux; once)."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            from .netguard import libc

            _subreaper = libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def marker(run_id: str, worker: int | None = None) -> str:
    """The marker value of one worker, or the prefix every worker of a run shares.

    Numbers have a fixed width: worker 0 is the fork server's template, and a worker forked
    from it writes its own value over the template's in place (``template.set_marker``).
    """
    return f"{run_id}.{worker:06d}" if worker is not None else f"{run_id}."


def ticks_now() -> int:
    """Clock ticks since boot, as in ``/proc/<pid>/stat``; 0 where there is no ``/proc``.

    No process of a run can have started before the run: sweeps skip reading the
    environment of older processes (most of a busy machine).
    """
    try:
        with open("/proc/uptime", "rb") as src:
            seconds = float(src.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    tick = os.sysconf("SC_CLK_TCK")
    return max(0, int(seconds * tick) - tick)  # a second of slack for rounding


class Proc(NamedTuple):
    pid: int
    ppid: int
    pgrp: int
    session: int
    zombie: bool
    started: int  # clock ticks after boot


def scan() -> dict[int, Proc]:
    """Every process in ``/proc`` (empty where there is no ``/proc``)."""
    table: dict[int, Proc] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            proc = _read_stat(int(name))
            if proc:
                table[proc.pid] = proc
    return table


def _read(path: str, limit: int) -> bytes | None:
    """A /proc file's bytes (os.open and os.read: half the cost of open() over a scan)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, limit)
        while data and len(data) < limit and (more := os.read(fd, limit - len(data))):
            data += more
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_stat(pid: int) -> Proc | None:
    data = _read(f"/proc/{pid}/stat", 4096)
    if not data:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = data.rpartition(b")")[2].split()
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0] in (b"Z", b"X"),
                int(fields[19]))


def carries(pid: int, value: str, *, prefix: bool) -> bool:
    """Whether the process's environment has our marker (exactly ``value``, or a prefix)."""
    data = _read(f"/proc/{pid}/environ", 1 << 20)
    if data is None:
        return False
    env = b"\0" + data
    needle = f"\0{MARKER_ENV}={value}".encode()
    return (needle in env) if prefix else (needle + b"\0" in env)


def find(value: str, *, prefix: bool, roots: frozenset[int], seen: set[int],
         since: int = 0) -> dict[int, Proc]:
    """Processes that are ours: marked (and started at ``since`` or later), in a root's group
    or session, seen before, or descended from any of those."""
    table = scan()
    me = os.getpid()
    ours = {pid for pid, p in table.items() if pid != me and (
        pid in seen or p.pgrp in roots or p.session in roots
        or (not p.zombie and p.started >= since and carries(pid, value, prefix=prefix)))}
    grew = True
    while grew:  # add descendants until nothing changes
        more = {pid for pid, p in table.items() if p.ppid in ours and pid not in ours}
        grew = bool(more)
        ours |= more
    ours.discard(me)
    return {pid: table[pid] for pid in ours}


def sweep(value: str, *, prefix: bool = False, roots: frozenset[int] = frozenset(),
          keep: frozenset[int] = frozenset(), since: int = 0) -> set[int]:
    """Kill every process of a worker (or of a whole run, with ``prefix``) and reap the
    ones re-parented to us, except ``keep`` (pids a ``Popen`` reaps itself).

    Args:
        value: the marker value (with ``prefix``, the run's prefix).
        prefix: match every worker of the run.
        roots: worker pids: their process groups and sessions are ours.
        keep: pids not to reap.
        since: ``ticks_now()`` taken before the first of these processes started.

    Returns the pids found.
    """
    seen: set[int] = set()
    me = os.getpid()
    for _ in range(ROUNDS):
        ours = find(value, prefix=prefix, roots=roots, seen=seen, since=since)
        seen |= ours.keys()
        live = [p.pid for p in ours.values() if not p.zombie]
        for pid in live:
            _kill(pid)
        reapable = [p.pid for p in ours.values() if p.ppid == me and p.pid not in keep]
        for pid in reapable:
            _reap(pid)
        if not live and not reapable:
            break
        time.sleep(0.002)
    return seen


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
