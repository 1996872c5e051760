"""The UI's own picture of one run, fed with engine events on the UI thread.

``RunState`` wraps the engine's ``TreeBuilder`` (the same code that rebuilds a tree from a
trace), so a live run and its replay show the same tree. On top it keeps what only a screen
needs: the text streaming in for each agent, which agent is active (to follow it), and a
clock for elapsed times (a fixed clock makes snapshots exact).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rlm import events as ev
from rlm.tree import AgentNode, TreeBuilder
from tui.render import Totals, count_totals

Clock = Callable[[], float]

# Events that mean "this agent is the one working right now".
_ACTIVITY = (ev.AgentStarted, ev.StepStarted, ev.TokenDelta, ev.ModelReplied, ev.CodeStarted,
             ev.Observation)


@dataclass
class Stream:
    """The reply an agent is writing now (token deltas, until ``ModelReplied``): a thinking
    model's thinking apart from the reply's text, which is all the parser will read."""

    step: int
    text: str = ""
    thinking: str = ""

    @property
    def empty(self) -> bool:
        return not (self.text or self.thinking)


@dataclass
class Applied:
    """What one batch of events changed, so the screen repaints only that."""

    new_agents: list[AgentNode] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    streamed: set[str] = field(default_factory=set)
    finished: list[AgentNode] = field(default_factory=list)
    run_finished: ev.RunFinished | None = None


class RunState:
    """One run as the screen sees it (live, or replayed from a trace).

    Args:
        clock: wall-clock seconds (``time.time``); engine timestamps use the same scale.
        header: the trace header of a replay.
    """

    def __init__(self, clock: Clock = time.time, header: dict[str, Any] | None = None):
        self.clock = clock
        self.builder = TreeBuilder()
        self.header = header or {}
        self.streams: dict[str, Stream] = {}
        self.active: str | None = None
        self._recent: dict[str, int] = {}  # agent -> seq of its latest activity
        self.frozen_at: float | None = None  # a replay's time stops at its last event

    @classmethod
    def replay(cls, header: dict[str, Any], events: Iterable[ev.Event],
               clock: Clock = time.time) -> RunState:
        """A past run from its trace's events, through the same code as a live run."""
        state = cls(clock, header=header)
        events = list(events)
        state.apply(events)
        state.frozen_at = max((e.ts for e in events), default=0.0)
        return state

    # --- reading ------------------------------------------------------------------------
    @property
    def root(self) -> AgentNode | None:
        return self.builder.root

    @property
    def finished(self) -> ev.RunFinished | None:
        return self.builder.run_finished

    @property
    def started(self) -> ev.RunStarted | None:
        return self.builder.run_started

    def node(self, agent_id: str | None) -> AgentNode | None:
        return self.builder.nodes.get(agent_id or "")

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else self.clock()

    def run_seconds(self) -> float:
        if self.finished is not None and self.finished.seconds:
            return self.finished.seconds
        start = self.started.ts if self.started else (self.root.started if self.root else 0)
        end = self.finished.ts if self.finished else self.now()
        return max(end - start, 0.0) if start else 0.0

    def totals(self) -> Totals:
        return count_totals(list(self.builder.nodes.values()), self.run_seconds())

    def stream_text(self, agent_id: str) -> Stream | None:
        return self.streams.get(agent_id)

    # --- writing ------------------------------------------------------------------------
    def apply(self, events: Iterable[ev.Event]) -> Applied:
        """Feed events in order; say which agents changed."""
        applied = Applied()
        for event in events:
            self._apply_one(event, applied)
        return applied

    def _apply_one(self, event: ev.Event, applied: Applied) -> None:
        if isinstance(event, ev.TokenDelta):
            self._stream(event)
            applied.streamed.add(event.agent_id)
        else:
            self.builder(event)
        node = self.node(event.agent_id)
        if isinstance(event, ev.AgentStarted) and node is not None:
            applied.new_agents.append(node)
        if isinstance(event, (ev.ModelReplied, ev.AgentFinished)):
            self.streams.pop(event.agent_id, None)
        if isinstance(event, ev.AgentFinished) and node is not None:
            applied.finished.append(node)
            self._recent.pop(event.agent_id, None)
            self.active = self._next_active(event)
        elif isinstance(event, _ACTIVITY):
            self.active = event.agent_id
            self._recent[event.agent_id] = event.seq
        if isinstance(event, ev.RunFinished):
            applied.run_finished = event
            self.active = self.root.agent_id if self.root else None
        elif node is not None:
            applied.touched.add(event.agent_id)

    def _next_active(self, finished: ev.AgentFinished) -> str:
        """After an agent ends: the agent that worked last and still runs, else its parent."""
        running = [(seq, agent_id) for agent_id, seq in self._recent.items()
                   if (node := self.node(agent_id)) is not None and node.status == "running"]
        if running:
            return max(running)[1]
        return finished.parent_id or finished.agent_id

    def _stream(self, event: ev.TokenDelta) -> None:
        stream = self.streams.get(event.agent_id)
        if stream is None or stream.step != event.step:
            stream = self.streams[event.agent_id] = Stream(event.step)
        if event.kind == "thinking":
            stream.thinking += event.text
        else:
            stream.text += event.text
