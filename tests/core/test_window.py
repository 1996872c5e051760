"""Local models as they really run: a running window sent on every call, a history that fits
it, thinking kept apart. Against the strict loopback Ollama (tests/servers/), which cuts a
too-long prompt silently, as the real one does, and records every cut."""

from __future__ import annotations

import json
import re

import pytest

from rlm import RLM
from rlm.events import HistoryFolded
from tests.engine_helpers import code
from tests.servers import DIGITS, FakeModel, OllamaServer, ThinkingReply

NEEDLE = "The code word is PELICAN."
CONTEXT = "\n".join([NEEDLE] + [f"line {i}: nothing to see here, move along." for i in
                                range(3000)])


def task_present(messages: list[dict]) -> bool:
    return any("What is the code word?" in str(m.get("content")) for m in messages)


def step_of(messages: list[dict]) -> int:
    """The step being asked for, as the model can tell: the steps the task message says were
    moved out of the chat, plus the replies still in it, plus one."""
    found = re.search(r"\[Steps? (\d+)(?:-(\d+))? (?:was|were) moved", messages[1]["content"])
    moved = int(found.group(2) or found.group(1)) if found else 0
    return moved + sum(m["role"] == "assistant" for m in messages) + 1


def twenty_steps(request) -> str:
    """The model as it would behave: it reads, wanders for 18 steps with large outputs, then
    looks back at step 1's output in ``history`` and answers from it; it can only answer
    right if the task and the observation it asked for reached it."""
    messages = request.messages
    if not task_present(messages):
        return "Thought: I lost the task.\nFinal Answer: I do not know the task"
    step = step_of(messages)
    if step == 1:
        return code("print(context[:1500])")
    if step < 20:
        return code(f"print('step {step}: ' + 'filler words ' * 200)")
    if step == 20:
        return code("print(history[0]['output'][:200])")
    last = messages[-1]["content"]
    word = "PELICAN" if "PELICAN" in last else "unknown"
    return f"Thought: step 1's output says it.\nFinal Answer: {word}"


@pytest.fixture
def small_model_server(model_env):
    """A 4,096-token model (trained window 4,096) on a strict Ollama."""
    with OllamaServer(twenty_steps, models=[FakeModel("tiny:latest", context_length=4096)]) \
            as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        yield server


def test_a_20_step_run_on_a_4096_token_model_answers_right_and_nothing_is_cut(
        small_model_server, tmp_path):
    events: list = []
    rlm = RLM(model="ollama_chat/tiny", max_steps=25, on_event=events.append)
    result = rlm.completion("What is the code word?", CONTEXT, trace=tmp_path / "t.jsonl")
    server = small_model_server
    assert result.answer == "PELICAN" and result.status == "answered"
    assert server.truncations == []  # no prompt was ever cut by the server
    bodies = [r.body for r in server.chat_requests()]
    assert len(bodies) == 21
    assert {b["options"]["num_ctx"] for b in bodies} == {4096}  # the same window, every call
    assert all(server.count_prompt(b["messages"]) + b["options"]["num_predict"] <= 4096
               for b in bodies)
    folds = [e for e in events if isinstance(e, HistoryFolded)]
    assert folds and folds[0].steps[0] == 1 and all(f.tokens_after < f.tokens_before
                                                    for f in folds)
    assert len(server.loads) == 1  # one window, so one load for the whole run
    trace = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert sum(line["type"] == "HistoryFolded" for line in trace) == len(folds)
    window = trace[0]["windows"]["ollama_chat/tiny"]  # the header says the window, and why
    assert (window["running"], window["trained"], window["source"]) == (
        4096, 4096, "the model's trained window")


def test_without_the_window_the_same_run_loses_its_task(small_model_server):
    """What the engine prevents: the same chat sent whole, as before, gets cut by Ollama."""
    from rlm.core import prompts

    system = prompts.system_prompt({"type": "str"})
    first = prompts.first_message("What is the code word?", {"type": "str"},
                                  task_is_context=False)
    chat = [{"role": "system", "content": system}, {"role": "user", "content": first}]
    for step in range(1, 12):
        chat += [{"role": "assistant", "content": code(f"print({step})")},
                 {"role": "user", "content": "Observation: " + "filler words " * 200}]
    import ollama

    ollama.Client(host=small_model_server.url).chat(model="tiny", messages=chat)
    (cut,) = small_model_server.truncations
    assert not task_present([m for m in chat if m not in cut.dropped])


