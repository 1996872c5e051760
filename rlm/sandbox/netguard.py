"""Confinement the worker applies to itself before user code runs.

Worker side, stdlib only: die with the host, a memory limit, no outbound network, and a
/dev/shm of its own (file confinement itself is in ``landlock.py``).
None of this is a security boundary; it keeps honest code from doing damage by accident.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18
_libc = None


def libc():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def die_with_host(host_pid: int, wait: float = 0.0) -> None:
    """Linux: the kernel kills this worker when the host dies (even by SIGKILL).

    The signal follows the parent, so a forked worker asks for it once the host has
    adopted it (its middle process exited): it waits up to ``wait`` seconds for that.
    """
    if not sys.platform.startswith("linux"):
        return
    deadline = time.monotonic() + wait
    while os.getppid() != host_pid and time.monotonic() < deadline:
        time.sleep(0.0001)
    libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != host_pid:  # the host died before prctl took effect (or is not ours)
        os._exit(0)


def trim_heap() -> None:
    """Give the heap's free memory back to the kernel (glibc's ``malloc_trim``; a no-op
    elsewhere): freed 1 MB blocks raise glibc's mmap threshold and then stay on the heap."""
    try:
        libc().malloc_trim(0)
    except (AttributeError, OSError):
        pass


def limit_memory(megabytes: int) -> None:
    """Cap the data segment (heap, anonymous mappings, thread stacks) at ``megabytes``.

    RLIMIT_DATA, not RLIMIT_AS: address-space reservations that are never written (glibc
    arenas, PROT_NONE regions, mapped files) do not count, so threads and libraries work,
    while a big allocation fails with MemoryError.
    """
    import resource

    want = megabytes << 20
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (want, want))


def isolate_network() -> str:
    """Cut outbound network; returns which protection ran: "namespace" or "guard".

    A new network namespace has no interfaces but a down loopback, so every connect
    fails in the kernel. Root can make one directly; other users through a user namespace.
    Where neither is allowed, a Python-level guard refuses non-Unix sockets.
    """
    if sys.platform.startswith("linux"):
        if libc().unshare(CLONE_NEWNET) == 0:
            return "namespace"
        uid, gid = os.getuid(), os.getgid()
        if libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            _map_ids(uid, gid)
            return "namespace"
    install_guard()
    return "guard"


def private_shm(megabytes: int | None) -> bool:
    """Mount an empty tmpfs of this worker's own on /dev/shm; False where that is not allowed.

    multiprocessing's locks and queues need /dev/shm, and the machine's one holds other
    programs' shared memory, so a confined worker may only write to a private one. Mounting
    needs CAP_SYS_ADMIN in the worker's user namespace: root has it, and so has a worker
    that entered a user namespace of its own (for the network, or here).
    """
    if not sys.platform.startswith("linux"):
        return False
    if libc().unshare(CLONE_NEWNS) != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc().unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            return False
        _map_ids(uid, gid)
    # Private first: as root, a mount under shared propagation would reach the host's /dev/shm.
    if libc().mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    size = f",size={megabytes}m" if megabytes else ""
    options = f"mode=1777{size}".encode()
    return libc().mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, options) == 0


def _map_ids(uid: int, gid: int) -> None:
    # Keep our own ids visible inside the new user namespace (best effort).
    for path, text in (("/proc/self/uid_map", f"{uid} {uid} 1"),
                       ("/proc/self/setgroups", "deny"),
                       ("/proc/self/gid_map", f"{gid} {gid} 1")):
        try:
            with open(path, "w") as out:
                out.write(text)
        except OSError:
            pass


def install_guard() -> None:
    """Refuse IP sockets from Python code (connect, sendto, DNS). Best effort only."""
    import socket

    def refuse(*_args, **_kwargs):
        raise PermissionError(errno.EACCES, "network access is disabled in this sandbox")

    def guarded(method):
        def check(self, *args, **kwargs):
            if self.family != socket.AF_UNIX:
                refuse()
            return method(self, *args, **kwargs)
        return check

    for name in ("connect", "connect_ex", "sendto", "sendmsg"):
        setattr(socket.socket, name, guarded(getattr(socket.socket, name)))
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
