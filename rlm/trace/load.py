"""Reading a trace back: its header and events, and the tree they rebuild.

A torn last line (a crashed run) and unknown event types are skipped, so a cut-off trace
reads as far as it goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlm import events as ev
from rlm.errors import ConfigError
from rlm.tree import TreeBuilder


def read_trace(path: str | Path) -> tuple[dict[str, Any], list[ev.Event]]:
    """The header and the events of a trace; a torn or unknown line is skipped."""
    header: dict[str, Any] = {}
    events: list[ev.Event] = []
    for data in _lines(Path(path).expanduser()):
        if data.get("type") == "header":
            header = data
            continue
        event = ev.event_from_dict(data)
        if event is not None:
            events.append(event)
    return header, events


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("r", encoding="utf-8", errors="replace") as src:
        for raw in src:
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn last line of a crashed run
            if isinstance(data, dict):
                yield data


def load_tree(path: str | Path) -> tuple[dict[str, Any], TreeBuilder]:
    """Rebuild the whole tree of a run from its trace alone."""
    header, events = read_trace(path)
    builder = TreeBuilder()
    for event in events:
        builder(event)
    return header, builder


def open_trace(path: str | Path) -> tuple[dict[str, Any], TreeBuilder]:
    """``load_tree`` with a message that says what to do when the file is not a trace."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Trace {str(path)!r} does not exist. Traces of `rlm run` are in "
                          f"~/.local/share/rlm/traces/ (the path is printed after each run).")
    header, builder = load_tree(path)
    if builder.root is None:
        raise ConfigError(f"{path} holds no run (not an rlm trace, or it was cut off before "
                          f"the first agent started).")
    return header, builder
