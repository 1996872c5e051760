"""The selected agent's transcript: one box per entry, the streaming reply at the end.

A reply with thinking gets two boxes: the thinking (dimmed, ``ThinkingBox``) and then the
reply itself, so the two are never confused. ``t`` shows all of every long thinking, or only
their first lines again; new ones follow that choice.

``show(agent)`` rebuilds it for another agent; ``update(agent, stream)`` appends only the
events not yet shown and repaints the streaming box, so a live agent costs one small mount
per event. The view stays at the bottom unless the user has scrolled up to read. Its border
holds the agent's whole tree row (status, depth, every figure), which a narrow tree cuts.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.rows import agent_header

if TYPE_CHECKING:
    from rlm import events as ev
    from rlm.tree import AgentNode
    from tui.state import Stream

# The entries (tui.entries, the engine's reply parser and its events) are imported with the
# first one shown: the first frame shows none and does not wait for them.

EMPTY = "No agent selected: what the selected agent thinks, runs and sees appears here."


class TranscriptView(VerticalScroll):
    """Entries of one agent; ``agent_id`` says whose."""

    BINDINGS = [Binding("t", "thinking", "Thinking",
                        tooltip="Show all of each step's thinking, or only its first lines"),
                Binding("escape", "app.show_tree", "Agents", show=False,
                        tooltip="Back to the tree (a narrow screen shows one pane at a time)")]

    def __init__(self, now: Callable[[], float] = lambda: 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self._now = now
        self.agent: AgentNode | None = None
        self.thinking_expanded = False
        self.agent_id: str | None = None
        self._shown = 0
        self._stream: Static | None = None
        self._at_bottom = True

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, classes="entry empty")  # in the first frame: no second mount

    def on_mount(self) -> None:
        self.refresh_header()

    def show(self, agent: AgentNode | None, stream: Stream | None = None) -> None:
        """Show ``agent``'s whole transcript (or the empty note)."""
        self.agent_id = agent.agent_id if agent else None
        self.agent = agent
        self._shown = 0
        self._stream = None
        self.remove_children()
        self.refresh_header()
        if agent is None:
            self.mount(Static(EMPTY, classes="entry empty"))
            return
        self.scroll_to(y=0, animate=False, immediate=True)
        self._at_bottom = True
        self.update(agent, stream)

    def update(self, agent: AgentNode, stream: Stream | None) -> None:
        """Append entries for ``agent``'s new events and repaint its streaming reply."""
        if agent.agent_id != self.agent_id:
            return
        self.refresh_header()
        # Stay at the bottom while the user has not scrolled up to read.
        follow = self._at_bottom or self.scroll_y >= self.max_scroll_y - 1
        self._at_bottom = False
        events = agent.events[self._shown:]
        self._shown = len(agent.events)
        boxes = [box for event in events for box in self._boxes(event)]
        if boxes:
            if self._stream is not None:
                self.mount_all(boxes, before=self._stream)
            else:
                self.mount_all(boxes)
        self._update_stream(stream)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    def refresh_header(self) -> None:
        """The shown agent's whole row on the border (its time counts while it runs)."""
        if self.agent is None:
            self.border_title, self.border_subtitle = "Transcript", ""
        else:
            self.border_title, self.border_subtitle = agent_header(self.agent, self._now())

    def action_thinking(self) -> None:
        """Show all of every long thinking, or only their first lines."""
        from tui.widgets.thinking import ThinkingBox

        self.thinking_expanded = not self.thinking_expanded
        for box in self.query(ThinkingBox):
            box.expanded = self.thinking_expanded

    def _boxes(self, event: ev.Event) -> list[Static]:
        from rlm import events as ev
        from tui.entries import render_event
        from tui.widgets.thinking import ThinkingBox

        boxes: list[Static] = []
        if isinstance(event, ev.ModelReplied) and event.thinking.strip():
            boxes.append(ThinkingBox(event.thinking, expanded=self.thinking_expanded))
        entry = render_event(event)
        if entry is not None:
            renderable, kind = entry
            boxes.append(Static(renderable, classes=f"entry {kind}"))
        return boxes

    def _update_stream(self, stream: Stream | None) -> None:
        if stream is None or stream.empty:
            if self._stream is not None:
                self._stream.remove()
                self._stream = None
            return
        if self._stream is None:
            self._stream = Static(classes="entry stream")
            self.mount(self._stream)
        from tui.entries import stream_entry

        self._stream.update(stream_entry(stream.step, stream.text, stream.thinking))

    def entry_texts(self) -> list[str]:
        """The plain text of every entry shown (for tests and copy)."""
        texts = []
        for child in self.query(Static):
            texts.append(_plain(child))
        return texts


def _plain(widget: Static) -> str:
    from rich.console import Console

    console = Console(width=200, no_color=True, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text().rstrip()
