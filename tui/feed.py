"""Engine events onto the screen: batches in, slices shown, the active agent followed.

``Feed`` is mixed into ``RLMApp``. A batch (``tui.bridge.EngineEvents``) goes into a
backlog that is shown ``SLICE`` events at a time, so a flood never freezes the keys; the
tree and the transcript repaint only what a slice changed, and the view follows the
working agent at most every ``FOLLOW_EVERY`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import App
from textual.widgets import Tree

from tui.notices import agent_notice

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widgets import Static

    from rlm import events as ev
    from tui.bridge import EngineEvents, EventBridge
    from tui.state import Applied, RunState
    from tui.widgets.agent_tree import AgentTree
    from tui.widgets.transcript import TranscriptView

    _App = App[None]
else:
    _App = object

SLICE = 400  # events shown per turn of the UI loop (a flood must not freeze the keys)
FOLLOW_EVERY = 0.25  # seconds between two automatic switches of the shown agent


class Feed(_App):
    """Showing the engine's events as they come (mixed into ``RLMApp``)."""

    if TYPE_CHECKING:
        run_no: int
        bridge: EventBridge | None
        state: RunState
        agent_tree: AgentTree
        agents_note: Static
        transcript: TranscriptView
        _backlog: list[ev.Event]
        _followed_at: float
        _follow_timer: Timer | None

        def _show_totals(self) -> None: ...

    async def on_engine_events(self, message: EngineEvents) -> None:
        if self.bridge is None or message.run_no != self.run_no:
            return  # a finished run's stragglers
        draining = bool(self._backlog)
        self._backlog.extend(self.bridge.take(message))
        if not draining:
            await self._drain()

    async def _drain(self) -> None:
        """Show the backlog a slice at a time, letting keys and frames in between."""
        self._show_slice()
        if self._backlog:
            await asyncio.sleep(0)  # the loop takes in keys before the next slice is queued
            self.call_later(self._drain)

    def _show_slice(self) -> None:
        chunk = self._backlog[:SLICE]
        del self._backlog[:SLICE]
        if chunk:
            self.show_events(chunk)

    def show_events(self, events: Sequence[ev.Event]) -> Applied:
        """Apply engine events to the state and repaint what they changed."""
        applied = self.state.apply(events)
        tree = self.agent_tree
        for agent in applied.new_agents:
            tree.add_agent(agent)
        self.agents_note.display = not tree.nodes
        for agent_id in applied.touched:
            tree.refresh_agent(agent_id)
        shown_id = self.transcript.agent_id
        if shown_id in applied.touched or shown_id in applied.streamed:
            shown_agent = self.state.node(shown_id)
            if shown_agent is not None:
                self.transcript.update(shown_agent, self.state.stream_text(shown_id))
        for agent in applied.finished:
            if notice := agent_notice(agent):
                self.notify(**notice)
        self._follow()
        if tree.cursor_node is None and tree.nodes:
            tree.show_agent(next(iter(tree.nodes)))
        self._show_totals()
        return applied

    def _follow(self) -> None:
        """Show the active agent, at most every FOLLOW_EVERY s (a switch rebuilds the
        transcript; under load the active agent changes with nearly every batch)."""
        wait = self._followed_at + FOLLOW_EVERY - time.monotonic()
        if wait <= 0:
            self._followed_at = time.monotonic()
            self.agent_tree.follow(self.state.active)
        elif self._follow_timer is None:
            self._follow_timer = self.set_timer(wait, self._follow_later)

    def _follow_later(self) -> None:
        self._follow_timer = None
        self._follow()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        # (A mixin's @on handlers are not collected: this one goes by its name.)
        agent = event.node.data  # an AgentNode; None on the tree's hidden root
        if event.control is not self.agent_tree or agent is None:
            return
        if agent.agent_id != self.transcript.agent_id:
            self.transcript.show(agent, self.state.stream_text(agent.agent_id))
