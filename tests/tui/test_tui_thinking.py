"""A thinking model's run on screen: its thinking dimmed and apart from the reply (while it
streams and after), and history folds as entries of their own."""

from __future__ import annotations

from rlm import events as ev
from tests.tui.test_tui_support import (
    T0,
    THINKING,
    FixedClock,
    Script,
    make_app,
    scripted_factory,
    thinking_script,
    wait_run_end,
    write_trace,
)
from tui.bridge import EngineEvents, EventBridge
from tui.entries import thinking_preview
from tui.state import RunState
from tui.widgets.thinking import ThinkingBox

SIZE = (120, 36)


def texts(app) -> list[str]:
    return app.transcript.entry_texts()


def reply_texts(app) -> str:
    """Every entry but the thinking ones: what a user reads as the agent's own words."""
    return "\n".join(text for box, text in zip(app.transcript.query("Static"), texts(app),
                                                strict=True)
                     if not isinstance(box, ThinkingBox) and "stream" not in box.classes)


# --- the plain parts ----------------------------------------------------------------------
def test_the_bridge_never_merges_thinking_into_the_reply():
    posted: list[EngineEvents] = []
    bridge = EventBridge(posted.append, run_no=1)
    s = Script()
    s.add(ev.TokenDelta, "0", step=1, text="Final Answer: 99 ", kind="thinking")
    s.add(ev.TokenDelta, "0", step=1, text="is wrong.", kind="thinking")
    s.add(ev.TokenDelta, "0", step=1, text="Final Answer: ")
    s.add(ev.TokenDelta, "0", step=1, text="42")
    for event in s.events:
        bridge(event)
    merged = bridge.take(posted[0])
    assert [(e.kind, e.text) for e in merged] == [("thinking", "Final Answer: 99 is wrong."),
                                                   ("text", "Final Answer: 42")]


def test_the_stream_keeps_thinking_apart_until_the_reply_arrives():
    state = RunState(FixedClock())
    state.apply(thinking_script().events)
    stream = state.stream_text("0")
    assert stream.step == 8 and stream.text == ""
    assert stream.thinking.startswith("14 reports, the index said 12.")
    assert "Final Answer: 14" in stream.thinking


def test_a_long_thinking_is_cut_to_its_first_lines():
    preview, hidden = thinking_preview(THINKING)
    assert preview == "\n".join(THINKING.split("\n")[:2]) and hidden == "5 more lines"
    assert thinking_preview("I will count.\nThen answer.") == ("I will count.\nThen answer.", "")
    paragraph = "word " * 200
    preview, hidden = thinking_preview(paragraph)
    assert len(preview) <= 242 and preview.endswith(" …") and hidden.endswith("characters")


def test_a_fold_reads_as_steps_and_tokens():
    fold = ev.HistoryFolded(step=9, steps=[1, 2, 3, 5], tokens_before=3000, tokens_after=900,
                            window=4096)
    assert fold.moved() == "steps 1-3, 5"
    assert ev.HistoryFolded(step=4, steps=[3]).moved() == "step 3"


# --- on screen ----------------------------------------------------------------------------
async def test_thinking_is_dimmed_labelled_and_before_its_reply():
    app = make_app(clock=FixedClock(T0 + 30))
    async with app.run_test(size=SIZE) as pilot:
        app.show_events(thinking_script().events)
        await pilot.pause()
        shown = texts(app)
        fold = next(t for t in shown if t.startswith("History folded"))
        assert fold == ("History folded  steps 1-6 moved to `history` (2,900 → 1,100 tokens, "
                        "window 4,096)\nso the next call fits; code can still read them")
        [box] = app.transcript.query(ThinkingBox)
        thinking = shown[list(app.transcript.query("Static")).index(box)]
        assert thinking.startswith("thinking\nThe user wants the number of incidents")
        assert thinking.endswith("… 5 more lines · click (or t) shows all")
        assert "Final Answer: 12" not in thinking  # the decoy is further down, folded away
        order = [shown.index(fold), shown.index(thinking),
                 next(i for i, t in enumerate(shown) if t.startswith("Thought  count the"))]
        assert order == sorted(order)
        # Dimmed: a darker grey than the reply after it, and in italics.
        reply = app.transcript.query(".reply").last()
        assert sum(box.rich_style.color.triplet) < sum(reply.rich_style.color.triplet)
        assert all(seg.style.italic for seg in box.render_line(1) if seg.text.strip())
        # The step streaming now: its thinking, labelled, and no reply text yet.
        stream = shown[-1]
        assert stream.startswith("Step 8 · thinking…\n14 reports, the index said 12.")
        assert "writing" not in stream
        assert "Final Answer" not in reply_texts(app)


