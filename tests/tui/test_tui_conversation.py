"""rlm-tui keeps the conversation and steers a running tree (Pilot, the real engine on a
scripted model): follow-ups on one sandbox, each turn its own root, one trace, ctrl+n;
stopping one agent's subtree; finding an agent by its task or id."""

from __future__ import annotations

import json
import threading

from tests.tui.test_tui_support import (
    labels,
    make_app,
    sandbox_pids,
    scripted_factory,
    step_of,
    task_of,
    tree_shape,
    wait_for,
    wait_run_end,
)
from tui.runner import RunRequest

SIZE = (120, 36)


def last_output(messages: list[dict]) -> str:
    return messages[-1]["content"].removeprefix("Observation: ")


def chat_reply(messages: list[dict], model: str) -> str:
    """Turn 1 keeps a variable and asks a child; turn 2 reads the variable turn 1 left."""
    task, step = task_of(messages), step_of(messages)
    if step > 1:
        return "Thought: seen.\nFinal Answer: " + last_output(messages)
    if task == "Count the words":
        return ("Thought: count, and ask a child.\n```repl\nwords = context.split()\n"
                "print(len(words), rlm_query('Say ok'))\n```")
    if task == "Which word is longest?":
        return "Thought: `words` is still there.\n```repl\nprint(max(words, key=len))\n```"
    return "Final Answer: ok"


