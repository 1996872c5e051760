"""The results file: one JSON line per (task, arm), written as each finishes.

Each line is flushed and synced before the next task starts, so Ctrl-C, a crash or a lost
Ray worker loses nothing finished; a torn last line (a write cut short) is skipped on
reading and sealed off before the next append. A rerun with the same file skips every key
already in it (``done``), so an interrupted eval goes on where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultsFile:
    """A JSONL file of result lines.

    Args:
        path: the file (created with its folder on the first append).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def lines(self) -> list[dict[str, Any]]:
        """Every whole result line, in file order (torn or foreign lines skipped)."""
        if not self.path.exists():
            return []
        found = []
        with self.path.open(encoding="utf-8") as src:
            for raw in src:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue  # a torn last line, or a line that is not ours
                if isinstance(line, dict) and "key" in line and "arm" in line:
                    found.append(line)
        return found

    def done(self, *, redo_failed: bool = False) -> set[str]:
        """The keys already in the file (without the failed ones with ``redo_failed``)."""
        return {line["key"] for line in self.lines()
                if not (redo_failed and line.get("status") == "failed")}

    def append(self, line: dict[str, Any]) -> None:
        """Write one line and make sure it is on disk before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as out:
            if out.tell() > 0:
                out.seek(-1, os.SEEK_END)
                if out.read(1) != b"\n":  # a torn line before: keep it apart from ours
                    out.write(b"\n")
            out.write(json.dumps(line, ensure_ascii=False, default=str).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())

    def latest(self) -> list[dict[str, Any]]:
        """One line per key, the last written (a redone failure replaces the old line)."""
        by_key = {line["key"]: line for line in self.lines()}
        return list(by_key.values())


def trace_dir_for(path: str | Path) -> Path:
    """Where the traces of a results file go: ``results.jsonl`` -> ``results.traces/``."""
    path = Path(path).expanduser()
    return path.with_name(path.stem + ".traces")
