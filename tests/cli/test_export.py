"""The official-format export of a real run: every field the official visualizer reads,
faithful to what the engine did (call order, wall times, exact prompts, per-block output,
token counts)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rlm import RLM
from rlm import events as ev
from rlm.cli.official import write_official
from rlm.llm.scripted import ScriptedModel
from rlm.trace import open_trace

# Each batched item waits this long: they finish in the order 1, 3, 2, 0.
DELAYS = {"0": 0.4, "1": 0.05, "2": 0.25, "3": 0.15}
LONG_PROMPT = "Summarise this part: " + "lorem ipsum " * 60  # 741 characters
CONTEXT = "The report starts here. " + "Line of the report. " * 200

ROOT_STEP_1 = f"""Thought: ask four models, then four helpers.
```repl
print("first block")
notes = llm_query_batched([{LONG_PROMPT!r} + " item 0", "item 1", "item 2", "item 3"])
```
```repl
kids = rlm_query_batched(["child 0", "child 1", "child 2", "child 3"])
print("second block", len(notes), kids)
```"""


def reply(messages: list[dict], model: str) -> str:
    if len(messages) == 1:  # llm_query: the prompt is the only message
        return f"note on {messages[0]['content'][-6:]}"
    task = messages[1]["content"].split("\n", 1)[0]
    if task.startswith("Task: child"):
        return f"Final Answer: {task[-7:]} done"
    if len(messages) == 2:
        return ROOT_STEP_1
    return "Thought: all in.\nFinal Answer: 8 results"


class SlowItems(ScriptedModel):
    """The scripted model, where an item or child numbered N waits DELAYS[N] first."""

    async def complete(self, messages, **kwargs):
        text = messages[-1]["content"] if len(messages) == 1 else messages[1]["content"]
        found = re.search(r"(?:item|child) (\d)", text.split("\n", 1)[0] if len(messages) > 1
                          else text)
        if found:
            await asyncio.sleep(DELAYS[found.group(1)])
        return await super().complete(messages, **kwargs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[list[dict], SlowItems, Path]:
    folder = tmp_path_factory.mktemp("export")
    model = SlowItems(reply)
    trace = folder / "run.jsonl"
    result = RLM(client=model, model="scripted/m", env={}, max_depth=1).completion(
        "What do the parts say?", CONTEXT, trace=trace)
    assert result.answer == "8 results", result.error
    out = folder / "official.jsonl"
    header, builder = open_trace(trace)
    assert write_official(header, builder, out) == 2
    return [json.loads(line) for line in out.read_text().splitlines()], model, trace


def check_visualizer_fields(iteration: dict[str, Any]) -> int:
    """Assert the types of every field the official visualizer reads; returns the number
    of sub-calls checked (nested children included)."""
    assert isinstance(iteration["prompt"], list) and iteration["prompt"]
    for message in iteration["prompt"]:
        assert set(message) == {"role", "content"}
        assert message["role"] in ("system", "user", "assistant")
        assert isinstance(message["content"], str)
    assert isinstance(iteration["response"], str)
    assert iteration["final_answer"] is None or isinstance(iteration["final_answer"], str)
    assert iteration["iteration_time"] is None or isinstance(iteration["iteration_time"], float)
    calls = 0
    for block in iteration["code_blocks"]:
        assert isinstance(block["code"], str)
        result = block["result"]
        assert isinstance(result["stdout"], str) and isinstance(result["stderr"], str)
        assert isinstance(result["locals"], dict)
        assert isinstance(result["execution_time"], float)
        for call in result["rlm_calls"]:
            assert isinstance(call["prompt"], str) and isinstance(call["response"], str)
            assert isinstance(call["execution_time"], float)
            assert isinstance(call["prompt_tokens"], int) and call["prompt_tokens"] > 0
            assert isinstance(call["completion_tokens"], int) and call["completion_tokens"] > 0
            calls += 1
            for nested in call.get("metadata", {}).get("iterations", []):
                calls += check_visualizer_fields(nested)
    return calls


def test_every_field_the_visualizer_reads_has_its_type(exported):
    (meta, *iterations), _, _ = exported
    assert meta["type"] == "metadata"
    assert sum(check_visualizer_fields(it) for it in iterations) == 8
    assert iterations[-1]["final_answer"] == "8 results"


def test_sub_calls_are_in_call_order_whatever_order_they_finished_in(exported):
    (_, first, _), _, trace = exported
    finished = [e["prompt"][-6:] for e in map(json.loads, trace.read_text().splitlines()[1:])
                if e["type"] == "SubCall" and e["kind"] == "llm_query"]
    assert finished == ["item 1", "item 3", "item 2", "item 0"]  # completion order
    plain, children = (b["result"]["rlm_calls"] for b in first["code_blocks"])
    assert [c["prompt"][-6:] for c in plain] == ["item 0", "item 1", "item 2", "item 3"]
    assert [c["prompt"] for c in children] == ["child 0", "child 1", "child 2", "child 3"]
    assert [c["response"] for c in children] == [f"child {i} done" for i in range(4)]


def test_a_block_takes_its_own_output_and_its_wall_time(exported):
    (_, first, _), _, _ = exported
    one, two = first["code_blocks"]
    assert one["result"]["stdout"] == "first block\n"
    assert two["result"]["stdout"].startswith("second block 4 ['child 0 done'")
    # Block one waited 0.4 s on its slowest item, block two about as long on its children.
    assert one["result"]["execution_time"] >= 0.4
    assert two["result"]["execution_time"] >= 0.4


def test_prompts_are_exactly_what_the_model_got(exported):
    (_, first, second), model, _ = exported
    roots = [c.messages for c in model.calls if len(c.messages) > 1
             and not c.messages[1]["content"].startswith("Task: child")]
    assert first["prompt"] == roots[0] and second["prompt"] == roots[1]
    assert CONTEXT[:300] in first["prompt"][1]["content"]  # the model's preview, not 200 chars
    (plain, *_), children = (b["result"]["rlm_calls"] for b in first["code_blocks"])
    assert plain["prompt"] == LONG_PROMPT + " item 0"  # whole, not its first 300 characters
    child_calls = [c.messages for c in model.calls if len(c.messages) > 1
                   and c.messages[1]["content"].startswith("Task: child 2")]
    assert children[2]["metadata"]["iterations"][0]["prompt"] == child_calls[0]


def test_a_sub_call_carries_its_tokens_a_child_those_of_its_subtree(exported):
    (_, first, _), _, trace = exported
    header, builder = open_trace(trace)
    plain, children = (b["result"]["rlm_calls"] for b in first["code_blocks"])
    events = [e for e in builder.nodes["0"].events if isinstance(e, ev.SubCall)]
    item0 = next(e for e in events if e.prompt.endswith("item 0"))
    assert (plain[0]["prompt_tokens"], plain[0]["completion_tokens"]) == (
        item0.prompt_tokens, item0.completion_tokens)
    child = builder.nodes[next(e.child_id for e in events if e.prompt == "child 1")]
    assert children[1]["prompt_tokens"] == child.usage.prompt_tokens > 0
    summary = children[1]["usage_summary"]["model_usage_summaries"]["scripted/m"]
    assert summary["total_input_tokens"] == child.usage.prompt_tokens


def test_the_trace_keeps_a_sub_call_up_to_its_bound(tmp_path):
    def big(messages, model):
        if len(messages) == 1:
            return "y" * 50_000
        if len(messages) == 2:
            return "```repl\nr = llm_query(context[:1_000_000])\nprint(len(r))\n```"
        return "Final Answer: done"

    trace = tmp_path / "run.jsonl"
    RLM(client=ScriptedModel(big), model="scripted/m", env={}).completion(
        "q", "x" * 2_000_000, trace=trace)
    assert trace.stat().st_size < 200_000
    (call,) = [json.loads(line) for line in trace.read_text().splitlines()
               if '"SubCall"' in line]
    assert (call["prompt_chars"], call["answer_chars"]) == (1_000_000, 50_000)
    assert len(call["prompt"]) < ev.TEXT_CHARS + 100 and len(call["answer"]) < ev.TEXT_CHARS + 100
    assert call["prompt"].startswith("x" * 6000) and "characters cut here" in call["prompt"]


def test_prompts_after_a_history_fold_are_what_the_model_got(tmp_path):
    calls = iter(range(1, 100))

    def steps(messages, model):
        step = next(calls)  # folds take replies out of the chat: count the calls
        if step < 8:
            return f"```repl\nprint('step {step}: ' + 'filler words ' * 150)\n```"
        return "Final Answer: done"

    async def window(name):
        return 4096

    model, trace = ScriptedModel(steps), tmp_path / "run.jsonl"
    RLM(client=model, model="ollama/tiny", env={}, window_lookup=window).completion(
        "q", "x", trace=trace)
    header, builder = open_trace(trace)
    assert any(isinstance(e, ev.HistoryFolded) for e in builder.nodes["0"].events)
    out = tmp_path / "official.jsonl"
    assert write_official(header, builder, out) == len(model.calls) == 8
    prompts = [json.loads(line)["prompt"] for line in out.read_text().splitlines()[1:]]
    assert prompts == [call.messages for call in model.calls]
    assert "moved out of this chat" in prompts[-1][1]["content"]
