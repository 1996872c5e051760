"""The whole engine over real HTTP: litellm talks to loopback Ollama / OpenAI servers."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rlm import RLM
from rlm.sandbox import procs
from rlm.trace import load_tree
from tests.engine_helpers import code, task_of, turn
from tests.servers.ollama import OllamaServer
from tests.servers.openai import OpenAIServer

PLAN = {
    "root": [code("print(rlm_query_batched(['child a', 'child b', 'child c']))"),
             "Thought: all three answered.\nFinal Answer: a b c"],
    "child a": [code("print(rlm_query('grandchild'))"), "Final Answer: a"],
    "child b": ["Final Answer: b"],
    "child c": ["Final Answer: c"],
    "grandchild": [code("print(llm_query('plain?'))"), "Final Answer: g"],
}


def reply(request) -> str:
    task = task_of(request.messages)
    if task.startswith("LLM:"):
        return "plain answer"
    return PLAN[task][turn(request.messages)]


def no_sandbox_left() -> bool:
    """No process carries a sandbox marker of this test process (run ids start with our pid;
    other test sessions on the machine have their own)."""
    return not procs.find(f"{os.getpid()}-", prefix=True, roots=frozenset(), seen=set())


def test_a_tree_over_openai_http_has_the_right_shape_and_children_overlap(model_env):
    model_env.setenv("OPENAI_API_KEY", "sk-loopback-not-secret-1")
    with OpenAIServer(reply, latency=0.3) as server:
        rlm = RLM(model="openai/tiny", api_base=server.url + "/v1", max_concurrency=4)
        result = rlm.completion("root")
    assert result.answer == "a b c" and result.status == "answered"
    shape = [(n.agent_id, n.parent_id, n.depth) for n in result.agents]
    assert shape == [("0", None, 0), ("0.1", "0", 1), ("0.1.1", "0.1", 2),
                     ("0.2", "0", 1), ("0.3", "0", 1)]
    assert server.max_in_flight >= 2  # the batched children really ran at once
    assert result.usage.calls == len(server.chat_requests()) == 9
    assert result.usage.prompt_tokens > 0 and result.usage.cost_usd == 0
    assert no_sandbox_left()  # five forked workers, their middles and the template


@pytest.mark.parametrize("provider", ["ollama", "ollama_chat"])
def test_one_agent_over_the_ollama_api_streams_and_answers(model_env, provider):
    replies = [code("print(len(context))"), "Thought: seen.\nFinal Answer: 11"]
    with OllamaServer(replies) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        events = []
        rlm = RLM(model=f"{provider}/llama3", on_event=events.append)
        result = rlm.completion("How long is the context?", context="hello world")
    assert result.answer == "11"
    assert sum(e.type == "TokenDelta" for e in events) >= 2
    observation = next(e.text for e in events if e.type == "Observation")
    assert observation.strip() == "11"
    assert result.usage.by_model[f"{provider}/llama3"].calls == 2


def test_cancel_mid_run_leaves_no_process_and_a_readable_trace(model_env, tmp_path):
    forever = code("import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)\n"
                   "print(rlm_query_batched(['x', 'y']))")

    def slow(request):
        task = task_of(request.messages)
        if task in ("x", "y"):
            return code("import time; time.sleep(30)")
        return forever

    model_env.setenv("OPENAI_API_KEY", "sk-loopback-not-secret-1")
    with OpenAIServer(slow) as server:
        rlm = RLM(model="openai/tiny", api_base=server.url + "/v1", action_timeout=120)
        started = threading.Event()
        rlm.subscribe(lambda e: e.type == "CodeStarted" and e.agent_id != "0" and started.set())
        timer = threading.Thread(target=lambda: started.wait(60) and rlm.cancel())
        timer.start()
        result = rlm.completion("root", trace=tmp_path / "t.jsonl")
        timer.join()
    assert result.status == "cancelled"
    assert no_sandbox_left()
    _, tree = load_tree(Path(result.trace_path))
    assert {(n.agent_id, n.status) for n in tree.agents()} == {
        ("0", "cancelled"), ("0.1", "cancelled"), ("0.2", "cancelled")}
    assert tree.run_finished.status == "cancelled"


@pytest.mark.parametrize("direct", ["1", "0"])
def test_both_doors_to_a_local_server_give_the_same_run(model_env, direct):
    """RLM_DIRECT_HTTP=1 (default) talks HTTP itself; 0 goes through litellm."""
    model_env.setenv("RLM_DIRECT_HTTP", direct)
    model_env.setenv("OPENAI_API_KEY", "sk-loopback-not-secret-1")
    with OpenAIServer(reply) as server:
        result = RLM(model="openai/tiny", api_base=server.url + "/v1").completion("root")
        agents = {r.headers.get("user-agent", "") for r in server.chat_requests()}
    assert result.answer == "a b c" and len(result.agents) == 5
    assert (agents == {"rlm"}) == (direct == "1")  # our own HTTP client, or litellm's


def test_the_model_is_checked_once_per_rlm_not_per_run(model_env):
    with OllamaServer(["Final Answer: 1", "Final Answer: 2"]) as server:
        model_env.setenv("OLLAMA_HOST", server.url)
        rlm = RLM(model="ollama_chat/llama3")

        def checks() -> int:
            return sum(r.path in ("/api/show", "/api/tags") for r in server.requests)

        assert rlm.completion("q").answer == "1"
        first = checks()
        assert rlm.completion("q").answer == "2"
    assert first >= 1 and checks() == first  # no second check
