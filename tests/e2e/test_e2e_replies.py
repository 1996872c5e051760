"""What the real model writes when it is asked to work as an agent.

``real_replies.json`` beside this file holds real replies to the engine's own prompts
(``rlm.core.prompts``), for offline parser tests. Re-record it with
``E2E_RECORD_REPLIES=1 uv run pytest -m e2e tests/e2e/test_e2e_replies.py`` (a few minutes).
Replies are recorded raw: no ``Observation:`` stop, so invented observations stay visible
(the engine sends ``rlm.core.parse.OBSERVATION_STOP`` and would cut them).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Servers

RECORDING = Path(__file__).with_name("real_replies.json")
MAX_TOKENS = 256
SAMPLINGS = ({"temperature": 0.0}, {"temperature": 0.8, "seed": 7})
FILLER = "The weather report for day {i} says clouds, light wind and no surprises."


def _agent(task: str, context: Any, *, task_is_context: bool = False) -> list[dict]:
    from rlm.context import describe
    from rlm.core.prompts import first_message, system_prompt

    info = describe(context)
    return [{"role": "system", "content": system_prompt(info)},
            {"role": "user", "content": first_message(task, info,
                                                      task_is_context=task_is_context)}]


def _haystack() -> str:
    lines = [FILLER.format(i=i) for i in range(2000)]
    lines[1234] = "The magic number is 4711."
    return "\n".join(lines)


def _then(messages: list[dict], reply: str, observation: str) -> list[dict]:
    return [*messages, {"role": "assistant", "content": reply},
            {"role": "user", "content": observation}]


def scenarios() -> dict[str, list[dict]]:
    """Agent-style conversations, first steps and later ones, named for the fixture file."""
    from rlm.core.prompts import BEST_ANSWER, FORMAT_REMINDER, observation

    needle = _agent("What is the magic number?", _haystack())
    search = ("Thought: I will search the context for the magic number.\n```repl\n"
              "hits = [l for l in context.splitlines() if 'magic number' in l]\nprint(hits)\n```")
    log = "\n".join(f"2024-01-0{i % 9 + 1} {'ERROR disk full' if i % 7 == 0 else 'INFO ok'}"
                    for i in range(60))
    article = " ".join(f"Paragraph {i}: the committee met, argued and adjourned."
                       for i in range(60))
    return {
        "needle_first_step": needle,
        "small_text_question": _agent(
            "Who wrote the first published program, according to the context?",
            "Ada Lovelace published the first algorithm meant for a machine in 1843."),
        "count_error_lines": _agent("How many lines contain ERROR?", log),
        "sum_of_list": _agent("What is the sum of the numbers?", list(range(1, 41))),
        "dict_lookup": _agent("Which city is in the record?",
                              {"name": "Grace", "city": "Arlington", "year": "1952"}),
        "no_context_arithmetic": _agent("What is 17 * 23?", "What is 17 * 23?",
                                        task_is_context=True),
        "long_prompt_as_context": _agent("Summarize this article: " + article,
                                         "Summarize this article: " + article,
                                         task_is_context=True),
        "after_good_observation": _then(needle, search,
                                        observation("['The magic number is 4711.']")),
        "after_error_observation": _then(needle, search, observation(
            "Traceback (most recent call last):\n  File \"<repl>\", line 1\n"
            "NameError: name 'contxt' is not defined")),
        "after_format_reminder": _then(needle, "The magic number is probably 42.",
                                       FORMAT_REMINDER),
        "best_answer_after_limit": _then(needle, search, BEST_ANSWER.format(
            reason="the step limit (20) was reached")),
        "llm_query_plain": [{"role": "user", "content":
                             "Summarize in one sentence: " + article[:600]}],
    }


def _chat(servers: Servers, messages: list[dict], sampling: dict, max_tokens: int) -> dict:
    body = {"messages": messages, "max_tokens": max_tokens, **sampling}
    request = urllib.request.Request(
        servers.openai_base + "/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_real_agent_replies_parse(e2e_servers: Servers) -> None:
    """Real replies to the engine's own prompts go through the reply parser."""
    from rlm.core.parse import parse_reply

    conversations = scenarios()
    for name in ("needle_first_step", "after_good_observation"):
        reply = _chat(e2e_servers, conversations[name], {"temperature": 0.0}, 96)
        text = reply["choices"][0]["message"]["content"]
        parsed = parse_reply(text)
        assert text.startswith(parsed.text), f"{name}: the parser changed the reply"
        assert parsed.observation_cut == (len(parsed.text) < len(text.rstrip())), name
        assert reply["usage"]["completion_tokens"] > 0, name


@pytest.mark.skipif(not os.environ.get("E2E_RECORD_REPLIES"),
                    reason="set E2E_RECORD_REPLIES=1 to re-record tests/e2e/real_replies.json")
@pytest.mark.timeout(3600)
def test_record_real_replies(e2e_servers: Servers) -> None:
    records = []
    for name, messages in scenarios().items():
        for sampling in SAMPLINGS:
            reply = _chat(e2e_servers, messages, sampling, MAX_TOKENS)
            choice = reply["choices"][0]
            records.append({"name": name, "sampling": sampling, "max_tokens": MAX_TOKENS,
                            "messages": messages, "reply": choice["message"]["content"],
                            "finish_reason": choice["finish_reason"], "usage": reply["usage"]})
    header = {"model": e2e_servers.model_name, "served_by": "llama-cpp-python 0.3.36",
              "chat_format": "plain 'User: ...' / 'Assistant:' lines, stop at 'User:'",
              "observation_stop": False}
    RECORDING.write_text(json.dumps({"about": header, "replies": records}, indent=1) + "\n")
    assert len(records) == len(scenarios()) * len(SAMPLINGS)
    assert all(r["usage"]["completion_tokens"] > 0 for r in records)
