"""Conversations: follow-up questions over one sandbox, tools, a stream of events, and
stopping one agent's subtree."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rlm import RLM, ScriptedModel
from rlm.trace import load_tree
from tests.engine_helpers import code

CONTEXT = "apple\nbanana split\nfig"


def question_of(messages: list[dict]) -> str:
    return messages[1]["content"].split("\n", 1)[0].removeprefix("Task: ")


def last_output(messages: list[dict]) -> str:
    return messages[-1]["content"].removeprefix("Observation: ")


def conversation(messages: list[dict], model: str) -> str:
    """A model that works from its variables: turn 1 sets ``lines``, turn 2 reads it."""
    asked, replies = question_of(messages), sum(m["role"] == "assistant" for m in messages)
    if replies:
        return "Thought: seen.\nFinal Answer: " + last_output(messages)
    if asked == "How many lines?":
        return code("lines = context.splitlines()\nprint(len(lines))")
    if asked == "Which is the longest?":
        return code("print(max(lines, key=len))")  # `lines` is from turn 1
    if asked == "What came before?":
        return code("print(turns[-1]['question'], '->', turns[-1]['answer'])")
    return code("print(context, '/', context_2 if 'context_2' in dir() else context_1)")


def test_a_subscriber_removed_after_the_first_turn_hears_no_more(tmp_path):
    # As `rlm chat` does for each question: subscribe, ask, unsubscribe. The first
    # subscription comes before the session's bus exists.
    model = ScriptedModel(conversation)
    heard: list[list] = []
    with RLM(model="scripted/m", client=model).session(CONTEXT) as chat:
        for question in ("How many lines?", "Which is the longest?", "What came before?"):
            events: list = []
            unsubscribe = chat.subscribe(events.append)
            chat.ask(question)
            unsubscribe()
            heard.append(events)
    roots = [{e.agent_id for e in events} for events in heard]
    assert roots == [{"0"}, {"1"}, {"2"}]  # each turn's events, once, to its own subscriber


def test_a_cancel_as_a_turn_ends_does_not_cancel_the_next_turn():
    # The turn's RunFinished subscribers run after its root ended, while the turn is still
    # under way: a cancel then is for that turn, not the next one.
    model = ScriptedModel(conversation)
    with RLM(model="scripted/m", client=model).session(CONTEXT) as chat:
        def cancel_at_the_end(event) -> None:
            if type(event).__name__ == "RunFinished":
                chat.cancel()
        unsubscribe = chat.subscribe(cancel_at_the_end)
        first = chat.ask("How many lines?")
        unsubscribe()
        second = chat.ask("Which is the longest?")
    assert (first.status, second.status) == ("answered", "answered")
    assert second.answer == "banana split"


def test_a_second_question_uses_what_the_first_one_left(tmp_path):
    model = ScriptedModel(conversation)
    with RLM(model="scripted/m", client=model).session(CONTEXT, trace=tmp_path / "s.jsonl") \
            as chat:
        first = chat.ask("How many lines?")
        second = chat.ask("Which is the longest?")
        third = chat.ask("What came before?")
    assert (first.answer, second.answer) == ("3", "banana split")
    assert third.answer == "Which is the longest? -> banana split"  # the `turns` variable
    recap = model.calls[-2].messages[1]["content"]
    assert "1. Q: How many lines?\n   A: 3" in recap and "2. Q: Which is the longest?" in recap
    assert [t.status for t in chat.turns] == ["answered"] * 3
    _, tree = load_tree(tmp_path / "s.jsonl")  # one trace, one root per turn
    assert [root.agent_id for root in tree.roots] == ["0", "1", "2"]


@pytest.mark.parametrize(("keep", "expected"), [("replace", "kiwi / apple"),
                                                ("add", "apple\nbanana split\nfig / kiwi")])
def test_a_new_context_replaces_or_joins_the_old_one(keep, expected):
    chat = RLM(model="scripted/m", client=ScriptedModel(conversation)).session(CONTEXT)
    with chat:
        chat.ask("How many lines?")
        result = chat.ask("Compare", context="kiwi", keep=keep)
    assert result.answer.startswith(expected)


def test_cancelling_a_turn_keeps_the_session_for_the_next(tmp_path):
    def slow_second(messages: list[dict], model: str) -> str:
        if question_of(messages) == "Wait" and len(messages) == 2:
            return code("import time\ntime.sleep(30)")
        return conversation(messages, model)

    chat = RLM(model="scripted/m", client=ScriptedModel(slow_second)).session(CONTEXT)
    with chat:
        assert chat.ask("How many lines?").answer == "3"
        threading.Timer(1.0, chat.cancel).start()
        started = time.monotonic()
        waited = chat.ask("Wait")
        assert waited.status == "cancelled" and time.monotonic() - started < 10
        again = chat.ask("How many lines?")  # the same session, a fresh worker
    assert again.answer == "3" and [t.status for t in chat.turns] == [
        "answered", "cancelled", "answered"]


def test_a_tool_is_called_from_code_and_its_failure_comes_back_as_an_error():
    def lookup(key: str, default: str = "?") -> str:
        """Look a key up in the host's table."""
        return {"fig": "a fruit"}.get(key, default)

    def broken() -> None:
        raise KeyError("nope")

    events: list = []
    model = ScriptedModel([
        code("print(lookup('fig'))\ntry:\n    broken()\nexcept RuntimeError as exc:\n"
             "    print('error:', exc)"), "Final Answer: done"])
    RLM(model="scripted/m", client=model, tools={"lookup": lookup, "broken": broken},
        on_event=events.append).completion("q", CONTEXT)
    assert "- `lookup(key: str, default: str = '?') -> str`: Look a key up" in \
        model.calls[0].messages[0]["content"]
    assert model.calls[1].messages[-1]["content"] == (
        "Observation: a fruit\nerror: tool broken failed: KeyError: 'nope'")
    calls = [(e.kind, e.model, e.answer, e.error) for e in events if e.type == "SubCall"]
    assert calls == [("tool", "lookup", '"a fruit"', None),
                     ("tool", "broken", "", "KeyError: 'nope'")]


