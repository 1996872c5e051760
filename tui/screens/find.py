"""Finding an agent in a large tree by typing part of its task or its id (ctrl+f, or /).

A command palette of agents: Textual's ``CommandPalette`` with a provider of its own. An id
that starts with what was typed ranks first, then tasks that contain it (a word's start
before the middle of one); enter moves the tree's cursor there, unfolding its parents, and
shows its transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, cast

from rich.text import Text
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider

from rlm.tree import AgentNode
from tui.render import STATUS_MARKS, short

PLACEHOLDER = "Find an agent: part of its task, or its id…"
TASK_CELLS = 70  # of a task shown in a hit (the palette is at most the screen's width)


class FindsAgents(Protocol):
    """What the finder needs of the app."""

    def agents_to_find(self) -> list[AgentNode]: ...

    def go_to_agent(self, agent_id: str) -> None: ...


def score(agent: AgentNode, query: str) -> float:
    """How well ``query`` (lower case) names ``agent``: 0 for not at all, up to 1."""
    if not query:
        return 0.0
    if agent.agent_id == query:
        return 1.0
    if agent.agent_id.startswith(query):
        return 0.9
    task = " ".join(agent.task.split()).lower()
    at = task.find(query)
    if at < 0:
        return 0.0
    word_start = at == 0 or not task[at - 1].isalnum()
    return (0.7 if word_start else 0.5) - min(at, 200) / 1000


def hit_text(agent: AgentNode, query: str = "") -> Text:
    """``● 0.2.1  Scan lines 1-200 for…`` with what was typed underlined."""
    mark, colour = STATUS_MARKS.get(agent.status, ("?", "white"))
    text = Text.assemble((mark, f"bold {colour}"), " ", (agent.agent_id, "bold"), "  ")
    start = text.cell_len
    text.append(short(agent.task, TASK_CELLS))
    if query:
        for where, length in ((0, len(agent.agent_id)), (start, len(text.plain) - start)):
            at = text.plain.lower().find(query, where, where + length)
            if at >= 0:
                text.stylize("bold underline", at, at + len(query))
                break
    return text


def hit_help(agent: AgentNode) -> str:
    steps = "1 step" if agent.steps == 1 else f"{agent.steps} steps"
    return f"{agent.status} · depth {agent.depth} · {steps}"


class AgentFinder(Provider):
    """Agents of the conversation, ranked by ``score``."""

    @property
    def _app(self) -> FindsAgents:
        return cast(FindsAgents, self.app)

    def _go(self, agent_id: str) -> Callable[[], None]:
        return partial(self._app.go_to_agent, agent_id)

    async def discover(self) -> Hits:
        for agent in self._app.agents_to_find():
            yield DiscoveryHit(hit_text(agent), self._go(agent.agent_id),
                               text=agent.agent_id, help=hit_help(agent))

    async def search(self, query: str) -> Hits:
        query = " ".join(query.split()).lower()
        for agent in self._app.agents_to_find():
            found = score(agent, query)
            if found > 0:
                yield Hit(found, hit_text(agent, query), self._go(agent.agent_id),
                          text=f"{agent.agent_id} {agent.task}", help=hit_help(agent))


def agent_finder() -> CommandPalette:
    return CommandPalette(providers=[AgentFinder], placeholder=PLACEHOLDER)