async def test_a_follow_up_runs_in_the_same_session_and_each_turn_is_a_root(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("a quick brown fox jumps\n")
    requests: list[RunRequest] = []

    def factory(request):
        requests.append(request)
        return scripted_factory(chat_reply)(request)
    app = make_app("Count the words", factory=factory, context=str(book),
                   trace_dir=tmp_path / "traces")
    async with app.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        assert app.result_panel.answer == "5 ok"
        assert app.question_box.value == "" and "follow-up" in app.question_box.placeholder
        await pilot.press(*"Which word is longest?", "enter")
        await wait_for(pilot, lambda: not app.running and app.state.finished is not None
                       and app.state.finished.agent_id == "1")
        await pilot.pause()
        assert app.result_panel.answer == "quick"  # `words` survived from turn 1
        assert len(requests) == 1  # one engine, one session for the whole conversation
        assert tree_shape(app) == [("0", None, "answered", 2), ("0.1", "0", "answered", 1),
                                   ("1", None, "answered", 2)]
        assert app.agent_tree.cursor_node.data.agent_id == "1"  # it followed the new turn
        assert "turn 2" in app.result_panel.border_title
        # The transcript keeps the earlier turn: select turn 1's root and read it.
        app.agent_tree.focus()
        await pilot.press("up", "up")
        assert app.transcript.agent_id == "0"
        assert "Final answer\n5 ok" in "\n".join(app.transcript.entry_texts())
        traces = list((tmp_path / "traces").glob("tui-*.jsonl"))
        assert len(traces) == 1  # one trace holds every turn
        ends = [json.loads(line) for line in traces[0].read_text().splitlines()
                if '"RunFinished"' in line]
        assert [(end["agent_id"], end["answer"]) for end in ends] == [("0", "5 ok"),
                                                                       ("1", "quick")]
        assert len(sandbox_pids()) >= 1  # the conversation's sandbox waits for more
        # ctrl+n: a new conversation; its sandbox is closed, the screen is clear.
        await pilot.press("ctrl+n")
        assert app.agent_tree.nodes == {} and app.conversation is None
        await wait_for(pilot, lambda: sandbox_pids(templates=True) == [])
        await pilot.press(*"Count the words", "enter")
        await wait_run_end(pilot)
        assert len(requests) == 2 and [row[0] for row in tree_shape(app)] == ["0", "0.1"]
    assert sandbox_pids(templates=True) == []  # quitting closed the second conversation's sandbox


async def test_a_replay_of_a_conversation_shows_every_turn(tmp_path):
    live = make_app("Count the words", factory=scripted_factory(chat_reply),
                    trace_dir=tmp_path)
    async with live.run_test(size=SIZE) as pilot:
        await wait_run_end(pilot)
        await pilot.press(*"Which word is longest?", "enter")
        await wait_for(pilot, lambda: len(live.state.turn_ends) == 2 and not live.running)
        await pilot.pause()
        live_shape, live_labels = tree_shape(live), labels(live)
    trace = next(tmp_path.glob("tui-*.jsonl"))
    replay = make_app(replay=str(trace))
    async with replay.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert tree_shape(replay) == live_shape
        assert labels(replay) == live_labels
        assert replay.result_panel.answer == live.result_panel.answer
        assert replay.question_box.value == "Which word is longest?"
        assert "turn 2" in replay.result_panel.border_title


def steer_reply(messages: list[dict], model: str) -> str:
    """The root asks two children at once; the slow one asks a grandchild that sleeps."""
    task, step = task_of(messages), step_of(messages)
    if task == "Survey the parts":
        if step == 1:
            return ("Thought: both parts.\n```repl\nprint(rlm_query_batched(['Slow part', "
                    "'Steady part']))\n```")
        return "Thought: done.\nFinal Answer: " + last_output(messages)
    if task == "Slow part":
        return "Thought: deeper.\n```repl\nprint(rlm_query('Sleep on it'))\n```"
    if task == "Sleep on it":
        return "Thought: wait.\n```repl\nimport time\ntime.sleep(60)\n```"
    if step == 1:  # the steady part keeps working until the test lets it finish
        return "Thought: wait for the go.\n```repl\nimport time\ntime.sleep(0.2)\n```"
    return "Final Answer: steady done" if RELEASE.is_set() else \
        "Thought: again.\n```repl\nimport time\ntime.sleep(0.2)\n```"


RELEASE = threading.Event()


async def test_stopping_one_child_stops_its_subtree_and_leaves_the_rest_running(tmp_path):
    RELEASE.clear()
    app = make_app("Survey the parts", factory=scripted_factory(steer_reply, max_steps=200),
                   trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: (node := app.state.node("0.1.1")) is not None
                       and node.events[-1].type == "CodeStarted")
        tree = app.agent_tree
        tree.focus()
        tree.choose("0.1")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.state.node("0.1").status == "cancelled")
        assert app.state.node("0.1.1").status == "cancelled"
        # Its sibling and its parent run on.
        assert app.running
        assert app.state.node("0.2").finished is None
        assert app.state.node("0").status in ("running", "waiting")
        assert labels(app)["0.1"].startswith("▼ ⊘ 0.1 d1 Slow part")
        RELEASE.set()
        await wait_run_end(pilot)
        assert app.state.node("0.2").status == "answered"
        assert app.state.node("0").status == "answered"
        # The parent's rlm_query got an error string saying it was stopped, and went on.
        assert "stopped" in app.result_panel.answer and "steady done" in app.result_panel.answer
        app.action_stop_agent()  # nothing runs now (the palette still offers it): a notice
        await pilot.pause()
        assert any("No run to steer" in n.message for n in app._notifications)


async def test_find_an_agent_by_part_of_its_task_or_its_id(tmp_path):
    from tests.tui.test_tui_support import T0, FixedClock, in_progress_script

    app = make_app(clock=FixedClock(T0 + 30), trace_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert any("No agents yet" in n.message for n in app._notifications)
        app.show_events(in_progress_script().events)
        await pilot.pause()
        assert app.agent_tree.following
        await pilot.press("ctrl+f")
        await pilot.press(*"part 2")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.transcript.agent_id == "0.3")
        assert app.agent_tree.cursor_node.data.agent_id == "0.3"
        assert not app.agent_tree.following and app.agent_tree.has_focus
        app.agent_tree.nodes["0.2"].collapse()  # a folded parent unfolds to show the find
        await pilot.press("slash", *"0.2.1")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.transcript.agent_id == "0.2.1")
        assert app.agent_tree.nodes["0.2"].is_expanded
