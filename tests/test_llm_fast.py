"""rlm.llm.http: the direct HTTP door, against the loopback OpenAI and Ollama servers."""

from __future__ import annotations

import asyncio

import pytest

from rlm import RLM
from rlm.llm import http as llm_fast
from rlm.errors import ModelNotFound, ProviderError, ServerUnreachable
from rlm.llm.http import FastFirstModel, FastModel, supports
from rlm.llm.scripted import ScriptedModel
from tests.servers import OpenAIServer

USER = [{"role": "user", "content": "What is two plus two?"}]


def ask(model: FastModel | FastFirstModel, name: str, **kwargs):
    return asyncio.run(model.complete(USER, model=name, **kwargs))


# --- OpenAI-compatible -------------------------------------------------------------------
def test_openai_whole_reply_and_request(model_env):
    model_env.setenv("OPENAI_API_KEY", "sk-test-key")
    with OpenAIServer(["The answer is 4."]) as server:
        reply = ask(FastModel(server.url + "/v1"), "openai/my-model", stop=["\nObs"],
                    max_tokens=64)
        [request] = server.chat_requests()
    assert reply.text == "The answer is 4."
    assert (reply.prompt_tokens, reply.completion_tokens) == (5, 4)  # server's word counts
    assert reply.model == "openai/my-model" and reply.cost_usd == 0.0
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.body["model"] == "my-model" and request.body["stream"] is False
    assert request.body["stop"] == ["\nObs"] and request.body["max_tokens"] == 64
    assert request.body["messages"] == USER


def test_openai_stream_feeds_every_token_in_order(openai_server):
    openai_server.replies = ["Thought: easy.\nFinal Answer: 4"]
    tokens: list[str] = []
    reply = ask(FastModel(openai_server.url + "/v1"), "openai/m", on_token=tokens.append)
    [request] = openai_server.chat_requests()
    assert reply.text == "Thought: easy.\nFinal Answer: 4"
    assert "".join(tokens) == reply.text and len(tokens) == len(reply.text) // 4 + 1
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert reply.completion_tokens == 5  # from the final usage chunk


def test_stop_sequences_reach_the_server(openai_server):
    openai_server.replies = ["Thought: run it.\nObservation: invented"]
    reply = ask(FastModel(openai_server.url + "/v1"), "openai/m", stop=["Observation:"],
                on_token=lambda _: None)
    assert reply.text == "Thought: run it.\n"


def test_usage_is_counted_when_the_server_reports_none(model_env):
    with OpenAIServer(["four"], report_usage=False) as server:
        reply = ask(FastModel(server.url + "/v1"), "openai/m")
    assert reply.prompt_tokens > 5 and reply.completion_tokens == 1


def test_concurrent_calls_each_get_their_own_answer(openai_server):
    openai_server.replies = lambda request: "A:" + request.last_content
    openai_server.latency = 0.05
    model = FastModel(openai_server.url + "/v1")

    async def fan_out():
        return await asyncio.gather(*(
            model.complete([{"role": "user", "content": f"Q{i}"}], model="openai/m")
            for i in range(24)))

    replies = asyncio.run(fan_out())
    assert [r.text for r in replies] == [f"A:Q{i}" for i in range(24)]
    assert openai_server.max_in_flight > 1


def test_a_new_event_loop_gets_fresh_connections(openai_server):
    openai_server.replies = lambda request: "ok"
    model = FastModel(openai_server.url + "/v1")
    assert ask(model, "openai/m").text == "ok"
    assert ask(model, "openai/m").text == "ok"  # the first loop and its sockets are gone
    assert len(openai_server.chat_requests()) == 2


# --- Ollama ------------------------------------------------------------------------------
def test_ollama_chat_streamed_and_whole(ollama_server):
    ollama_server.replies = ["Final Answer: 4", "Final Answer: 5"]
    model = FastModel(env={"OLLAMA_HOST": ollama_server.url})
    tokens: list[str] = []
    streamed = ask(model, "ollama/llama3", on_token=tokens.append, stop=["Observation:"],
                   max_tokens=32)
    whole = ask(model, "ollama_chat/llama3")
    first, second = ollama_server.chat_requests()
    assert streamed.text == "".join(tokens) == "Final Answer: 4"
    assert whole.text == "Final Answer: 5" and not second.body["stream"]
    assert first.path == "/api/chat" and first.body["model"] == "llama3"
    assert first.body["options"] == {"stop": ["Observation:"], "num_predict": 32}
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (5, 3)
    assert "authorization" not in first.headers


