"""Everything that happens in a run is an event; the trace, the CLI and the TUI subscribe.

Events are small dataclasses. The ``EventBus`` stamps each with a run-wide ``seq`` and a
timestamp under a lock, so they can be emitted from any thread, then calls every subscriber
in the emitting thread. A subscriber that raises is dropped from nothing and breaks nothing:
its error is swallowed after the first report, because a broken display must not kill a run.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Event:
    """Fields every event has. ``seq`` and ``ts`` are set by the bus."""

    agent_id: str = ""
    parent_id: str | None = None
    depth: int = 0
    seq: int = 0
    ts: float = 0.0

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["type"] = self.type
        return data


@dataclass(kw_only=True)
class RunStarted(Event):
    run_id: str
    task: str  # at most TASK_PREVIEW_CHARS of it
    task_chars: int = 0
    model: str
    settings: dict[str, Any] = field(default_factory=dict)
    trace_path: str | None = None
    # What confines sandbox code: {"files": "landlock (ABI 7)" | "off ..." | "none: <why>",
    # "network": "off" | "allowed"}.
    sandbox: dict[str, str] = field(default_factory=dict)
    # Each model's window as the run uses it: {model: {running, trained, source, ...}}.
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)


TASK_PREVIEW_CHARS = 2000  # a task is kept once, in full, as the context or the prompt file


def task_preview(task: str) -> str:
    """What events carry of a task: its start (``task_chars`` says how long it is)."""
    return task if len(task) <= TASK_PREVIEW_CHARS else task[:TASK_PREVIEW_CHARS]


TEXT_CHARS = 10_000  # the most of one text an event keeps beyond a preview (see bounded)


def bounded(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` as an event keeps it: whole up to ``limit`` characters, else its first
    two thirds and last third of that, with a line saying how many characters were cut
    between them. A trace stays small whatever a run handles (a 30 MB prompt, a sub-call
    on a 1 MB slice)."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return (f"{text[:head]}\n[... {len(text) - limit:,} characters cut here in the trace ...]\n"
            f"{text[len(text) - tail:]}")


@dataclass(kw_only=True)
class AgentStarted(Event):
    task: str  # at most TASK_PREVIEW_CHARS of it: a task can be a 30 MB prompt
    model: str
    context_info: dict[str, Any] = field(default_factory=dict)
    task_chars: int = 0  # the whole task's length
    # The task message the agent's first call sent (after the system prompt), ``bounded``;
    # ``first_message_chars`` is its whole length. Empty in traces written before it.
    first_message: str = ""
    first_message_chars: int = 0


@dataclass(kw_only=True)
class StepStarted(Event):
    step: int
    kind: str = "step"  # "step", or "best_answer" for the extra call after a limit


@dataclass(kw_only=True)
class TokenDelta(Event):
    """Live-only: streamed text of the current reply. Never written to the trace."""

    step: int
    text: str
    kind: str = "text"  # "text" (the reply), or "thinking" (a thinking model's thinking)


@dataclass(kw_only=True)
class ModelReplied(Event):
    step: int
    text: str  # the reply alone: what the parser read
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    thinking: str = ""  # a thinking model's thinking, kept and shown, never parsed
    host: str = ""  # the host that served it, when the model is spread over several


@dataclass(kw_only=True)
class ModelWaiting(Event):
    """A model call of this agent has been waiting ``seconds`` (since ``since``, a wall
    clock time) with nothing back: for a slot of its server (``reason`` "slot") or for the
    reply's first piece ("reply"). Sent after 5 s, then 10, 20, 40 ...; what the agent does
    next ends the wait."""

    step: int
    model: str
    seconds: float
    since: float
    reason: str = "reply"


@dataclass(kw_only=True)
class HistoryFolded(Event):
    """The oldest turns of an agent's chat moved into its sandbox variable ``history`` so
    that the next call fits the model's window."""

    step: int  # the step about to be asked for
    steps: list[int] = field(default_factory=list)  # the steps moved
    tokens_before: int = 0
    tokens_after: int = 0
    window: int = 0
    variable: str = "history"

    def moved(self) -> str:
        """The steps moved, for a reader: ``steps 1-6``, ``step 3``, ``steps 1-3, 5``."""
        runs: list[list[int]] = []
        for step in sorted(set(self.steps)):
            if runs and step == runs[-1][-1] + 1:
                runs[-1].append(step)
            else:
                runs.append([step])
        spans = [f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs]
        word = "step" if len(self.steps) == 1 else "steps"
        return f"{word} {', '.join(spans) or '?'}"


@dataclass(kw_only=True)
class CodeStarted(Event):
    step: int
    code: str
    block: int = 0


@dataclass(kw_only=True)
class CodeFinished(Event):
    """One code block of a step has run: its own output (each stream ``bounded``) and
    times. The step's ``Observation`` is what the model read of all its blocks."""

    step: int
    block: int = 0
    stdout: str = ""
    stderr: str = ""  # what went to sys.stderr, then the traceback when the code failed
    error: bool = False
    timed_out: bool = False
    restarted: bool = False
    seconds: float = 0.0  # the sandbox's own running time (paused while on sub-calls)
    wall_seconds: float = 0.0  # from start to end, waits on sub-calls included


@dataclass(kw_only=True)
class Observation(Event):
    step: int
    text: str
    cut_chars: int = 0
    error: bool = False
    timed_out: bool = False
    restarted: bool = False
    seconds: float = 0.0


@dataclass(kw_only=True)
class SubCall(Event):
    """A call from sandbox code: ``llm_query`` (plain) or ``rlm_query`` (a child agent)."""

    kind: str  # "llm_query" | "rlm_query" | "tool" (then ``model`` is the tool's name)
    prompt: str  # ``bounded`` (the task, for rlm_query); ``prompt_chars``: its whole length
    answer: str = ""  # ``bounded``; ``answer_chars``: its whole length
    model: str = ""
    child_id: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    seconds: float = 0.0
    prompt_chars: int = 0
    answer_chars: int = 0
    # The order the agent's code made its calls in (0, 1, 2 ... per agent): calls of one
    # batch finish in any order, and their events come in that order.
    index: int = -1
    batch: int | None = None  # the position in its batch (``*_batched``), else None
    host: str = ""  # the host that served an llm_query, when the model is spread


@dataclass(kw_only=True)
class AgentStatus(Event):
    """An agent's status changed without finishing (``running`` <-> ``waiting``)."""

    status: str


@dataclass(kw_only=True)
class AgentFinished(Event):
    status: str  # answered | limit | failed | cancelled
    answer: str | None = None
    limit_hit: str | None = None
    error: str | None = None
    steps: int = 0
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class RunFinished(Event):
    status: str
    answer: str | None = None
    limit_hit: str | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    agents: int = 0
    trace_path: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        RunStarted, AgentStarted, StepStarted, TokenDelta, ModelWaiting, ModelReplied,
        HistoryFolded,
        CodeStarted, CodeFinished, Observation, SubCall, AgentStatus, AgentFinished, RunFinished,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event from its trace line; ``None`` for an unknown type."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


Subscriber = Callable[[Event], None]


class EventBus:
    """Stamps events with ``seq`` and ``ts`` and hands them to every subscriber."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._subscribers: list[Subscriber] = []
        self._clock = clock
        self.errors: list[BaseException] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)
        return lambda: self.unsubscribe(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def emit(self, event: Event) -> Event:
        # One lock around stamping and delivery keeps every subscriber's view in seq order.
        with self._lock:
            event.seq = next(self._seq)
            event.ts = self._clock()
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception as exc:  # a broken display must not stop the run
                    self.errors.append(exc)
        return event
