"""``rlm-tui``: run a task and watch every recursive agent think, act and answer, live.

The engine runs in one thread worker; its events cross to the UI only as ``EngineEvents``
messages (``tui.bridge``), which feed a ``RunState`` (the engine's own ``TreeBuilder``), which
drives the tree and the transcript. Collaborators are injected (engine factory, model
discovery, clock, trace folder) so tests run the real app with a scripted model.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Input, Tree

from rlm import events as ev
from tui.bridge import EngineEvents, EventBridge, RunEnded
from tui.commands import KEYS, Commands
from tui.context_check import check_context
from tui.discovery import Discovery, discover_models
from tui.notices import agent_notice, end_notice, hint_for
from tui.runner import EngineFactory, RunHandle, RunRequest, default_engine, execute, new_trace_path
from tui.state import Applied, RunState
from tui.widgets.agent_tree import AgentTree
from tui.widgets.bars import SettingsBar, TotalsBar
from tui.widgets.result_panel import ResultPanel
from tui.widgets.transcript import TranscriptView

SLICE = 400  # events shown per turn of the UI loop (a flood must not freeze the keys)
FOLLOW_EVERY = 0.25  # seconds between two automatic switches of the shown agent


class RLMApp(Commands, App[None]):
    """The rlm terminal UI.

    Args:
        question: run this at once on start.
        context: path of a text file or folder to pass as the context.
        model, max_depth, max_steps: settings of the runs (``None``: the engine's default).
        replay: a trace file to open instead of running anything (no model needed).
        engine_factory: builds the engine for a ``RunRequest`` (tests: a scripted model).
        discover: lists models for the model picker.
        clock: wall-clock time for elapsed times (tests: a fixed clock).
        trace_dir: where each run's trace is written (``None``: no trace).
        preload: import litellm in a background thread once the first frame is shown.
        cursor_blink: blink the question box's cursor (off for snapshots).
    """

    CSS_PATH = str(Path(__file__).with_name("rlm.tcss"))
    TITLE = "rlm"
    BINDINGS = KEYS

    def __init__(self, question: str | None = None, *, context: str | None = None,
                 model: str | None = None, max_depth: int | None = None,
                 max_steps: int | None = None, replay: str | None = None,
                 engine_factory: EngineFactory = default_engine,
                 discover: Callable[[], Discovery] = discover_models,
                 clock: Callable[[], float] = time.time, trace_dir: str | Path | None = None,
                 preload: bool = False, cursor_blink: bool = True,
                 browse_root: str | Path = ".") -> None:
        super().__init__()
        self.startup_question, self.replay_path = question, replay
        self.context, self.model = context, model
        self.max_depth, self.max_steps = max_depth, max_steps
        self.engine_factory, self.discover = engine_factory, discover
        self.clock = clock
        self.trace_dir = Path(trace_dir) if trace_dir else None
        self.preload, self.cursor_blink, self.browse_root = preload, cursor_blink, browse_root
        self.state = RunState(clock)
        self.run_no = 0
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
        self.transcript = TranscriptView(id="transcript")
        self.result_panel = ResultPanel(id="result")
        self.question_box = Input(placeholder="Ask a question and press enter to run it…",
                                  id="question")
        self.question_box.cursor_blink = self.cursor_blink
        self.settings_bar = SettingsBar(id="settings")
        self.totals_bar = TotalsBar(id="totals")
        with Horizontal(id="main"):
            with Vertical(id="agents-pane") as pane:
                pane.border_title = "Agents"
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
        self._show_settings()
        self._show_totals()
        self.transcript.border_title = "Transcript"
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

    def state_now(self) -> float:
        return self.state.now()

    # --- running ------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "question":
            self.action_run()

    def action_run(self) -> None:
        """Run the question in the box (enter in the box does the same)."""
        if self.running:
            self.notify("A run is in progress: ctrl+x cancels it.", severity="warning")
            return
        question = self.question_box.value.strip()
        if not question:
            self.notify("Type a question first.", severity="warning")
            self.question_box.focus()
            return
        check = check_context(self.context)
        if not check.ok:
            self._show_start_error("The context cannot be used", check.message,
                                   "ctrl+o picks another context.")
            return
        self.start_run(RunRequest(question, check.path, self.model or None, self.max_depth,
                                  self.max_steps))

    def start_run(self, request: RunRequest) -> None:
        self.run_no += 1
        self._reset_view(RunState(self.clock))
        self.handle = RunHandle()
        self.bridge = EventBridge(self.post_message, self.run_no)
        trace = new_trace_path(self.trace_dir, self.clock()) if self.trace_dir else None
        self.sub_title = _short(request.question, 60)
        self._show_totals()
        self.run_engine(request, self.handle, self.bridge, trace)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="run",
          description="rlm run: the engine and its sandboxes")
    def run_engine(self, request: RunRequest, handle: RunHandle, bridge: EventBridge,
                   trace: Path | None) -> None:
        # Runs in a thread: it may only post messages.
        self.post_message(execute(request, self.engine_factory, bridge, handle, trace))

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
        for agent_id in applied.touched:
            tree.refresh_agent(agent_id)
        shown = self.transcript.agent_id
        if shown in applied.touched or shown in applied.streamed:
            shown_agent = self.state.node(shown)
            if shown_agent is not None:
                self.transcript.update(shown_agent, self.state.stream_text(shown))
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

    def on_run_ended(self, message: RunEnded) -> None:
        if message.run_no != self.run_no:
            return
        while self._backlog:
            self._show_slice()
        self.refresh_bindings()
        if message.error is not None:
            self._show_start_error("The run stopped with an error" if self.state.root
                                   else "The run could not start", message.error,
                                   hint_for(message.error_kind))
            return
        result = message.result
        status = getattr(result, "status", "failed")
        totals = self.state.totals()
        self.result_panel.show_result(status, getattr(result, "answer", "") or "", totals,
                                      message.trace_path, getattr(result, "error", None),
                                      getattr(result, "limit_hit", None))
        self.notify(**end_notice(status, message.trace_path))
        # The panel took rows from the transcript: keep its last lines (the answer) in view.
        self.call_after_refresh(self.transcript.scroll_end, animate=False)
        self.agent_tree.follow(self.state.root.agent_id if self.state.root else None)
        self._show_totals()

    @on(Tree.NodeHighlighted, "#agents")
    def show_highlighted(self, event: Tree.NodeHighlighted) -> None:
        agent = event.node.data
        if agent is not None and agent.agent_id != self.transcript.agent_id:
            self.transcript.show(agent, self.state.stream_text(agent.agent_id))

    # --- replay -------------------------------------------------------------------------
    def open_replay(self, path: str) -> None:
        """Rebuild a past run (finished or cut off) from its trace; no model needed.

        The trace's events go through the same ``RunState`` as a live run's, so the replay
        shows the same tree, labels and transcripts.
        """
        from rlm.trace import read_trace

        try:
            header, events = read_trace(path)
        except OSError as exc:
            self._show_start_error("Cannot open the trace", f"{path}: {exc.strerror or exc}.",
                                   "Pass the path of a .jsonl trace written by rlm or rlm-tui.")
            return
        state = RunState.replay(header, events, self.clock)
        if state.root is None:
            self._show_start_error("Nothing to replay", f"{path} has no agent events: it is "
                                   f"not an rlm trace, or the run died before it began.")
            return
        self._reset_view(state)
        self.sub_title = f"replay of {Path(path).name}"
        if state.started is not None:
            self.question_box.value = state.started.task  # ready to run it again
        self.agent_tree.add_tree(state.root)
        self.agent_tree.show_agent(state.root.agent_id)
        self._show_replay_end(path)

    def _show_replay_end(self, path: str) -> None:
        end = self.state.finished
        totals = self.state.totals()
        if end is not None:
            self.result_panel.show_result(end.status, end.answer or "", totals, path,
                                          end.error, end.limit_hit)
            return
        running = [n.agent_id for n in self.state.builder.nodes.values() if n.finished is None]
        self.result_panel.show_result(
            "failed", "", totals, path,
            f"This trace stops before the run finished (the run crashed or was killed); "
            f"{len(running)} agent(s) had not finished: {', '.join(running[:8])}.")
        self.result_panel.border_title = "✗ Cut-off trace: the run did not finish"
        self._show_totals()

    # --- view helpers -------------------------------------------------------------------
    def _reset_view(self, state: RunState) -> None:
        self.state = state
        self._backlog.clear()
        self.start_error = None
        self.agent_tree.reset_agents()
        self.transcript.show(None)
        self.result_panel.hide()

    def _tick(self) -> None:
        if self.running:
            self.agent_tree.refresh_active()
        self._show_totals()

    def _show_totals(self) -> None:
        self.totals_bar.show(self.state.totals(), self._phase())

    def _phase(self) -> str:
        if self.running:
            return "running"
        if self.state.frozen_at is not None:
            return "replay"
        if self.start_error:
            return "error"
        if self.state.finished:
            return "finished"
        return "running" if self.state.root is not None else "ready"

    def _show_settings(self) -> None:
        self.settings_bar.show(self.context, self.model, self.max_depth, self.max_steps)

    def _show_start_error(self, title: str, message: str, hint: str = "") -> None:
        self.start_error = message
        self.notify(message, title=title, severity="error", timeout=10)
        self.result_panel.show_error(title, message, hint)
        self._show_totals()

    def on_unmount(self) -> None:
        if self.handle is not None:
            self.handle.cancel()  # whatever ended the app, the engine must stop too


def _short(text: str, limit: int) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[:limit - 1] + "…"


def _preload_litellm() -> None:
    """Import litellm while the user reads the first frame (it takes seconds)."""
    try:
        from rlm.llm.litellm_loader import load_litellm

        load_litellm()
    except Exception:  # a failed preload only means the first call loads it
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rlm-tui`` and ``python -m tui``."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from tui.args import parse_args

    args = parse_args(argv)
    if args.web:
        from tui.web import serve

        return serve(args)
    import dotenv

    dotenv.load_dotenv()
    from rlm.paths import traces_dir

    app = RLMApp(args.question, context=args.context, model=args.model,
                 max_depth=args.max_depth, max_steps=args.max_steps, replay=args.replay,
                 trace_dir=traces_dir(), preload=not args.replay)
    app.run()
    return app.return_code or 0
