"""Snapshots of the screens a user sees (pytest-textual-snapshot; update: --snapshot-update).

Deterministic: synthetic events carry fixed timestamps, the clock is fixed, the cursor does
not blink, and no path or id depends on the machine.
"""

from __future__ import annotations

from rlm.result import RLMResult
from tests.tui.test_tui_support import (
    T0,
    FixedClock,
    Unreachable,
    finished_script,
    in_progress_script,
    make_app,
    thinking_script,
    wait_for,
)
from tui.bridge import RunEnded
from tui.discovery import Discovery, ModelChoice

SIZE = (120, 36)
TRACE = "~/.local/share/rlm/traces/tui-20251009-095320-3f2a9c1b7d4e.jsonl"


def test_empty_start(snap_compare):
    assert snap_compare(make_app(clock=FixedClock()), terminal_size=SIZE)


def test_run_in_progress(snap_compare):
    async def run_before(pilot):
        pilot.app.question_box.value = "What is the magic number?"
        pilot.app.show_events(in_progress_script().events)
        await pilot.pause()

    app = make_app(clock=FixedClock(T0 + 16))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_run_in_progress_with_thinking_and_a_fold(snap_compare):
    """A thinking model: steps 1-6 folded into `history`, step 7's thinking dimmed before
    its reply (first lines only), step 8's thinking streaming in."""
    async def run_before(pilot):
        pilot.app.question_box.value = "How many incidents involve the payment service?"
        pilot.app.show_events(thinking_script().events)
        await pilot.pause()

    app = make_app(clock=FixedClock(T0 + 30))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_model_picker_with_running_windows(snap_compare):
    found = Discovery([
        ModelChoice("ollama_chat/qwen3:8b", "ollama",
                    "8.2B, 5.2 GB, runs at 16,384 of 40,960 tokens, can think"),
        ModelChoice("ollama_chat/llama3.1:8b", "ollama",
                    "8.0B, 4.9 GB, runs at 16,384 of 131,072 tokens"),
        ModelChoice("ollama_chat/llama3.2:3b", "ollama", "3.2B, 2.0 GB, runs at its full "
                                                         "131,072 tokens"),
        ModelChoice("groq/llama-3.3-70b-versatile", "groq")],
        ["Hosted: GROQ_API_KEY is set."])

    async def run_before(pilot):
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#model-list")
                       .option_count == 5)
        await pilot.pause()

    app = make_app(clock=FixedClock(), discover=lambda: found)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_finished_run_with_its_answer(snap_compare):
    async def run_before(pilot):
        app = pilot.app
        app.question_box.value = "What is the magic number?"
        script = finished_script()
        app.show_events(script.events)
        end = script.events[-1]
        result = RLMResult(answer=end.answer, status="answered", limit_hit=None,
                           tree=app.state.root, seconds=end.seconds)
        app.post_message(RunEnded(app.run_no, result=result, trace_path=TRACE))
        await wait_for(pilot, lambda: app.result_panel.display)
        await pilot.pause()

    assert snap_compare(make_app(clock=FixedClock(T0 + 40)), terminal_size=SIZE,
                        run_before=run_before)


def test_error_before_the_run(snap_compare):
    async def run_before(pilot):
        await wait_for(pilot, lambda: pilot.app.result_panel.display)
        await pilot.pause()

    app = make_app("What is the magic number?", factory=Unreachable, clock=FixedClock())
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare):
    assert snap_compare(make_app(clock=FixedClock()), terminal_size=SIZE, press=["f1"])
