"""Opening a past run or conversation from its trace: every turn, no model needed.

``Replay`` is mixed into ``RLMApp``. The trace's events go through the same ``RunState`` as
a live run's, so the replay shows the same tree, labels and transcripts; a trace cut off by
a crash shows what happened up to the cut and says which agents had not finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.widgets import Input, Static

    from tui.state import RunState
    from tui.widgets.agent_tree import AgentTree
    from tui.widgets.result_panel import ResultPanel

    _App = App[None]
else:
    _App = object


class Replay(_App):
    """The app's replay (mixed into ``RLMApp``)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]
        state: RunState
        agent_tree: AgentTree
        agents_note: Static
        result_panel: ResultPanel
        question_box: Input

        def _show_start_error(self, title: str, message: str, hint: str = "") -> None: ...
        def _reset_view(self, state: RunState) -> None: ...
        def _show_turn(self, status: str, answer: str, trace: str | None,
                       detail: str | None, limit_hit: str | None) -> None: ...

    def open_replay(self, path: str) -> None:
        """Rebuild a past conversation (finished or cut off) from its trace, every turn;
        no model needed.

        The trace's events go through the same ``RunState`` as a live run's, so the replay
        shows the same tree, labels and transcripts.
        """
        from rlm.trace import read_trace
        from tui.state import RunState

        try:
            header, events = read_trace(path)
        except OSError as exc:
            self._show_start_error("Cannot open the trace", f"{path}: {exc.strerror or exc}.",
                                   "Pass the path of a .jsonl trace written by rlm or rlm-tui.")
            return
        state = RunState.replay(header, events, self.clock)
        if not state.roots:
            self._show_start_error("Nothing to replay", f"{path} has no agent events: it is "
                                   f"not an rlm trace, or the run died before it began.")
            return
        self._reset_view(state)
        self.sub_title = f"replay of {Path(path).name}"
        if state.started is not None:
            self.question_box.value = state.started.task  # ready to run it again
        self.agent_tree.add_trees(state.roots)
        self.agents_note.display = False
        self.agent_tree.show_agent(state.roots[-1].agent_id)
        self._show_replay_end(path)

    def _show_replay_end(self, path: str) -> None:
        end = self.state.finished
        if end is not None:
            self._show_turn(end.status, end.answer or "", path, end.error, end.limit_hit)
            return
        running = [n.agent_id for n in self.state.builder.nodes.values() if n.finished is None]
        self._show_turn("failed", "", path,
                        f"This trace stops before the run finished (the run crashed or was "
                        f"killed); {len(running)} agent(s) had not finished: "
                        f"{', '.join(running[:8])}.", None)
        self.result_panel.border_title = "✗ Cut-off trace: the run did not finish"
