"""From the engine's thread to the UI: events become small messages, never widget calls.

The engine delivers events synchronously in its own thread. ``EventBridge`` is the
subscriber: it appends each event to the *open* ``EngineEvents`` message, posting a new one
only when the UI has already taken the previous batch. So a fast run never floods the
message queue (under load a batch holds everything since the last frame), order is kept, and
token deltas of one agent's reply are merged into a single delta per batch (its thinking and
its text apart: thinking must never be shown as the reply).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message

from rlm import events as ev


@dataclass(eq=False)
class EngineEvents(Message):
    """A batch of engine events of run ``run_no``, in order. Read it with ``bridge.take``."""

    run_no: int
    events: list[ev.Event] = field(default_factory=list)


@dataclass(eq=False)
class RunEnded(Message):
    """The worker is done: the run's result, or the error that stopped it before the start.

    ``error`` is the one-paragraph message of an ``RLMError`` (no model, model not pulled,
    bad context, ...) or a short description of anything unexpected; never a traceback.
    """

    run_no: int
    result: object | None = None  # rlm.result.RLMResult
    error: str | None = None
    error_kind: str | None = None
    trace_path: str | None = None


class EventBridge:
    """Engine subscriber that posts coalesced ``EngineEvents`` messages.

    Args:
        post: thread-safe poster (``App.post_message``).
        run_no: stamped on every message so the UI can drop a finished run's stragglers.
    """

    def __init__(self, post: Callable[[Message], object], run_no: int):
        self._post = post
        self.run_no = run_no
        self._lock = threading.Lock()
        self._open: EngineEvents | None = None
        self._tokens: dict[tuple[str, int, str], ev.TokenDelta] = {}
        self.posted = 0
        self.received = 0

    def __call__(self, event: ev.Event) -> None:
        """Called in the engine's thread for every event; must stay cheap."""
        with self._lock:
            self.received += 1
            batch, fresh = self._open, self._open is None
            if batch is None:
                batch = self._open = EngineEvents(self.run_no)
                self._tokens = {}
            self._add(batch, event)
        if fresh:
            self.posted += 1
            self._post(batch)

    def _add(self, batch: EngineEvents, event: ev.Event) -> None:
        if not isinstance(event, ev.TokenDelta):
            batch.events.append(event)
            return
        # Between two deltas of one reply the same agent emits nothing else, and a step's
        # thinking comes before its text, so merging keeps every agent's own order.
        key = (event.agent_id, event.step, event.kind)
        merged = self._tokens.get(key)
        if merged is None:
            merged = self._tokens[key] = dataclasses.replace(event)
            batch.events.append(merged)
        else:
            merged.text += event.text

    def take(self, batch: EngineEvents) -> list[ev.Event]:
        """Close ``batch`` (later events open a new one) and return its events (UI thread)."""
        with self._lock:
            if self._open is batch:
                self._open = None
                self._tokens = {}
            return batch.events
