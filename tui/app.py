"""``rlm-tui``: ask, watch every recursive agent think, act and answer, live; ask again.

The questions of one conversation run on one engine session (``tui.runner.Conversation``:
the same sandbox, earlier turns recapped, one trace). The engine runs in one thread worker;
its events cross to the UI only as ``EngineEvents`` messages (``tui.bridge``), which feed a
``RunState`` (the engine's own ``TreeBuilder``), which drives the tree and the transcript.
Collaborators are injected (engine factory, model discovery, clock, trace folder) so tests
run the real app with a scripted model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from tui.commands import KEYS, QUIT_WAIT, Commands
from tui.feed import Feed
from tui.layout import HORIZONTAL_BREAKPOINTS, TALL, VERTICAL_BREAKPOINTS, Fitting
from tui.notices import end_notice, hint_for
from tui.render import Totals
from tui.replay import Replay
from tui.settings import given, shown
from tui.widgets.agent_tree import NO_AGENTS, AgentTree
from tui.widgets.bars import SettingsBar, TotalsBar
from tui.widgets.result_panel import ResultPanel
from tui.widgets.transcript import TranscriptView

if TYPE_CHECKING:
    from rlm import events as ev
    from rlm.tree import AgentNode
    from tui.bridge import EventBridge, RunEnded
    from tui.discovery import Discovery
    from tui.runner import Conversation, Engine, EngineFactory, RunHandle, RunRequest
    from tui.state import RunState

# The first frame shows no run: what runs one (the runner, the bridge, the run's state with
# the engine's events and tree, discovery) is imported when first needed, not at start.

ASK = "Ask a question and press enter to run it…"  # the question box's placeholder

class RLMApp(Commands, Feed, Replay, Fitting, App[None]):
    """The rlm terminal UI.

    Args:
        question: run this at once on start.
        context: path of a text file or folder to pass as the context.
        model, max_depth, max_steps: settings of the questions (``None``: the default).
        profile: a profile name or .toml file, as ``rlm run --profile``.
        settings: the other settings given as flags (``sub_model``, ``api_base``, ...).
        replay: a trace file to open instead of running anything (no model needed).
        engine_factory: builds the engine for a ``RunRequest`` (tests: a scripted model;
            ``None``: ``tui.runner.default_engine``).
        discover: lists models for the model picker (``None``:
            ``tui.discovery.discover_models``).
        clock: wall-clock time for elapsed times (tests: a fixed clock).
        trace_dir: where each conversation's trace is written (``None``: no trace).
        preload: import litellm in a background thread once the first frame is shown.
        cursor_blink: blink the question box's cursor (off for snapshots).
    """

    CSS_PATH = str(Path(__file__).with_name("rlm.tcss"))
    TITLE = "rlm"
    BINDINGS = KEYS
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    def __init__(self, question: str | None = None, *, context: str | None = None,
                 model: str | None = None, max_depth: int | None = None,
                 max_steps: int | None = None, profile: str | None = None,
                 settings: Mapping[str, Any] | None = None, replay: str | None = None,
                 engine_factory: EngineFactory | None = None,
                 discover: Callable[[], Discovery] | None = None,
                 clock: Callable[[], float] = time.time, trace_dir: str | Path | None = None,
                 preload: bool = False, cursor_blink: bool = True,
                 browse_root: str | Path = ".") -> None:
        super().__init__()
        self.startup_question, self.replay_path = question, replay
        self.context, self.model = context, model
        self.max_depth, self.max_steps = max_depth, max_steps
        self.profile, self.flags = profile, dict(settings or {})
        self.engine_factory = engine_factory or _default_engine
        self.discover = discover or _discover_models
        self.clock = clock
        self.trace_dir = Path(trace_dir) if trace_dir else None
        self.preload, self.cursor_blink, self.browse_root = preload, cursor_blink, browse_root
        self._state: RunState | None = None  # made on first use (see ``state``)
        self.run_no = 0
        self.conversation: Conversation | None = None
        self.handle: RunHandle | None = None
        self.bridge: EventBridge | None = None
        self.start_error: str | None = None
        self._followed_at = 0.0
        self._backlog: list[ev.Event] = []
        self._follow_timer: Timer | None = None

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept as attributes: the app's own queries would search a dialog when one is open.
        self.agent_tree = AgentTree(self.state_now, id="agents")
        self.agents_note = Static(NO_AGENTS, id="agents-note", classes="entry empty")
        self.transcript = TranscriptView(self.state_now, id="transcript")
        self.result_panel = ResultPanel(id="result")
        self.question_box = Input(placeholder=ASK, id="question")
        self.question_box.cursor_blink = self.cursor_blink
        self.settings_bar = SettingsBar(id="settings")
        self.totals_bar = TotalsBar(id="totals")
        with Horizontal(id="main") as self.main_panes:
            with Vertical(id="agents-pane") as pane:
                pane.border_title = "Agents"
                yield self.agents_note
                yield self.agent_tree
            yield self.transcript
        yield self.result_panel
        with Vertical(id="ask"):
            yield self.question_box
            yield self.settings_bar
        yield self.totals_bar
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self.result_panel.fit(self.size.height < TALL)
        self._show_settings()
        self._show_totals()
        if self.replay_path:
            self.open_replay(self.replay_path)
        elif self.startup_question:
            self.question_box.value = self.startup_question
            self.action_run()
        self.question_box.focus()

    def on_ready(self) -> None:
        # After the first frame: the import holds the GIL for seconds, so not before it.
        if self.preload:
            threading.Thread(target=_preload_litellm, name="rlm-preload", daemon=True).start()

    @property
    def running(self) -> bool:
        return self.handle is not None and not self.handle.done.is_set()

    @property
    def state(self) -> RunState:
        """The conversation on screen. Made on first use: the first frame shows none, and
        need not wait for the engine's events and tree to be imported."""
        if self._state is None:
            from tui.state import RunState

            self._state = RunState(self.clock)
        return self._state

    @state.setter
    def state(self, state: RunState) -> None:
        self._state = state

    def state_now(self) -> float:
        return self.state.now()

    # --- running ------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "question":
            self.action_run()

    def action_run(self) -> None:
        """Run the question in the box: a follow-up when a conversation is open."""
        if self.running:
            self.notify("A run is in progress: ctrl+x cancels it.", severity="warning")
            return
        question = self.question_box.value.strip()
        if not question:
            self.notify("Type a question first.", severity="warning")
            self.question_box.focus()
            return
        from tui.context_check import check_context
        from tui.runner import RunRequest

        check = check_context(self.context)
        if not check.ok:
            self._show_start_error("The context cannot be used", check.message,
                                   "ctrl+o picks another context.")
            return
        self.start_run(RunRequest(question, check.path, self.model or None, self.max_depth,
                                  self.max_steps, self.profile, self.flags))

    def start_run(self, request: RunRequest) -> None:
        from tui.bridge import EventBridge
        from tui.runner import Conversation, RunHandle, new_trace_path
        from tui.state import RunState

        if self.conversation is None:  # a new conversation: a fresh screen, a new trace
            self._reset_view(RunState(self.clock))
            trace = new_trace_path(self.trace_dir, self.clock()) if self.trace_dir else None
            self.conversation = Conversation(self.engine_factory, trace)
        else:
            self.result_panel.hide()
            self.start_error = None
        self.run_no += 1
        self.handle = RunHandle()
        self.bridge = EventBridge(self.post_message, self.run_no)
        self.agent_tree.following = True  # a new question: watch it
        turn = len(self.state.roots) + 1
        self.sub_title = (f"turn {turn} · " if turn > 1 else "") + _short(request.question, 60)
        self._show_totals()
        self.run_engine(partial(self.conversation.ask, request, self.bridge, self.handle))
        self.refresh_bindings()

    @work(thread=True, exit_on_error=False, group="engine",
          description="rlm: the engine, its session and its sandboxes")
    def run_engine(self, job: Callable[[], Message | None]) -> None:
        """The one place the engine runs: a question of the conversation, or its close.
        In a thread: it may only post messages."""
        message = job()
        if message is not None:
            self.post_message(message)

    def new_conversation(self) -> None:
        """Close the conversation (its sandbox, in the worker) and clear the screen."""
        from tui.state import RunState

        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            self.run_engine(conversation.close)
        self.run_no += 1
        self.handle = self.bridge = None
        self._reset_view(RunState(self.clock))
        self.sub_title = ""
        self.question_box.placeholder = ASK
        self._show_totals()

    async def close_conversation(self) -> None:
        """Close the conversation's sandbox and wait for it (quitting)."""
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            worker = self.run_engine(partial(conversation.close, QUIT_WAIT))
            try:
                await asyncio.wait_for(worker.wait(), QUIT_WAIT)
            except Exception:  # a close that fails or hangs must not keep the app open
                pass

    def on_run_ended(self, message: RunEnded) -> None:
        if message.run_no != self.run_no:
            return
        while self._backlog:
            self._show_slice()
        self.refresh_bindings()
        if message.error is not None:
            self._show_start_error("The run stopped with an error" if self.state.started
                                   else "The run could not start", message.error,
                                   hint_for(message.error_kind))
            return
        result = message.result
        status = getattr(result, "status", "failed")
        root = self.state.last_root
        self._show_turn(status, getattr(result, "answer", "") or "", message.trace_path,
                        getattr(result, "error", None), getattr(result, "limit_hit", None))
        self.notify(**end_notice(status, message.trace_path))
        # The panel took rows from the transcript: keep its last lines (the answer) in view.
        self.call_after_refresh(self.transcript.scroll_end, animate=False)
        self.agent_tree.follow(root.agent_id if root else None)
        if status in ("answered", "limit"):  # the box is ready for a follow-up
            self.question_box.value = ""
        self.question_box.placeholder = "Ask a follow-up (ctrl+n: a new conversation)…"

    def _show_turn(self, status: str, answer: str, trace: str | None, detail: str | None,
                   limit_hit: str | None) -> None:
        """The last turn's answer, with that turn's own totals."""
        started, root = self.state.started, self.state.last_root
        root_id = started.agent_id if started else root.agent_id if root else None
        turns = max(len(self.state.turn_starts), len(self.state.roots))
        totals = self.state.turn_totals(root_id) if root_id else self.state.totals()
        self.result_panel.show_result(status, answer, totals, trace, detail, limit_hit,
                                      turn=turns if turns > 1 else None)
        self._show_totals()

    # --- finding an agent (tui.screens.find) --------------------------------------------
    def agents_to_find(self) -> list[AgentNode]:
        return self.state.builder.agents()

    def go_to_agent(self, agent_id: str) -> None:
        self.agent_tree.choose(agent_id)
        self.agent_tree.focus()

    # --- view helpers -------------------------------------------------------------------
    def _reset_view(self, state: RunState) -> None:
        self.state = state
        self._backlog.clear()
        self.start_error = None
        self.agent_tree.reset_agents()
        self.agents_note.display = True
        self.transcript.show(None)
        self.result_panel.hide()

    def _tick(self) -> None:
        if self.running:
            self.agent_tree.refresh_active()
            self.transcript.refresh_header()
        self._show_totals()

    def _show_totals(self) -> None:
        state = self._state  # None: nothing has run or been replayed yet (the first frame)
        turns = len(state.roots) if state else 0
        phase = self._phase() + (f" · {turns} turns" if turns > 1 else "")
        self.totals_bar.show(state.totals() if state else Totals(), phase)

    def _phase(self) -> str:
        state = self._state
        if self.running:
            return "running"
        if state is not None and state.frozen_at is not None:
            return "replay"
        if self.start_error:
            return "error"
        if state is not None and state.finished:
            return "finished"
        return "running" if state is not None and state.roots else "ready"

    def _show_settings(self) -> None:
        settings = shown(self.profile, given(self.flags, self.model, self.max_depth,
                                             self.max_steps))
        self.settings_bar.show(
            self.context, settings.model if settings else self.model,
            settings.max_depth if settings else self.max_depth,
            settings.max_steps if settings else self.max_steps, self.profile)

    def _show_start_error(self, title: str, message: str, hint: str = "") -> None:
        self.start_error = message
        # The panel says what happened and what to do; a toast repeating it would cover
        # the panel on a small screen (80x24) for as long as it shows.
        self.notify(title, severity="error", timeout=5)
        self.result_panel.show_error(title, message, hint)
        self._show_totals()

    def on_unmount(self) -> None:
        # Whatever ended the app, the engine must stop and the sandbox must go.
        if self.handle is not None:
            self.handle.cancel()
        if self.conversation is not None:
            self.conversation.close(timeout=10)


def _short(text: str, limit: int) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[:limit - 1] + "…"


def _default_engine(request: RunRequest) -> Engine:
    """``tui.runner.default_engine`` (imported with the first question)."""
    from tui.runner import default_engine

    return default_engine(request)


def _discover_models() -> Discovery:
    """``tui.discovery.discover_models`` (imported when the model picker opens)."""
    from tui.discovery import discover_models

    return discover_models()


def _preload_litellm() -> None:
    """Import litellm while the user reads the first frame (it takes seconds)."""
    try:
        from rlm.llm.litellm_loader import load_litellm

        load_litellm()
    except Exception:  # a failed preload only means the first call loads it
        pass
