"""Writing the trace: JSON Lines, one event per line, flushed as it happens.

Line 1 is a header (``type: "header"``, format ``version``, settings with secrets removed).
Every secret *value* found in the environment (variables named like ``*KEY*``, ``*TOKEN*``,
...) is replaced before a line is written, wherever it appears. ``TokenDelta`` is live-only
and never written. A crashed run leaves a valid prefix; the reader skips a torn last line.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rlm import events as ev
from rlm.config import is_secret_name

FORMAT_VERSION = 1
REDACTED = "[redacted]"


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of variables whose names say they are secrets, in ``env`` and the process."""
    items = list(os.environ.items()) + list((env or {}).items())
    values = {v for k, v in items if is_secret_name(k) and len(v) >= 6}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class TraceWriter:
    """Event subscriber that appends each event to a JSONL file and flushes it."""

    def __init__(self, path: str | Path, header: dict[str, Any],
                 env: Mapping[str, str] | None = None):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._secrets = secret_values(env)
        self._lock = threading.Lock()
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._write({"type": "header", "version": FORMAT_VERSION, "created": time.time(),
                     **header})

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.TokenDelta):
            return
        self._write(event.to_dict())

    def _write(self, data: dict[str, Any]) -> None:
        line = scrub(json.dumps(data, ensure_ascii=False, default=str), self._secrets)
        with self._lock:
            if self._file is None:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