def test_astream_yields_every_event_in_order_then_the_result():
    async def collect() -> list:
        rlm = RLM(model="scripted/m", client=ScriptedModel([code("print(1)"), "Final Answer: 1"]))
        return [item async for item in rlm.astream("q", CONTEXT)]

    items = asyncio.run(collect())
    *events, result = items
    assert result.answer == "1" and result.status == "answered"
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[0].type == "RunStarted" and events[-1].type == "RunFinished"
    assert {"CodeStarted", "Observation", "ModelReplied"} <= {e.type for e in events}


def test_stopping_one_child_leaves_its_siblings_and_its_parent_running():
    stop_me = threading.Event()

    def tree(messages: list[dict], model: str) -> str:
        task = question_of(messages)
        if task == "root" and len(messages) == 2:
            return code("print(rlm_query_batched(['slow child', 'quick child']))")
        if task == "root":
            return "Final Answer: " + last_output(messages)
        if task == "slow child" and len(messages) == 2:
            stop_me.set()
            return code("import time\ntime.sleep(30)")
        return "Final Answer: fine"

    rlm = RLM(model="scripted/m", client=ScriptedModel(tree))
    threading.Thread(target=lambda: (stop_me.wait(10), time.sleep(0.5),
                                     rlm.stop_agent("0.1")), daemon=True).start()
    started = time.monotonic()
    result = rlm.completion("root", CONTEXT)
    assert result.status == "answered" and time.monotonic() - started < 15
    assert "stopped" in result.answer and "fine" in result.answer
    statuses = {node.agent_id: node.status for node in result.tree.walk()}
    assert statuses == {"0": "answered", "0.1": "cancelled", "0.2": "answered"}


def test_a_cancel_between_turns_does_not_cancel_the_next_one():
    chat = RLM(model="scripted/m", client=ScriptedModel(conversation)).session(CONTEXT)
    with chat:
        chat.ask("How many lines?")
        chat.cancel()  # nothing runs now: nothing to stop
        assert chat.ask("Which is the longest?").answer == "banana split"
