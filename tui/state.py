"""The UI's own picture of one conversation, fed with engine events on the UI thread.

``RunState`` wraps the engine's ``TreeBuilder`` (the same code that rebuilds a tree from a
trace), so a live run and its replay show the same tree. A conversation's turns are runs on
one bus: each has its own root agent (``0``, ``1``, ...) and its own ``RunStarted`` and
``RunFinished``. On top it keeps what only a screen needs: the text streaming in for each
agent, which agent is active (to follow it), and a clock for elapsed times (a fixed clock
makes snapshots exact).
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
    """One conversation (one run or more) as the screen sees it, live or from a trace.

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
        self.turn_starts: dict[str, ev.RunStarted] = {}  # by the turn's root id, in order
        self.turn_ends: dict[str, ev.RunFinished] = {}

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
        """The first turn's root agent."""
        return self.builder.root

    @property
    def roots(self) -> list[AgentNode]:
        """Every turn's root agent, in order."""
        return self.builder.roots

    @property
    def last_root(self) -> AgentNode | None:
        return self.builder.roots[-1] if self.builder.roots else None

    @property
    def started(self) -> ev.RunStarted | None:
        """The last turn's start."""
        return next(reversed(self.turn_starts.values()), None)

    @property
    def finished(self) -> ev.RunFinished | None:
        """The last turn's end (``None`` while it runs, or when its trace was cut off)."""
        started = self.started
        if started is None:
            return self.builder.run_finished
        return self.turn_ends.get(started.agent_id)

    def node(self, agent_id: str | None) -> AgentNode | None:
        return self.builder.nodes.get(agent_id or "")

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else self.clock()

    def turn_seconds(self, root_id: str) -> float:
        """How long a turn ran (so far)."""
        end = self.turn_ends.get(root_id)
        if end is not None and end.seconds:
            return end.seconds
        start = self.turn_starts.get(root_id)
        node = self.node(root_id)
        begun = start.ts if start else (node.started if node else 0.0)
        return max((end.ts if end else self.now()) - begun, 0.0) if begun else 0.0

    def run_seconds(self) -> float:
        """The time of every turn together (not the idle time between them)."""
        turns = list(self.turn_starts) or [root.agent_id for root in self.roots]
        return sum(self.turn_seconds(root_id) for root_id in turns)

    def totals(self) -> Totals:
        """The whole conversation's."""
        return count_totals(list(self.builder.nodes.values()), self.run_seconds())

    def turn_totals(self, root_id: str) -> Totals:
        """One turn's: its root agent and every agent under it."""
        root = self.node(root_id)
        return count_totals(list(root.walk()) if root else [], self.turn_seconds(root_id))

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
        if isinstance(event, ev.RunStarted):
            self.turn_starts[event.agent_id] = event
        if isinstance(event, ev.RunFinished):
            self.turn_ends[event.agent_id] = event
            applied.run_finished = event
            self.active = event.agent_id
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