def test_ollama_model_not_pulled_says_how_to_pull(ollama_server):
    with pytest.raises(ModelNotFound, match="ollama pull mistral"):
        ask(FastModel(ollama_server.url), "ollama/mistral")


# --- failures ----------------------------------------------------------------------------
def test_nothing_listening_is_unreachable_at_once(closed_url):
    with pytest.raises(ServerUnreachable, match="Start the server, or fix RLM_API_BASE"):
        ask(FastModel(closed_url + "/v1"), "openai/m")


def test_unknown_model_on_an_openai_server(model_env):
    with OpenAIServer(["x"], models=["served"]) as server, \
            pytest.raises(ModelNotFound, match="has no model 'other'"):
        ask(FastModel(server.url + "/v1"), "openai/other")


def test_refused_key_names_the_variable(model_env):
    model_env.setenv("OPENAI_API_KEY", "wrong")
    with OpenAIServer(["x"], api_key="right") as server, \
            pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        ask(FastModel(server.url + "/v1"), "openai/m")


def test_server_errors_are_retried_then_reported(openai_server, monkeypatch):
    monkeypatch.setattr(llm_fast, "BACKOFF", 0.0)
    openai_server.replies = lambda request: "recovered"
    openai_server.fail_next(2, 503)
    assert ask(FastModel(openai_server.url + "/v1"), "openai/m").text == "recovered"
    openai_server.fail_next(3, 500, "the GPU fell over")
    with pytest.raises(ProviderError, match="HTTP 500: the GPU fell over"):
        ask(FastModel(openai_server.url + "/v1"), "openai/m")
    assert len(openai_server.chat_requests()) == 6


def test_a_dropped_connection_is_retried(openai_server, monkeypatch):
    monkeypatch.setattr(llm_fast, "BACKOFF", 0.0)
    openai_server.replies = lambda request: "after the drop"
    openai_server.fail_next(1, 0)
    assert ask(FastModel(openai_server.url + "/v1"), "openai/m").text == "after the drop"


# --- choosing the door -------------------------------------------------------------------
def test_supports_local_and_openai_compatible_servers_only():
    assert supports("ollama/llama3") and supports("ollama_chat/qwen2.5:7b")
    assert supports("openai/any", "http://127.0.0.1:8000/v1")
    assert not supports("openai/gpt-4o")  # hosted OpenAI: litellm
    assert not supports("groq/llama-3.3-70b-versatile", "http://127.0.0.1:8000/v1")


def test_fast_first_sends_other_providers_to_the_fallback(openai_server):
    openai_server.replies = ["from the server"]
    fallback = ScriptedModel(["from the fallback"])
    model = FastFirstModel(openai_server.url + "/v1", fallback=fallback)
    assert ask(model, "openai/m").text == "from the server"
    assert ask(model, "groq/llama-3.3-70b-versatile").text == "from the fallback"
    assert [c.model for c in fallback.calls] == ["groq/llama-3.3-70b-versatile"]


def test_the_engine_runs_through_the_fast_door(openai_server):
    openai_server.replies = ["Thought: compute.\n```repl\nprint(6 * 7)\n```",
                             "Thought: seen it.\nFinal Answer: 42"]
    rlm = RLM(model="openai/m", client=FastFirstModel(openai_server.url + "/v1"))
    result = rlm.completion("What is six times seven?")
    assert result.answer == "42" and result.status == "answered"
    _, second = openai_server.chat_requests()
    assert second.body["messages"][-1]["content"].startswith("Observation:")
    assert "42" in second.body["messages"][-1]["content"]
    assert result.usage.calls == 2


def test_chunked_bodies_decode_across_any_split():
    body = b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n"
    for cut in range(1, len(body)):
        payload, rest, ended = llm_fast._unchunk(body[:cut])
        more, rest, ended = llm_fast._unchunk(rest + body[cut:])
        assert (payload + more, rest, ended) == (b"abcdefg", b"", True)
