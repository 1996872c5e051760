"""An agent's steps gathered from its events: what the replay and the export both read."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlm import events as ev
from rlm.tree import AgentNode


@dataclass
class Step:
    """One model call of an agent and what followed it, gathered from its events."""

    step: int
    kind: str = "step"
    started: float = 0.0
    reply: ev.ModelReplied | None = None
    folds: list[ev.HistoryFolded] = field(default_factory=list)  # before this step's call
    code: list[ev.CodeStarted] = field(default_factory=list)
    outputs: list[ev.CodeFinished] = field(default_factory=list)  # one per block that ran
    subcalls: list[tuple[int, ev.SubCall]] = field(default_factory=list)  # (code block, call)
    observation: ev.Observation | None = None
    ended: float | None = None


def agent_steps(node: AgentNode) -> list[Step]:
    """The agent's steps in order; a step's sub-calls are tied to the code block running."""
    steps: list[Step] = []
    for event in node.events:
        if isinstance(event, ev.StepStarted):
            if steps and steps[-1].ended is None:
                steps[-1].ended = event.ts
            steps.append(Step(event.step, event.kind, started=event.ts))
        elif not steps:
            continue
        elif isinstance(event, ev.ModelReplied):
            steps[-1].reply = event
        elif isinstance(event, ev.HistoryFolded):
            steps[-1].folds.append(event)
        elif isinstance(event, ev.CodeStarted):
            steps[-1].code.append(event)
        elif isinstance(event, ev.CodeFinished):
            steps[-1].outputs.append(event)
        elif isinstance(event, ev.SubCall):
            steps[-1].subcalls.append((len(steps[-1].code) - 1, event))
        elif isinstance(event, ev.Observation):
            steps[-1].observation = event
        elif isinstance(event, ev.AgentFinished) and steps[-1].ended is None:
            steps[-1].ended = event.ts
    return steps
