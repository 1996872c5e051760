"""What the keys and the command palette do: run, cancel, stop or find an agent, a new
conversation, dialogs, copy, help, quit.

``Commands`` is mixed into ``RLMApp``; it uses the app's state (``running``, ``handle``,
``state``, the widgets) and leaves the running of the engine to the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen

from tui.widgets.agent_tree import AgentTree

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from textual.widgets import Input

    from tui.context_check import ContextCheck
    from tui.discovery import Discovery
    from tui.runner import Conversation, RunHandle
    from tui.state import RunState
    from tui.widgets.result_panel import ResultPanel

    # For the checker the mixin is the app it is mixed into: it calls App methods and
    # super().get_system_commands. At run time it stays a plain mixin.
    _App = App[None]
else:
    _App = object

MAIN_ACTIONS = ("run", "cancel_run", "new_run", "open_context", "choose_model", "set_limits",
                "copy_answer", "help", "find_agent", "toggle_answer", "switch_pane")
IDLE_ONLY = ("run", "new_run", "set_limits", "choose_model", "open_context")
QUIT_WAIT = 60.0  # seconds to wait for the engine to close its sandboxes when quitting

# The footer shows the keys a first run needs; the settings bar names ^o ^t ^l, the folded
# answer f2, and f1 lists them all. (At 80 columns every key shown must fit on one line.)
KEYS: list[BindingType] = [
    Binding("ctrl+r", "run", "Run", priority=True,
            tooltip="Run the question in the box (enter in the box does the same); after "
                    "an answer, a follow-up in the same conversation"),
    Binding("ctrl+x", "cancel_run", "Cancel", priority=True,
            tooltip="Cancel the running question: every agent stops, the trace is kept, the "
                    "conversation goes on"),
    Binding("ctrl+n", "new_run", "New", priority=True,
            tooltip="A new conversation: closes this one's sandbox (context, model and "
                    "limits stay)"),
    Binding("ctrl+f", "find_agent", "Find", priority=True,
            tooltip="Find an agent by part of its task or id"),
    Binding("f3", "switch_pane", "Panes", priority=True,
            tooltip="Switch between the tree and the transcript (when they take turns, "
                    "below 100 columns)"),
    Binding("f2", "toggle_answer", "Answer", show=False, priority=True,
            tooltip="Fold the answer panel to one line, or unfold it"),
    Binding("ctrl+o", "open_context", "Context", show=False, priority=True,
            tooltip="Pick a text file or a folder as the context (a follow-up gets it as "
                    "`context`; the old one stays as context_<n>)"),
    Binding("ctrl+t", "choose_model", "Model", show=False, priority=True,
            tooltip="Pick a pulled Ollama model, a hosted one whose key is set, or any "
                    "litellm name"),
    Binding("ctrl+l", "set_limits", "Limits", show=False, priority=True,
            tooltip="Set max depth and max steps of the next question"),
    Binding("ctrl+y", "copy_answer", "Copy", show=False, priority=True,
            tooltip="Copy the selected agent's answer (the last answer by default)"),
    Binding("f1", "help", "Help", priority=True, tooltip="Keys and agent marks"),
    Binding("ctrl+q", "quit", "Quit", priority=True,
            tooltip="Quit: closes the conversation's sandbox (during a run: asks, then "
                    "cancels it and waits for its sandboxes)"),
]



class Commands(_App):
    """The app's actions (mixed into ``RLMApp``, which defines what is declared below)."""

    if TYPE_CHECKING:  # what the actions use of RLMApp; the checker matches it to RLMApp's
        context: str | None
        model: str | None
        max_depth: int | None
        max_steps: int | None
        browse_root: str | Path
        discover: Callable[[], Discovery]
        clock: Callable[[], float]
        handle: RunHandle | None
        conversation: Conversation | None
        state: RunState
        agent_tree: AgentTree
        result_panel: ResultPanel
        question_box: Input

        @property
        def running(self) -> bool: ...
        @property
        def narrow(self) -> bool: ...
        def action_run(self) -> None: ...
        def new_conversation(self) -> None: ...
        def action_switch_pane(self) -> None: ...
        async def close_conversation(self) -> None: ...
        def _show_settings(self) -> None: ...

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the app's keys under a dialog; grey out what the run state forbids."""
        if action in MAIN_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        if action == "switch_pane":
            return self.narrow  # side by side there is nothing to switch
        if action in ("cancel_run", "stop_agent") and not self.running:
            return None
        if action in IDLE_ONLY and self.running:
            return None
        if action == "toggle_answer" and not self.result_panel.display:
            return None
        return True

    def action_cancel_run(self) -> None:
        """Cancel the running question: the engine ends every agent of it."""
        if not self.running or self.handle is None:
            self.notify("No run to cancel.", timeout=3)
            return
        self.handle.cancel()
        self.notify("Cancelling: closing every sandbox…", timeout=4)

    def action_stop_agent(self) -> None:
        """Stop the selected agent and every agent under it; its parent goes on."""
        agent = self.agent_tree.selected_agent
        if not self.running or self.handle is None or agent is None:
            self.notify("No run to steer: x stops a running agent.", timeout=3)
            return
        if agent.finished is not None:
            self.notify(f"Agent {agent.agent_id} has already finished.", timeout=3)
            return
        if agent.parent_id is None:  # a turn's root: that is the whole question
            self.action_cancel_run()
            return
        self.handle.stop_agent(agent.agent_id)
        under = sum(1 for _ in agent.walk()) - 1
        self.notify(f"Stopping agent {agent.agent_id}" + (f" and the {under} under it"
                    if under else "") + f"; agent {agent.parent_id}'s rlm_query gets an "
                    f"error string and goes on.", timeout=5)

    def action_find_agent(self) -> None:
        """Find an agent by part of its task or its id."""
        from tui.screens.find import agent_finder

        if not self.state.builder.nodes:
            self.notify("No agents yet: run a question first.", timeout=3)
            return
        self.push_screen(agent_finder())

    def action_toggle_answer(self) -> None:
        """Fold the answer panel to one line, or unfold it."""
        self.result_panel.toggle()

    def action_new_run(self) -> None:
        if self.running:
            self.notify("A run is in progress: ctrl+x cancels it first.", severity="warning")
            return
        self.new_conversation()
        self.question_box.value = ""
        self.question_box.focus()

    def action_open_context(self) -> None:
        from tui.screens.context import ContextScreen

        def chosen(check: ContextCheck | None) -> None:
            if check is not None:
                self.context = check.path
                self._show_settings()
                note = ""
                if self.conversation is not None and self.conversation.turns:
                    note = (" The next question gets it as `context`; the one before stays "
                            "as context_<n>." if check.path else " The conversation keeps "
                            "the context it has; ctrl+n starts one without.")
                self.notify(check.message + note, title="Context", timeout=6)
        self.push_screen(ContextScreen(self.context, self.browse_root), chosen)

    def action_choose_model(self) -> None:
        from tui.screens.model import ModelScreen

        def chosen(model: str | None) -> None:
            if model is not None:
                self.model = model or None
                self._show_settings()
        self.push_screen(ModelScreen(self.model, self.discover), chosen)

    def action_set_limits(self) -> None:
        from tui.screens.limits import LimitsScreen

        def chosen(limits: tuple[int | None, int | None] | None) -> None:
            if limits is not None:
                self.max_depth, self.max_steps = limits
                self._show_settings()
        self.push_screen(LimitsScreen(self.max_depth, self.max_steps), chosen)

    def action_copy_answer(self) -> None:
        """Copy the selected agent's answer (the last answer when nothing else is)."""
        agent = self.agent_tree.selected_agent
        text = (agent.answer if agent and agent.answer else "") or self.result_panel.answer
        if not text:
            self.notify("No answer to copy yet.", timeout=3)
            return
        self.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters.", timeout=3)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.key_rows()))

    async def action_quit(self) -> None:
        """Quit; during a run, ask first, then cancel it and wait for its sandboxes."""
        from tui.screens.confirm import ConfirmScreen

        if not self.running:
            self.stop_and_exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_and_exit()
        self.push_screen(ConfirmScreen("A run is in progress. Cancel it and quit?",
                                       yes="Cancel the run and quit", no="Keep running"),
                         answered)

    @work(exclusive=True, group="quit", description="cancel the run, close the sandbox, quit")
    async def stop_and_exit(self) -> None:
        handle = self.handle
        if handle is not None and not handle.done.is_set():
            handle.cancel()
            self.notify("Cancelling the run: closing every sandbox…", timeout=QUIT_WAIT)
            await asyncio.to_thread(handle.wait, QUIT_WAIT)
        await self.close_conversation()
        self.exit()

    # --- help and command palette -------------------------------------------------------
    def key_rows(self) -> list[tuple[str, str, str]]:
        from tui.widgets.transcript import TranscriptView

        # Every key is declared as a Binding: a (key, action) tuple would have no tooltip.
        rows = [(b.key, b.tooltip or b.description, "anywhere")
                for b in self.BINDINGS if isinstance(b, Binding)]
        rows += [("ctrl+p", "Command palette: every action by name", "anywhere"),
                 ("tab", "Next pane", "anywhere"),
                 ("enter", "Run the question; after an answer, ask a follow-up",
                  "question box")]
        rows += [(_key(b.key), b.tooltip or b.description, "agent tree")
                 for b in AgentTree.BINDINGS if isinstance(b, Binding)]
        rows += [("↑ ↓ / click", "Select an agent and show its transcript (stops following)",
                  "agent tree"),
                 ("enter", "Show its transcript (when the panes take turns)", "agent tree"),
                 ("shift+←", "Jump to the parent", "agent tree")]
        rows += [(_key(b.key), b.tooltip or b.description, "transcript")
                 for b in TranscriptView.BINDINGS if isinstance(b, Binding)]
        rows += [("click", "Show all of one step's thinking", "transcript")]
        return rows

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run", "Run the question in the box", self.action_run)
        yield SystemCommand("Cancel run", "Stop every agent of the running question",
                            self.action_cancel_run)
        yield SystemCommand("Stop the selected agent", "It and every agent under it; its "
                            "parent goes on", self.action_stop_agent)
        yield SystemCommand("Find an agent", "By part of its task or its id",
                            self.action_find_agent)
        yield SystemCommand("New conversation", "Close this one's sandbox and clear the "
                            "screen", self.action_new_run)
        yield SystemCommand("Open context", "Pick a text file or folder as the context",
                            self.action_open_context)
        yield SystemCommand("Choose model", "Pulled Ollama models and hosted ones",
                            self.action_choose_model)
        yield SystemCommand("Set limits", "Max depth and max steps of the next question",
                            self.action_set_limits)
        yield SystemCommand("Copy answer", "Copy the answer to the clipboard",
                            self.action_copy_answer)
        yield SystemCommand("Fold or unfold the answer", "One line, or the whole panel",
                            self.action_toggle_answer)
        if self.narrow:
            yield SystemCommand("Switch panes", "The tree or the transcript (they take turns "
                                "below 100 columns)", self.action_switch_pane)
        yield SystemCommand("Follow the active agent", "Move with the agent that works",
                            self.agent_tree.action_follow)
        yield SystemCommand("Help", "Keys and agent marks", self.action_help)


def _key(key: str) -> str:
    return {"slash": "/", "space": "space", "escape": "escape"}.get(key, key)
