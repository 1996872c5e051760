"""Snapshots of the screens a user sees (pytest-textual-snapshot; update: --snapshot-update).

The main screens at 80x24 (a default terminal), 120x36 and 200x50, so a change that breaks
one size shows; the dialogs at 80x24, the smallest they must fit. Deterministic: synthetic
events carry fixed timestamps, the clock is fixed, the cursor does not blink, and no path or
id depends on the machine.
"""

from __future__ import annotations

import pytest

from rlm.result import RLMResult
from tests.tui.test_tui_support import (
    T0,
    FixedClock,
    Unreachable,
    finished_script,
    in_progress_script,
    make_app,
    thinking_script,
    two_turn_script,
    wait_for,
)
from tui.bridge import RunEnded
from tui.discovery import Discovery, ModelChoice

SIZE = (120, 36)
SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)],
                                ids=["80x24", "120x36", "200x50"])
SMALL = (80, 24)
TRACE = "~/.local/share/rlm/traces/tui-20251009-095320-3f2a9c1b7d4e.jsonl"


@SIZES
def test_empty_start(snap_compare, size):
    assert snap_compare(make_app(clock=FixedClock()), terminal_size=size)


@SIZES
def test_run_in_progress(snap_compare, size):
    async def run_before(pilot):
        pilot.app.question_box.value = "What is the magic number?"
        pilot.app.show_events(in_progress_script().events)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    app = make_app(clock=FixedClock(T0 + 16))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_run_in_progress_with_thinking_and_a_fold(snap_compare):
    """A thinking model: steps 1-6 folded into `history`, step 7's thinking dimmed before
    its reply (first lines only), step 8's thinking streaming in."""
    async def run_before(pilot):
        pilot.app.question_box.value = "How many incidents involve the payment service?"
        pilot.app.show_events(thinking_script().events)
        await pilot.pause()

    app = make_app(clock=FixedClock(T0 + 30))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def end_of(script, question: str):
    """``run_before`` that shows a synthetic run and then its end, as the worker posts it."""
    async def run_before(pilot):
        app = pilot.app
        app.question_box.value = question
        app.show_events(script.events)
        end = script.events[-1]
        result = RLMResult(answer=end.answer, status="answered", limit_hit=None,
                           tree=app.state.last_root, seconds=end.seconds)
        app.post_message(RunEnded(app.run_no, result=result, trace_path=TRACE))
        await wait_for(pilot, lambda: app.result_panel.display)
        app.clear_notifications()  # toasts would hide the rows they speak of
        await pilot.pause()
    return run_before


@SIZES
def test_finished_run_with_its_answer(snap_compare, size):
    assert snap_compare(make_app(clock=FixedClock(T0 + 40)), terminal_size=size,
                        run_before=end_of(finished_script(), "What is the magic number?"))


def test_a_conversation_of_two_turns(snap_compare):
    """Each question is a root of its own with its children; the answer is the second's."""
    assert snap_compare(make_app(clock=FixedClock(T0 + 80)), terminal_size=SIZE,
                        run_before=end_of(two_turn_script(), "Which part held it?"))


def test_a_folded_answer_unfolds_with_f2(snap_compare):
    async def run_before(pilot):
        await end_of(finished_script(), "What is the magic number?")(pilot)
        await pilot.press("f2")

    assert snap_compare(make_app(clock=FixedClock(T0 + 40)), terminal_size=SMALL,
                        run_before=run_before)


def test_a_narrow_screen_switches_to_the_transcript(snap_compare):
    async def run_before(pilot):
        pilot.app.show_events(in_progress_script().events)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.press("f3")

    app = make_app(clock=FixedClock(T0 + 16))
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


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
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("key", ["ctrl+l", "ctrl+o"], ids=["limits", "context"])
def test_dialogs_fit_a_small_terminal(snap_compare, key, tmp_path):
    for name in ("book.txt", "notes.md"):
        (tmp_path / name).write_text("The magic number is 7481.\n")

    async def run_before(pilot):
        await pilot.press(key)
        await pilot.pause(0.3)

    app = make_app(clock=FixedClock(), browse_root=tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_quit_during_a_run_asks_first(snap_compare):
    async def run_before(pilot):
        pilot.app.handle = _Running()
        await pilot.press("ctrl+q")
        await pilot.pause()

    assert snap_compare(make_app(clock=FixedClock()), terminal_size=SMALL,
                        run_before=run_before)


class _Running:
    """A run handle that says a run is in progress (the confirm dialog only asks)."""

    class done:  # noqa: N801 (stands for a threading.Event)
        @staticmethod
        def is_set() -> bool:
            return False

    def cancel(self) -> None:
        pass


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
def test_error_before_the_run(snap_compare, size):
    async def run_before(pilot):
        await wait_for(pilot, lambda: pilot.app.result_panel.display)
        await pilot.pause()

    app = make_app("What is the magic number?", factory=Unreachable, clock=FixedClock())
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@SIZES
def test_help_screen(snap_compare, size):
    assert snap_compare(make_app(clock=FixedClock()), terminal_size=size, press=["f1"])