def thinking_model(request) -> ThinkingReply:
    """A thinking model that drafts code and an answer while thinking (decoys that must
    neither run nor count), then writes its real reply."""
    steps = sum(m["role"] == "assistant" for m in request.messages)
    decoy = ("Maybe:\n```repl\nprint('DECOY RAN')\n```\nFinal Answer: decoy")
    if steps == 0:
        return ThinkingReply(decoy, code("print(len(context))"))
    return ThinkingReply(decoy, "Thought: I saw the length.\nFinal Answer: real")


@pytest.mark.parametrize(("version", "think"), [("0.32.15", "on"), ("0.12.3", "auto"),
                                                ("0.8.0", "auto")],
                         ids=["message.thinking", "think-tags-before-0.12.4", "no-think-field"])
def test_a_thinking_models_decoys_never_run_and_never_count(model_env, version, think):
    qwen3 = FakeModel("qwen3:8b", family="qwen3", thinking=True, context_length=40960)
    with OllamaServer(thinking_model, models=[qwen3], version=version) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        events: list = []
        result = RLM(model="ollama_chat/qwen3:8b", think=think,
                     on_event=events.append).completion("How long is it?", "x" * 42)
    assert result.answer == "real"
    ran = [e.code for e in events if e.type == "CodeStarted"]
    assert ran == ["print(len(context))"]
    observed = [e.text for e in events if e.type == "Observation"]
    assert observed == ["42"] and not any("DECOY" in text for text in observed)
    replies = [e for e in events if e.type == "ModelReplied"]
    assert all("decoy" in r.thinking and "decoy" not in r.text for r in replies)
    streamed = {e.kind for e in events if e.type == "TokenDelta"}
    assert streamed == {"text", "thinking"}
    bodies = [r.body for r in server.chat_requests()]
    assert all(("think" in b) == (think == "on") for b in bodies)


def test_think_off_is_sent_to_a_model_that_can_think_and_to_no_other(model_env):
    qwen3 = FakeModel("qwen3:8b", family="qwen3", thinking=True, context_length=40960)
    with OllamaServer(["Final Answer: a", "Final Answer: b"],
                      models=[qwen3, FakeModel("llama3:latest")]) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        RLM(model="ollama_chat/qwen3:8b").completion("q")
        RLM(model="ollama_chat/llama3").completion("q")
    first, second = (r.body for r in server.chat_requests())
    assert first["think"] is False and "think" not in second
    assert first["keep_alive"] == second["keep_alive"] == "30m"


NUMBERS = " ".join(str(n * 7919 % 100_000) for n in range(4000))


def numbers_agent(request) -> str:
    """Prints long runs of numbers, as an RLM reading a table or a log does."""
    step = step_of(request.messages)
    if step < 12:
        return code(f"print(context[{(step - 1) * 1500}:{step * 1500}])")
    return "Thought: enough.\nFinal Answer: read"


def test_numbers_are_counted_as_a_digit_splitting_tokenizer_counts_them(model_env):
    """Gemma, Qwen and Mistral spend one token per digit (cl100k packs three): the engine
    must still keep every prompt within the window, and an llm_query too big is refused."""
    with OllamaServer(numbers_agent, models=[FakeModel("tiny:latest", context_length=4096)],
                      tokenizer=DIGITS) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        result = RLM(model="ollama_chat/tiny", max_steps=20).completion("Read", NUMBERS)
        assert result.answer == "read" and server.truncations == []
        sizes = [server.count_prompt(r.body["messages"]) + r.body["options"]["num_predict"]
                 for r in server.chat_requests()]
    assert max(sizes) <= 4096


def test_an_llm_query_of_numbers_that_would_not_fit_is_refused_with_a_chunk_that_does(
        model_env):
    with OllamaServer([code("print(llm_query('Sum: ' + context[:4500]))"), "Final Answer: r"],
                      models=[FakeModel("tiny:latest", context_length=4096)],
                      tokenizer=DIGITS) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        events: list = []
        RLM(model="ollama_chat/tiny", on_event=events.append).completion("q", NUMBERS)
        chunk = int(re.search(r"for example ([\d,]+) characters",
                              [e.text for e in events if e.type == "Observation"][0])
                    .group(1).replace(",", ""))
        fits = server.count_prompt([{"role": "user", "content": "Sum: " + NUMBERS[:chunk]}])
    assert len(server.chat_requests()) == 2  # the llm_query was never sent
    assert fits + 1024 <= 4096  # the advised chunk does fit, with the reply's room
