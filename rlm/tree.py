"""The tree of agents, rebuilt from events alone.

``TreeBuilder`` is an event subscriber. The engine feeds it live to make ``result.tree``;
the trace reader feeds it the lines of a trace file, so a trace alone rebuilds the same tree
(the TUI's replay and ``rlm replay`` use that).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rlm import events as ev
from rlm.usage import Usage

AGENT_STATUSES = ("running", "waiting", "answered", "limit", "failed", "cancelled")
FINISHED_STATUSES = ("answered", "limit", "failed", "cancelled")


@dataclass
class AgentNode:
    """One agent of the tree. ``events`` keeps its own events (transcript) in order."""

    agent_id: str
    parent_id: str | None
    depth: int
    task: str  # the start of it: ``task_chars`` says how long the whole task is
    model: str = ""
    status: str = "running"
    task_chars: int = 0
    steps: int = 0
    answer: str | None = None
    limit_hit: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    children: list[AgentNode] = field(default_factory=list)
    started: float = 0.0
    finished: float | None = None
    context_info: dict[str, Any] = field(default_factory=dict)
    events: list[ev.Event] = field(default_factory=list, repr=False)
    # A model call of this agent with nothing back yet, after a ModelWaiting: since when
    # (wall clock) and why ("slot" or "reply"); cleared by what the agent does next.
    waiting_since: float | None = None
    waiting_for: str = ""

    def waiting_words(self, now: float) -> str:
        """``waiting for the model: 12 s`` while a call waits, else ``""``."""
        if self.waiting_since is None or self.finished is not None:
            return ""
        what = "a slot of its server" if self.waiting_for == "slot" else "the model"
        return f"waiting for {what}: {max(0.0, now - self.waiting_since):.0f} s"

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    def walk(self) -> Iterator[AgentNode]:
        """This node and every descendant, depth first, children in start order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        """The flat form ``rlm run --json`` lists under ``agents``."""
        return {
            "agent_id": self.agent_id,
            "parent_id": self.parent_id,
            "depth": self.depth,
            "task": self.task,
            "task_chars": self.task_chars or len(self.task),
            "model": self.model,
            "status": self.status,
            "steps": self.steps,
            "answer": self.answer,
            "limit_hit": self.limit_hit,
            "error": self.error,
            "usage": self.usage.to_dict(),
        }


class TreeBuilder:
    """Subscriber that keeps ``agent_id -> AgentNode`` and the run's header facts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nodes: dict[str, AgentNode] = {}
        self.root: AgentNode | None = None  # the first root; a session has one per turn
        self.roots: list[AgentNode] = []
        self.run_started: ev.RunStarted | None = None
        self.run_finished: ev.RunFinished | None = None  # the last turn's, in a session
        self.run_seconds = 0.0  # every turn's, in a session

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            self._apply(event)

    def _apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.run_started = event
            return
        if isinstance(event, ev.RunFinished):
            self.run_finished = event
            self.run_seconds += event.seconds
            return
        if isinstance(event, ev.AgentStarted):
            self._start(event)
            return
        node = self.nodes.get(event.agent_id)
        if node is None:
            return
        if not isinstance(event, ev.TokenDelta):
            node.events.append(event)
        self._update(node, event)

    def _start(self, event: ev.AgentStarted) -> None:
        node = AgentNode(
            agent_id=event.agent_id, parent_id=event.parent_id, depth=event.depth,
            task=event.task, task_chars=event.task_chars or len(event.task), model=event.model,
            started=event.ts,
            context_info=dict(event.context_info),
        )
        node.events.append(event)
        self.nodes[node.agent_id] = node
        parent = self.nodes.get(event.parent_id or "")
        if parent is not None:
            parent.children.append(node)
        else:
            self.roots.append(node)
            self.root = self.root or node

    @staticmethod
    def _update(node: AgentNode, event: ev.Event) -> None:
        if isinstance(event, ev.ModelWaiting):
            node.waiting_since, node.waiting_for = event.since, event.reason
            return
        if not isinstance(event, ev.AgentStatus):
            node.waiting_since = None  # anything the agent does next ends the wait
        if isinstance(event, ev.StepStarted) and event.kind == "step":
            node.steps = max(node.steps, event.step)
        elif isinstance(event, ev.ModelReplied):
            node.usage.record(event.model, event.prompt_tokens, event.completion_tokens,
                              event.cost_usd)
        elif isinstance(event, ev.SubCall) and event.kind == "llm_query":
            node.usage.record(event.model, event.prompt_tokens, event.completion_tokens,
                              event.cost_usd)
        elif isinstance(event, ev.AgentStatus):
            if node.finished is None:  # a late status from a cancelled action changes nothing
                node.status = event.status
        elif isinstance(event, ev.AgentFinished):
            node.status, node.answer = event.status, event.answer
            node.limit_hit, node.error = event.limit_hit, event.error
            node.steps = max(node.steps, event.steps)
            node.finished = event.ts

    def run_usage(self) -> Usage:
        """Every call of the run: the sum of all agents' own usage."""
        total = Usage()
        for node in list(self.nodes.values()):
            total.merge(node.usage)
        return total

    def agents(self) -> list[AgentNode]:
        return [node for root in self.roots for node in root.walk()]
