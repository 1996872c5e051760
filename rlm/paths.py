"""Where rlm keeps a user's files: ``$XDG_DATA_HOME/rlm`` or ``~/.local/share/rlm``.

Nothing is created on import: folders are made when a file is about to be written there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data folder (not created here)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".local" / "share"
    return root / "rlm"


def traces_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``rlm run`` writes its traces by default (not created here)."""
    return data_dir(env) / "traces"


def new_trace_path(env: Mapping[str, str] | None = None, *, now: float | None = None,
                   prefix: str = "run") -> Path:
    """A fresh trace file name, sortable by time: ``traces/run-20250101-120000-ab12.jsonl``."""
    import secrets  # here: importing it (hashlib, OpenSSL) costs rlm-tui's first frame ~1.5 ms

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return traces_dir(env) / f"{prefix}-{stamp}-{secrets.token_hex(2)}.jsonl"


def latest_trace(env: Mapping[str, str] | None = None) -> Path | None:
    """The most recent trace in the default folder, or ``None``."""
    folder = traces_dir(env)
    if not folder.is_dir():
        return None
    traces = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return traces[-1] if traces else None
