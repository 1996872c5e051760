"""The TUI run for real: the app, the engine and its sandboxes, a scripted model (Pilot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rlm.errors import ProviderError
from tests.tui.test_tui_support import (
    Unreachable,
    in_progress_script,
    labels,
    make_app,
    sandbox_pids,
    scripted_factory,
    step_of,
    task_of,
    tree_shape,
    wait_for,
    wait_run_end,
    write_trace,
)
from tui.app import RLMApp
from tui.bridge import EngineEvents, RunEnded
from tui.screens.confirm import ConfirmScreen

SIZE = (120, 36)


async def test_depth2_run_builds_the_tree_labels_and_transcript(tmp_path):
    messages = []
    app = make_app("Find the magic number", trace_dir=tmp_path / "traces")
    async with app.run_test(size=(160, 40), message_hook=messages.append) as pilot:
        await wait_run_end(pilot)
        assert tree_shape(app) == [("0", None, "answered", 2), ("0.1", "0", "answered", 2),
                                   ("0.1.1", "0.1", "answered", 1)]
        shown = labels(app)
        tail = r" +(\d) steps? · (\d+) tok · \d+\.\ds$"  # the figures at the right edge
        assert re.match(r"▼ ✓ 0 d0 Find the magic number" + tail, shown["0"]).group(1) == "2"
        assert re.match(r"▼ ✓ 0.1 d1 Look in part one" + tail, shown["0.1"]).group(1) == "2"
        assert re.match(r"✓ 0.1.1 d2 Read line 7" + tail, shown["0.1.1"]).group(1) == "1"
        tokens = sum(int(re.search(tail, label).group(2)) for label in shown.values())
        assert tokens == app.state.totals().tokens > 0
        # The root's transcript, in order: task, thought, action, sub-call, observation, final.
        assert app.transcript.agent_id == "0"
        text = "\n".join(app.transcript.entry_texts())
        order = ["Task  Find the magic number", "Step 1", "Thought  I will ask a child",
                 "Action", "r = rlm_query('Look in part one')",
                 "↳ rlm_query → agent 0.1  'Look in part one'  → 'part one says 42'",
                 "Observation\npart one says 42", "Step 2", "Final answer\n42"]
        positions = [text.index(part) for part in order]
        assert positions == sorted(positions)
        # The end-of-run panel: the answer, the totals, the trace.
        panel = app.result_panel
        assert panel.display and panel.answer == "42"
        assert "✓ Answer" in panel.border_title
        meta = str(panel.query_one("#result-meta").content)
        assert "3 agents · 5 steps · " in meta
        trace = Path(meta.split("trace  ", 1)[1].split()[0])
        assert trace.parent == tmp_path / "traces" and trace.exists()
        run_id = json.loads(trace.read_text().splitlines()[1])["run_id"]
        assert trace.name.endswith(f"-{run_id}.jsonl") and trace.name.startswith("tui-")
        # Events crossed as batches of messages, never more messages than events.
        batches = [m for m in messages if isinstance(m, EngineEvents)]
        assert 1 <= len(batches) <= sum(len(b.events) for b in batches)
        assert any(isinstance(m, RunEnded) for m in messages)


async def test_selecting_an_agent_stops_following_and_shows_its_transcript(tmp_path):
    app = make_app("Find the magic number", trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        assert app.agent_tree.following and app.transcript.agent_id == "0"
        app.agent_tree.focus()
        await pilot.press("down", "down")
        assert not app.agent_tree.following
        assert app.transcript.agent_id == "0.1.1"
        assert "Final answer\n42" in "\n".join(app.transcript.entry_texts())
        await pilot.press("p")  # jump to the parent
        assert app.agent_tree.cursor_node.data.agent_id == "0.1"
        await pilot.press("space")  # fold 0.1: its child disappears from the lines
        assert not app.agent_tree.nodes["0.1"].is_expanded
        assert app.agent_tree.last_line == 1
        await pilot.press("space")
        assert app.agent_tree.last_line == 2
        await pilot.press("f")
        assert app.agent_tree.following


async def test_copy_answer_copies_the_selected_agents_answer(tmp_path):
    app = make_app("Find the magic number", trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        await pilot.press("ctrl+y")
        assert app.clipboard == "42"
        app.agent_tree.focus()
        await pilot.press("down")
        await pilot.press("ctrl+y")
        assert app.clipboard == "part one says 42"


def slow_reply(messages, model):
    """The root starts a child whose code sleeps: sandboxes stay busy until cancelled."""
    task, step = task_of(messages), step_of(messages)
    if task.startswith("Find"):
        return "Thought: ask.\n```repl\nprint(rlm_query('Sleep a while'))\n```" \
            if step == 1 else "Final Answer: done"
    return "Thought: wait.\n```repl\nimport time\ntime.sleep(60)\n```"


async def test_cancel_kills_every_sandbox_and_keeps_the_trace(tmp_path):
    app = make_app("Find the magic number", factory=scripted_factory(slow_reply),
                   trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "0.1" in app.agent_tree.nodes
                       and app.state.node("0.1").events[-1].type == "CodeStarted")
        await wait_for(pilot, lambda: len(sandbox_pids()) >= 2)  # root's and child's
        assert app.running
        await pilot.press("ctrl+x")
        await wait_run_end(pilot)
        # The child's sandbox is gone; at most the conversation's own stays for a follow-up,
        # until a new conversation closes it.
        assert len(sandbox_pids()) <= 1
        assert "Cancelled" in app.result_panel.border_title
        assert app.state.node("0").status == "cancelled"
        assert app.state.node("0.1").status == "cancelled"
        assert labels(app)["0.1"].startswith("⊘ 0.1 d1 Sleep a")
        traces = list(tmp_path.glob("tui-*.jsonl"))
        assert len(traces) == 1
        lines = [json.loads(line) for line in traces[0].read_text().splitlines()]
        ends = [line for line in lines if line["type"] == "RunFinished"]
        assert [end["status"] for end in ends] == ["cancelled"]
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: sandbox_pids(templates=True) == [])


async def test_quit_during_a_run_asks_then_cancels_and_waits(tmp_path):
    app = make_app("Find the magic number", factory=scripted_factory(slow_reply),
                   trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(sandbox_pids()) >= 2)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep running
        assert app.running and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+q")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.handle.done.is_set())
        await pilot.pause(0.1)
    assert app.handle.done.is_set()
    assert sandbox_pids(templates=True) == []


async def test_replay_rebuilds_the_same_tree_as_the_live_run(tmp_path):
    live = make_app("Find the magic number", trace_dir=tmp_path)
    async with live.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        live_shape, live_labels = tree_shape(live), labels(live)
        live_transcript = live.transcript.entry_texts()
    trace = next(tmp_path.glob("tui-*.jsonl"))
    replay = make_app(replay=str(trace))
    async with replay.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert tree_shape(replay) == live_shape
        assert labels(replay) == live_labels
        assert replay.transcript.entry_texts() == live_transcript
        assert replay.result_panel.answer == "42"
        assert str(trace) in str(replay.result_panel.query_one("#result-meta").content)


async def test_replay_of_a_cut_off_trace_shows_what_happened(tmp_path):
    events = in_progress_script().events
    trace = write_trace(tmp_path / "crashed.jsonl", events)
    with trace.open("a") as out:
        out.write('{"type": "StepStarted", "agent_id": "0.4", "st')  # torn last line
    app = make_app(replay=str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [row[:3] for row in tree_shape(app)] == [
            ("0", None, "waiting"), ("0.1", "0", "answered"), ("0.2", "0", "waiting"),
            ("0.2.1", "0.2", "running"), ("0.3", "0", "failed"), ("0.4", "0", "limit")]
        assert "Cut-off trace" in app.result_panel.border_title
        body = str(app.result_panel.query_one("#result-answer").content)
        assert "3 agent(s) had not finished: 0, 0.2, 0.2.1" in body
        # A replay's clock stops at its last event: elapsed times do not grow.
        before = labels(app)
        await pilot.pause(1.1)
        assert labels(app) == before


async def test_replay_of_a_missing_or_foreign_file_says_so(tmp_path):
    app = make_app(replay=str(tmp_path / "nope.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Cannot open the trace" in app.result_panel.border_title
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text('{"hello": 1}\nplain text\n')
    app = make_app(replay=str(foreign))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Nothing to replay" in app.result_panel.border_title


async def test_an_error_before_the_run_is_shown_not_raised(tmp_path):
    messages = []
    app = make_app("Find the magic number", factory=Unreachable, trace_dir=tmp_path)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await wait_run_end(pilot)
        panel = app.result_panel
        assert panel.border_title == "✗ The run could not start"
        assert "Ollama is not running" in str(panel.query_one("#result-answer").content)
        assert "ollama serve" in str(panel.query_one("#result-meta").content)
        assert [n.message for n in app._notifications] == ["The run could not start"]
        assert app.agent_tree.nodes == {}
        ended = [m for m in messages if isinstance(m, RunEnded)]
        assert ended[0].error_kind == "ServerUnreachable"


async def test_no_ollama_is_reported_by_the_real_engine(closed_url, monkeypatch, tmp_path):
    monkeypatch.setenv("OLLAMA_HOST", closed_url)
    app = RLMApp("Find the magic number", model="ollama/llama3", trace_dir=tmp_path,
                 cursor_blink=False)  # the real engine factory: resolve, preflight
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        body = str(app.result_panel.query_one("#result-answer").content)
        assert "Ollama is not running at" in body and "ollama serve" in body
        assert app.result_panel.border_title == "✗ The run could not start"


async def test_a_model_not_pulled_is_reported_by_the_real_engine(ollama_server, tmp_path):
    app = RLMApp("Find the magic number", model="ollama/mistral-nemo", trace_dir=tmp_path,
                 cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        body = str(app.result_panel.query_one("#result-answer").content)
        assert "mistral-nemo" in body and "ollama pull" in body
        meta = str(app.result_panel.query_one("#result-meta").content)
        assert "ollama pull NAME" in meta  # the hint for ModelNotFound


def failing_reply(messages, model):
    task, step = task_of(messages), step_of(messages)
    if task.startswith("Find"):
        return "Thought: ask.\n```repl\nprint(rlm_query('Break'))\n```" if step == 1 \
            else "Final Answer: the child broke"
    raise ProviderError("The provider answered 500 three times.")


async def test_a_failed_agent_is_marked_with_its_reason(tmp_path):
    app = make_app("Find the magic number", factory=scripted_factory(failing_reply),
                   trace_dir=tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_run_end(pilot)
        child = app.state.node("0.1")
        assert child.status == "failed"
        assert labels(app)["0.1"].startswith("✗ 0.1 d1 Break")
        assert "  The provider answered 500" in labels(app)["0.1"]
        assert any("Agent 0.1 failed" in n.message for n in app._notifications)
        assert app.result_panel.answer == "the child broke"


async def test_a_limit_hit_shows_the_best_answer(tmp_path):
    reply = "Thought: look more.\n```repl\nprint(1)\n```"
    factory = scripted_factory(lambda m, model: reply if step_of(m) <= 2
                               else "Final Answer: my best guess", max_steps=2)
    app = make_app("Find the magic number", factory=factory, trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        assert app.state.node("0").status == "limit"
        assert "  steps limit  " in labels(app)["0"]
        assert "steps limit was hit" in app.result_panel.border_title
        assert app.result_panel.answer == "my best guess"
        assert any("hit the steps limit" in n.message for n in app._notifications)
