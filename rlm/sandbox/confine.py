"""Which files sandbox code may reach: the rules the host sends to a worker with ``load``.

By default code reads its context, its own folder, the Python runtime and the few system
files programs need, and writes only its own folder (and /dev/null). Nothing under the
user's home, the working folder or the project is reachable unless ``SandboxConfig`` names
it in ``read_paths``/``write_paths``. The worker applies the rules with Landlock
(``landlock.py``) before any model code runs; processes the code starts inherit them.

The runtime is allowed by its exact folders (the prefixes, the standard library, the
site-packages folders), never their parents: the venv and the interpreter often live
under the home or the project. A folder that would contain the home or the working folder
is left out, and so are sys.path entries outside the runtime (an editable install of a
project, PYTHONPATH): name those in ``read_paths``.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path

from rlm.context import ContextSource
from rlm.errors import ConfigError

from . import landlock
from .api import SandboxConfig

# Read (and run) beneath these. Not /proc: with it readable, code could read the
# environment of the user's other processes (the host's holds the provider keys).
SYSTEM_READ = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/nix/store",  # NixOS: the interpreter's shared libraries live in other store paths
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/localtime", "/etc/timezone", "/etc/locale.alias", "/etc/locale.conf",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/os-release",
    "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf", "/etc/services",
    "/etc/protocols", "/etc/ssl", "/etc/pki", "/etc/ca-certificates",
    "/sys/devices/system/cpu",  # os.cpu_count() and the thread pools of numeric libraries
    "/dev/urandom", "/dev/random", "/dev/zero", "/dev/full",
)
SYSTEM_WRITE = ("/dev/null",)


def file_confinement(config: SandboxConfig | None = None) -> str:
    """What file confinement a sandbox with ``config`` would get here, without starting one.

    Returns "landlock (ABI N)", "off (confine_files=False)", or "none: <why>" (one syscall).
    """
    if config is not None and not config.confine_files:
        return landlock.OFF
    try:
        return f"landlock (ABI {landlock.abi()})"
    except landlock.LandlockUnavailable as exc:
        return f"none: {exc}"


def rules(config: SandboxConfig, folder: Path,
          source: ContextSource | None) -> dict[str, list[str]] | None:
    """The ``files`` of a ``load`` request: what the worker may read and write, or None
    when confinement is off.

    Raises:
        ConfigError: a path in ``read_paths`` or ``write_paths`` does not exist.
    """
    if not config.confine_files:
        return None
    read = [*base_paths(), *user_paths(config.read_paths, "read_paths")]
    if source is not None:
        read.append(str(source.path))
    write = [str(folder), *SYSTEM_WRITE, *user_paths(config.write_paths, "write_paths")]
    return {"read": read, "write": write}


def check_paths(config: SandboxConfig) -> None:
    """Raise ``ConfigError`` now for a path in ``read_paths``/``write_paths`` that does not
    exist (``rules`` would, when the worker loads)."""
    user_paths(config.read_paths, "read_paths")
    user_paths(config.write_paths, "write_paths")


def user_paths(paths: tuple[str, ...], setting: str) -> list[str]:
    """Absolute paths (``~`` expanded) that must exist: a typo must not pass unnoticed."""
    found = []
    for raw in paths:
        path = os.path.abspath(os.path.expanduser(raw))
        if not os.path.exists(path):
            raise ConfigError(f"SandboxConfig.{setting} names {raw!r}, which does not exist. "
                              f"Create it first, or remove it from {setting}.")
        found.append(path)
    return found


@functools.cache
def base_paths() -> tuple[str, ...]:
    """The runtime and system paths that exist here, real, none beneath another: each path
    costs the worker a few syscalls at every start, and the kernel follows links anyway."""
    paths = sorted({_real(p) for p in (*runtime_paths(), *SYSTEM_READ) if os.path.exists(p)})
    kept: list[str] = []
    for path in paths:  # sorted, so a folder comes before anything beneath it
        if not _beneath(path, kept):
            kept.append(path)
    return tuple(kept)


@functools.cache
def runtime_paths() -> tuple[str, ...]:
    """The interpreter's own folders, real paths, without one that holds home or cwd."""
    prefixes = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    candidates = [*prefixes, sysconfig.get_config_var("LIBDIR"), os.path.dirname(os.__file__),
                  sys.executable]
    roots = [_real(p) for p in prefixes]
    candidates += [p for p in sys.path if p and (_is_site_dir(p) or _beneath(_real(p), roots))]
    kept = (_real(p) for p in candidates if p)
    return tuple(dict.fromkeys(p for p in kept if _harmless(p)))


def _is_site_dir(path: str) -> bool:
    return os.path.basename(os.path.normpath(path)) in ("site-packages", "dist-packages")


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _beneath(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _harmless(path: str) -> bool:
    """False for "/" and any folder that holds the home or the working folder."""
    protected = [_real(p) for p in (os.path.expanduser("~"), os.getcwd())]
    return path != os.sep and not any(_beneath(p, [path]) for p in protected)