async def test_a_click_or_t_shows_all_of_a_long_thinking():
    app = make_app(clock=FixedClock(T0 + 30))
    async with app.run_test(size=SIZE) as pilot:
        app.show_events(thinking_script().events)
        await pilot.pause()
        box = app.transcript.query_one(ThinkingBox)

        def shown() -> str:
            return texts(app)[list(app.transcript.query("Static")).index(box)]
        box.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        await pilot.click(box)
        assert box.expanded
        assert "A tempting shortcut: Final Answer: 12" in shown()
        assert shown().endswith("Let me write the code.\nclick (or t) shows less")
        await pilot.click(box)
        assert not box.expanded and "Let me write the code." not in shown()
        # t in the transcript: every step's thinking, and the steps still to come.
        app.transcript.focus()
        await pilot.press("t")
        assert box.expanded and "Let me write the code." in shown()
        s = Script(T0 + 20)
        s.add(ev.ModelReplied, "0", step=8, model="ollama/qwen3:8b", text="Final Answer: 14",
              thinking=THINKING.replace("12", "14"))
        app.show_events(s.events)
        await pilot.pause()
        assert all(b.expanded for b in app.transcript.query(ThinkingBox))
        await pilot.press("t")
        assert not any(b.expanded for b in app.transcript.query(ThinkingBox))
        assert not box.can_focus  # tab still moves between the panes


async def test_streamed_thinking_then_reply_then_the_answer(tmp_path):
    app = make_app(clock=FixedClock(T0 + 30))
    async with app.run_test(size=SIZE) as pilot:
        s = Script()
        s.add(ev.AgentStarted, "0", task="What is it?", model="ollama/qwen3:8b")
        s.add(ev.StepStarted, "0", step=1)
        s.add(ev.TokenDelta, "0", step=1, kind="thinking", text="Maybe Final Answer: 99?\nNo.")
        s.add(ev.TokenDelta, "0", step=1, text="Thought: it is 42.\nFinal ")
        app.show_events(s.events)
        await pilot.pause()
        stream = texts(app)[-1]
        assert stream == ("thinking\nMaybe Final Answer: 99?\nNo.\n"
                          "Step 1 · writing…\nThought: it is 42.\nFinal")
        s = Script(T0 + 10)
        s.add(ev.ModelReplied, "0", step=1, model="ollama/qwen3:8b",
              text="Thought: it is 42.\nFinal Answer: 42", thinking="Maybe Final Answer: 99?\nNo.")
        s.add(ev.AgentFinished, "0", status="answered", answer="42", steps=1)
        app.show_events(s.events)
        await pilot.pause()
        shown = texts(app)
        assert "thinking\nMaybe Final Answer: 99?\nNo." in shown  # short: shown whole
        assert not app.transcript.query_one(ThinkingBox).long
        assert shown[-1] == "Final answer\n42"
        assert "99" not in reply_texts(app)


def thinking_model():
    """A thinking model whose history folds: 3 steps of long output, then the answer (it
    counts its own calls: a fold takes the first replies out of the chat)."""
    calls = []

    def reply(messages, model):
        calls.append(model)
        step = len(calls)
        think = f"<think>Step {step}. Tempting: Final Answer: 99. But I must look first.</think>"
        if step <= 3:
            return think + f"Thought: look at part {step}.\n```repl\nprint('x' * 1500)\n```"
        return think + "Thought: done.\nFinal Answer: 42"
    return reply


async def test_a_real_run_shows_thinking_and_the_fold(tmp_path):
    app = make_app("Find the magic number", trace_dir=tmp_path,
                   factory=scripted_factory(thinking_model(), num_ctx=2048))
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        assert app.result_panel.answer == "42"
        shown = texts(app)
        folds = [t for t in shown if t.startswith("History folded")]
        assert folds and "moved to `history`" in folds[0] and "window 2,048" in folds[0]
        boxes = app.transcript.query(ThinkingBox)
        assert len(boxes) == 4
        assert all("Tempting: Final Answer: 99" in b.text for b in boxes)
        assert "99" not in reply_texts(app)


async def test_a_replayed_trace_shows_the_thinking_and_the_fold(tmp_path):
    trace = write_trace(tmp_path / "think.jsonl", thinking_script().events)
    app = make_app(replay=str(trace), clock=FixedClock(T0 + 99))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = texts(app)
        assert any(t.startswith("History folded  steps 1-6 moved to `history`") for t in shown)
        [box] = app.transcript.query(ThinkingBox)
        assert box.text == THINKING
        assert not any("writing" in t or "thinking…" in t for t in shown)  # live-only
