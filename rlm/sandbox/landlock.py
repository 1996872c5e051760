"""Landlock, the kernel's unprivileged file access control, through ctypes.

Worker side, stdlib only. ``restrict(read, write)`` confines the calling thread and every
process it starts from then on: files may be opened for reading (and run) only beneath the
``read`` paths, and created, written, renamed or removed only beneath the ``write`` paths.
Once applied it cannot be undone; a process can only add more restrictions.

Followed: the kernel's guide, Documentation/userspace-api/landlock.rst ("Defining and
enforcing a security policy", the best-effort ``switch (abi)`` that drops the rights an
older ABI does not know, "Truncating files", "Inheritance", "Ptrace restrictions") and the
uapi header include/uapi/linux/landlock.h for the constants and struct layouts; the same
shape as samples/landlock/sandboxer.c and landlock-lsm/rust-landlock's ABI table.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

from rlm.sandbox import netguard

# The unified syscall table (x86-64, arm64, ...).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3 and 5
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
# Rights the kernel accepts on a rule for a file (not a directory).
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
# The file system rights each ABI version knows: a right the running kernel does not know
# cannot be handled (create_ruleset fails with EINVAL), so it is left out, best effort.
ABI_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
ALL_RIGHTS = (1 << 16) - 1  # ABI 5 and later
OFF = "off (confine_files=False)"


def confine(spec: dict | None) -> str:
    """Confine this worker as ``spec`` (``{"read": [...], "write": [...]}``) says, and say
    what ran: "landlock (ABI 7)", ``OFF`` when ``spec`` is None, or "none: <why>"."""
    if spec is None:
        return OFF
    try:
        return f"landlock (ABI {restrict(spec['read'], spec['write'])})"
    except LandlockUnavailable as exc:
        return f"none: {exc}"


class LandlockUnavailable(Exception):
    """This system cannot confine with Landlock; ``str()`` says why, for the report."""


class _RulesetAttr(ctypes.Structure):
    # ``scoped`` exists from ABI 6; older kernels accept the larger struct when it is zero.
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # packed in the uapi header: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _c() -> ctypes.CDLL:
    """The C library the worker loaded once (``netguard.libc``: a forked worker has it from
    its template), with ``syscall``'s return type set."""
    libc = netguard.libc()
    libc.syscall.restype = ctypes.c_long
    return libc


def _syscall(number: int, *args) -> int:
    result = _c().syscall(ctypes.c_long(number), *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def abi() -> int:
    """The Landlock ABI version the running kernel offers.

    Raises:
        LandlockUnavailable: with the reason (old kernel, Landlock not enabled, a filter).
    """
    if not sys.platform.startswith("linux"):
        raise LandlockUnavailable("Landlock is Linux only")
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint(CREATE_RULESET_VERSION))
    except AttributeError:
        raise LandlockUnavailable("no C library to call the kernel with") from None
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            why = "this kernel has no Landlock (it needs Linux 5.13 or later)"
        elif exc.errno == errno.EOPNOTSUPP:
            why = "Landlock is built in but not enabled (add landlock to the lsm= boot option)"
        else:
            why = f"the Landlock check failed: {exc.strerror}"
        raise LandlockUnavailable(why) from None


def restrict(read: list[str], write: list[str]) -> int:
    """Confine this thread and its future children to ``read`` and ``write``; returns the ABI.

    A path that does not exist, or that the kernel will not take a rule for, stays out of
    reach: the rules only ever grant. The caller must be the process's only thread: the
    kernel confines the calling thread alone (threads started later inherit it).

    Raises:
        LandlockUnavailable: Landlock cannot be used here, or another thread runs already.
    """
    version = abi()
    _check_one_thread()
    handled = ABI_RIGHTS.get(version, ALL_RIGHTS)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0
    attr = _RulesetAttr(handled, 0, scoped)
    try:
        ruleset = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr),
                           ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint(0))
    except OSError as exc:
        raise LandlockUnavailable(f"no Landlock ruleset could be made: {exc.strerror}") from None
    try:
        for path in read:
            _allow(ruleset, path, READ & handled)
        for path in write:
            _allow(ruleset, path, handled)
        _enforce(ruleset)
    finally:
        os.close(ruleset)
    return version


def _check_one_thread() -> None:
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        return  # no /proc to ask: the worker starts no thread of its own before this
    if threads > 1:
        raise LandlockUnavailable(f"{threads} threads already run, and Landlock would "
                                  f"confine only the calling one")


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a default path this system does not have (e.g. /lib32)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                 ctypes.byref(rule), ctypes.c_uint(0))
    except OSError:
        pass  # fail closed: without its rule the path is out of reach, nothing else opens
    finally:
        os.close(fd)


def _enforce(ruleset: int) -> None:
    # no_new_privs first, as the kernel requires of an unprivileged caller: a set-user-ID
    # program started by the code can then never run with more rights than the code.
    if _c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise LandlockUnavailable("prctl(PR_SET_NO_NEW_PRIVS) was refused")
    try:
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint(0))
    except OSError as exc:
        raise LandlockUnavailable(f"landlock_restrict_self was refused: {exc.strerror}") from None
