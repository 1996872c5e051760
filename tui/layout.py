"""How the screen fits the terminal, from 80x24 up.

Textual's breakpoints put a width class (``-narrow``, ``-wide``) and a height class
(``-short``, ``-tall``) on every screen, and ``rlm.tcss`` lays out by them: below
``WIDE`` columns the tree and the transcript share the space one at a time (``f3``, or
enter on an agent and escape back, switch them); below ``TALL`` rows the answer panel folds
to one line (``f2`` unfolds it). Dialogs fit by the same classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import App
from textual.screen import Screen
from textual.widgets import Tree

if TYPE_CHECKING:
    from textual.containers import Horizontal

    from tui.widgets.agent_tree import AgentTree
    from tui.widgets.result_panel import ResultPanel
    from tui.widgets.transcript import TranscriptView

    _App = App[None]
else:
    _App = object

WIDE = 100  # columns from which the tree and the transcript stand side by side
TALL = 32  # rows from which the answer panel shows unfolded

HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]


def size_classes(width: int, height: int) -> tuple[str, str]:
    """The classes the breakpoints give a screen of this size, as Textual picks them (the
    largest breakpoint not above the size). The main screen gets them before its widgets
    are first styled: given only at the first resize, they would style every widget twice.
    """
    def pick(size: int, breakpoints: list[tuple[int, str]]) -> str:
        return max((b for b in breakpoints if size >= b[0]), default=breakpoints[0])[1]
    return pick(width, HORIZONTAL_BREAKPOINTS), pick(height, VERTICAL_BREAKPOINTS)


class Fitting(_App):
    """The app's side of fitting the terminal (mixed into ``RLMApp``)."""

    if TYPE_CHECKING:
        main_panes: Horizontal
        agent_tree: AgentTree
        transcript: TranscriptView
        result_panel: ResultPanel

    def get_default_screen(self) -> Screen:
        # Styled once for the first frame: the size classes before the first styling.
        screen = MainScreen(id="_default")
        screen.add_class(*size_classes(*self.size), update=False)
        return screen

    @property
    def narrow(self) -> bool:
        return self.size.width < WIDE

    def on_resize(self, event: events.Resize) -> None:
        self.result_panel.fit(event.size.height < TALL)
        self.refresh_bindings()  # f3 is offered only when the panes take turns

    def action_switch_pane(self) -> None:
        """Show the transcript instead of the tree, or the tree again (narrow screens)."""
        if self.main_panes.has_class("-transcript"):
            self.action_show_tree()
        else:
            self.show_transcript_pane()

    def show_transcript_pane(self) -> None:
        self.main_panes.add_class("-transcript")
        if self.narrow:
            self.transcript.focus()

    def action_show_tree(self) -> None:
        """Back to the tree from the transcript (escape there, on a narrow screen)."""
        self.main_panes.remove_class("-transcript")
        if self.narrow:
            self.agent_tree.focus()

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        # enter on an agent: on a narrow screen, read its transcript
        if self.narrow and event.node.data is not None:
            self.show_transcript_pane()


class MainScreen(Screen[None]):
    """The app's screen under the dialogs. The question box takes the focus (on_mount);
    Textual's default would first focus the first focusable widget, the tree, and the
    first frame would restyle both panes twice."""

    AUTO_FOCUS = ""
