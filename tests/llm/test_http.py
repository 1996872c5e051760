"""rlm.llm.http: what is particular to the direct HTTP door (wire formats, connections,
chunked bodies, which calls take it). What both doors share is in test_doors.py."""

from __future__ import annotations

import asyncio

import pytest

from rlm import RLM
from rlm.errors import ModelNotFound
from rlm.llm import wire
from rlm.llm.factory import LocalFirstModel
from rlm.llm.http import DirectModel, supports
from rlm.llm.scripted import ScriptedModel
from tests.servers import OpenAIServer

USER = [{"role": "user", "content": "What is two plus two?"}]


def ask(model: DirectModel | LocalFirstModel, name: str, **kwargs):
    return asyncio.run(model.complete(USER, model=name, **kwargs))


# --- OpenAI-compatible -------------------------------------------------------------------
def test_openai_whole_reply_and_request(model_env):
    model_env.setenv("OPENAI_API_KEY", "sk-test-key")
    with OpenAIServer(["The answer is 4."]) as server:
        reply = ask(DirectModel(server.url + "/v1"), "openai/my-model", stop=["\nObs"],
                    max_tokens=64)
        [request] = server.chat_requests()
    assert reply.text == "The answer is 4."
    assert (reply.prompt_tokens, reply.completion_tokens) == (17, 7)  # the server's counts
    assert reply.model == "openai/my-model" and reply.cost_usd == 0.0
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.body["model"] == "my-model" and request.body["stream"] is True  # always
    assert request.body["stop"] == ["\nObs"] and request.body["max_tokens"] == 64
    assert request.body["messages"] == USER


def test_openai_stream_feeds_every_token_in_order(openai_server):
    openai_server.replies = ["Thought: easy.\nFinal Answer: 4"]
    tokens: list[str] = []
    reply = ask(DirectModel(openai_server.url + "/v1"), "openai/m", on_token=tokens.append)
    [request] = openai_server.chat_requests()
    assert reply.text == "Thought: easy.\nFinal Answer: 4"
    assert "".join(tokens) == reply.text and len(tokens) == len(reply.text) // 4 + 1
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert reply.completion_tokens == 10  # from the final usage chunk


def test_stop_sequences_reach_the_server(openai_server):
    openai_server.replies = ["Thought: run it.\nObservation: invented"]
    reply = ask(DirectModel(openai_server.url + "/v1"), "openai/m", stop=["Observation:"],
                on_token=lambda _: None)
    assert reply.text == "Thought: run it.\n"


def test_usage_is_counted_when_the_server_reports_none(model_env):
    with OpenAIServer(["four"], report_usage=False) as server:
        reply = ask(DirectModel(server.url + "/v1"), "openai/m")
    assert reply.prompt_tokens > 5 and reply.completion_tokens == 1


def test_concurrent_calls_each_get_their_own_answer(openai_server):
    openai_server.replies = lambda request: "A:" + request.last_content
    openai_server.latency = 0.05
    model = DirectModel(openai_server.url + "/v1")

    async def fan_out():
        return await asyncio.gather(*(
            model.complete([{"role": "user", "content": f"Q{i}"}], model="openai/m")
            for i in range(24)))

    replies = asyncio.run(fan_out())
    assert [r.text for r in replies] == [f"A:Q{i}" for i in range(24)]
    assert openai_server.max_in_flight > 1


def test_a_new_event_loop_gets_fresh_connections(openai_server):
    openai_server.replies = lambda request: "ok"
    model = DirectModel(openai_server.url + "/v1")
    assert ask(model, "openai/m").text == "ok"
    assert ask(model, "openai/m").text == "ok"  # the first loop and its sockets are gone
    assert len(openai_server.chat_requests()) == 2


# --- Ollama ------------------------------------------------------------------------------
def test_ollama_chat_streamed_and_whole(ollama_server):
    ollama_server.replies = ["Final Answer: 4", "Final Answer: 5"]
    model = DirectModel(env={"OLLAMA_HOST": ollama_server.url})
    tokens: list[str] = []
    streamed = ask(model, "ollama/llama3", on_token=tokens.append, stop=["Observation:"],
                   max_tokens=32)
    whole = ask(model, "ollama_chat/llama3")
    first, second = ollama_server.chat_requests()
    assert streamed.text == "".join(tokens) == "Final Answer: 4"
    assert whole.text == "Final Answer: 5" and second.body["stream"]  # streamed all the same
    assert first.path == "/api/chat" and first.body["model"] == "llama3"
    assert first.body["options"] == {"stop": ["Observation:"], "num_predict": 32}
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (17, 6)  # server's counts
    assert "authorization" not in first.headers


# --- failures ----------------------------------------------------------------------------
def test_unknown_model_on_an_openai_server(model_env):
    with OpenAIServer(["x"], models=["served"]) as server, \
            pytest.raises(ModelNotFound, match="openai/other was not found at"):
        ask(DirectModel(server.url + "/v1"), "openai/other")


def test_ollama_host_without_a_port_means_ollamas_port():
    assert DirectModel(env={"OLLAMA_HOST": "gpu-box"}).api_base_for(
        "ollama/llama3") == "http://gpu-box:11434"
    assert DirectModel(env={"OLLAMA_HOST": "0.0.0.0"}).api_base_for(
        "ollama/llama3") == "http://127.0.0.1:11434"


# --- choosing the door -------------------------------------------------------------------
def test_supports_local_and_openai_compatible_servers_only():
    assert supports("ollama/llama3") and supports("ollama_chat/qwen2.5:7b")
    assert supports("openai/any", "http://127.0.0.1:8000/v1")
    assert not supports("openai/gpt-4o")  # hosted OpenAI: litellm
    assert not supports("groq/llama-3.3-70b-versatile", "http://127.0.0.1:8000/v1")


def test_local_first_sends_other_providers_to_the_fallback(openai_server):
    openai_server.replies = ["from the server"]
    fallback = ScriptedModel(["from the fallback"])
    model = LocalFirstModel(openai_server.url + "/v1", fallback=fallback)
    assert ask(model, "openai/m").text == "from the server"
    assert ask(model, "groq/llama-3.3-70b-versatile").text == "from the fallback"
    assert [c.model for c in fallback.calls] == ["groq/llama-3.3-70b-versatile"]


def test_the_engine_runs_through_the_direct_door(openai_server):
    openai_server.replies = ["Thought: compute.\n```repl\nprint(6 * 7)\n```",
                             "Thought: seen it.\nFinal Answer: 42"]
    rlm = RLM(model="openai/m", client=LocalFirstModel(openai_server.url + "/v1"))
    result = rlm.completion("What is six times seven?")
    assert result.answer == "42" and result.status == "answered"
    _, second = openai_server.chat_requests()
    assert second.body["messages"][-1]["content"].startswith("Observation:")
    assert "42" in second.body["messages"][-1]["content"]
    assert result.usage.calls == 2


def test_chunked_bodies_decode_across_any_split():
    body = b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n"
    for cut in range(1, len(body)):
        payload, rest, ended = wire.unchunk(body[:cut])
        more, rest, ended = wire.unchunk(rest + body[cut:])
        assert (payload + more, rest, ended) == (b"abcdefg", b"", True)
