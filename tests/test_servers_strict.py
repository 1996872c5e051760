"""The loopback servers behave as the real ones do, checked through the real clients.

Ollama through the ``ollama`` package, llama.cpp and vLLM through ``openai`` (what litellm
uses for them), raw behaviour (headers, stalls) through ``http.client``. What each server
copies, with the source it was copied from, is in the docstrings of ``tests/servers/``.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

import ollama
import openai
import pytest

from rlm.llm.tokens import count_messages
from tests.servers import FakeModel, LlamaCppServer, OllamaServer, OpenAIServer, ThinkingReply

pytestmark = pytest.mark.usefixtures("model_env")  # no proxy, key or host of the developer's

BIG = "alpha " * 1000  # 1,000 cl100k tokens: 1,100 as the servers count them
QWEN3 = FakeModel("qwen3:8b", family="qwen3", thinking=True, context_length=40960)


def client(server: OllamaServer) -> ollama.Client:
    return ollama.Client(host=server.url)


def history(turns: int) -> list[dict]:
    """A system prompt, ``turns`` long old user/assistant messages, a short question."""
    old = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {BIG}"}
           for i in range(turns)]
    return [{"role": "system", "content": "You are terse."}, *old,
            {"role": "user", "content": "What now?"}]


def post(server, path: str, body: dict, timeout: float = 5.0):
    """(status, headers, JSON body) of a raw POST."""
    address = urlparse(server.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, json.loads(data) if data else None


def get(server, path: str):
    address = urlparse(server.url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    conn.request("GET", path)
    data = json.loads(conn.getresponse().read())
    conn.close()
    return data


# --- Ollama: the running window -----------------------------------------------------------
def test_without_num_ctx_a_request_runs_at_the_4096_default_and_is_cut_silently():
    seen = []
    with OllamaServer(lambda r: seen.append(r.messages) or "ok") as server:
        messages = history(5)  # about 5,600 tokens
        reply = client(server).chat(model="llama3", messages=messages)
        [ps] = client(server).ps().models
    [cut] = server.truncations
    assert (cut.num_ctx, ps.context_length) == (4096, 4096)
    assert reply.message.content == "ok"  # no error reaches the client
    assert reply.prompt_eval_count == cut.tokens_after <= 4096 < cut.tokens_before
    assert seen[0] == [messages[0], *messages[3:]]  # the model saw only what was kept


def test_the_oldest_messages_go_first_and_system_and_latest_messages_stay():
    seen = []
    with OllamaServer(lambda r: seen.append(r.messages) or "ok") as server:
        messages = history(3)
        messages.insert(4, {"role": "system", "content": "Be brief."})
        reply = client(server).chat(model="llama3", messages=messages,
                                    options={"num_ctx": 2048})
    [cut] = server.truncations
    assert cut.dropped == messages[1:3]  # two old turns; the mid-history system one stays
    assert seen[0] == [messages[0], *messages[3:]]
    assert reply.prompt_eval_count == server.count_prompt(seen[0]) <= 2048


def test_num_ctx_is_capped_at_the_trained_length_and_a_larger_one_avoids_the_cut():
    small = FakeModel("tiny:latest", context_length=2048)
    with OllamaServer(models=[small, "llama3:latest"]) as server:
        client(server).chat(model="tiny", messages=history(3), options={"num_ctx": 8192})
        client(server).chat(model="llama3", messages=history(5), options={"num_ctx": 8192})
        windows = {m.name: m.context_length for m in client(server).ps().models}
    assert windows == {"tiny:latest": 2048, "llama3:latest": 8192}
    assert [t.model for t in server.truncations] == ["tiny:latest"]


@pytest.mark.parametrize("version, kept", [("0.32.15", 2048 - (2048 - 5) // 2),
                                           ("0.12.6", 2048)])
def test_a_latest_message_longer_than_the_window_is_cut_inside(version, kept):
    with OllamaServer(version=version) as server:
        reply = client(server).chat(model="llama3", options={"num_ctx": 2048},
                                    messages=[{"role": "user", "content": BIG * 3}])
    [cut] = server.truncations
    assert reply.prompt_eval_count == cut.tokens_after == kept
    assert cut.dropped == [] and cut.cut_tokens == cut.tokens_before - kept


def test_with_shift_false_a_prompt_too_long_is_refused():
    with OllamaServer() as server:
        status, _, body = post(server, "/api/chat", {
            "model": "llama3", "shift": False, "options": {"num_ctx": 2048},
            "messages": [{"role": "user", "content": BIG * 3}]})
    assert status == 400 and "longer than the context length" in body["error"]


def test_num_predict_cuts_the_reply_with_done_reason_length():
    with OllamaServer(["one two three four five six seven eight nine ten"]) as server:
        reply = client(server).chat(model="llama3", messages=[{"role": "user", "content": "x"}],
                                    options={"num_predict": 4})
    assert reply.done_reason == "length" and reply.eval_count <= 4
    assert "one two three four five six seven eight nine ten".startswith(
        reply.message.content) and reply.message.content


# --- Ollama: loads, keep_alive, parallel requests -------------------------------------------
def test_a_new_num_ctx_reloads_the_model_and_keep_alive_zero_unloads_it():
    ask = [{"role": "user", "content": "hi"}]
    with OllamaServer(load_delay=0.05) as server:
        first = client(server).chat(model="llama3", messages=ask)
        again = client(server).chat(model="llama3", messages=ask)
        client(server).chat(model="llama3", messages=ask, options={"num_ctx": 8192})
        client(server).chat(model="llama3", messages=ask, keep_alive=0)
        after = client(server).ps().models
    assert [(load.num_ctx, load.previous_num_ctx) for load in server.loads] == [
        (4096, None), (8192, 4096), (4096, 8192)]
    assert first.load_duration >= 50_000_000 and again.load_duration == 0
    assert server.keep_alives == [None, None, None, 0] and after == []


def test_requests_beyond_num_parallel_wait_in_the_server():
    with OllamaServer(lambda r: "ok", latency=0.15) as server:  # OLLAMA_NUM_PARALLEL: 1
        started = time.monotonic()
        threads = [threading.Thread(target=client(server).chat, kwargs={
            "model": "llama3", "messages": [{"role": "user", "content": str(i)}]})
            for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert (server.max_in_flight, server.max_served) == (3, 1)
    assert elapsed >= 0.45


# --- Ollama: thinking ------------------------------------------------------------------------
REASONED = ThinkingReply("The user greets me.", "Hello!")


def test_thinking_goes_to_message_thinking_when_think_is_absent():
    with OllamaServer([REASONED, REASONED], models=[QWEN3]) as server:
        whole = client(server).chat(model="qwen3:8b", messages=[{"role": "user", "content": "hi"}])
        chunks = list(client(server).chat(model="qwen3:8b", stream=True,
                                          messages=[{"role": "user", "content": "hi"}]))
        shown = client(server).show("qwen3:8b")
    assert (whole.message.thinking, whole.message.content) == ("The user greets me.", "Hello!")
    assert "".join(c.message.thinking or "" for c in chunks) == "The user greets me."
    assert "".join(c.message.content for c in chunks) == "Hello!"
    assert chunks[0].message.thinking and not chunks[0].message.content
    assert "thinking" in shown.capabilities


def test_think_false_means_no_thinking_and_old_servers_left_the_tags_in_content():
    ask = {"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}]}
    with OllamaServer([REASONED], models=[QWEN3]) as server:
        off = client(server).chat(**ask, think=False)
    with OllamaServer([REASONED], models=[QWEN3], version="0.11.4") as old:
        raw = client(old).chat(**ask)
    assert (off.message.thinking, off.message.content) == (None, "Hello!")
    assert (raw.message.thinking, raw.message.content) == (
        None, "<think>The user greets me.</think>Hello!")


@pytest.mark.parametrize("version, message", [
    ("0.32.15", '"llama3" does not support thinking'),
    ("0.12.3", "registry.ollama.ai/library/llama3:latest does not support thinking")])
def test_think_true_for_a_model_that_cannot_think_is_a_400(version, message):
    with OllamaServer(version=version) as server, pytest.raises(ollama.ResponseError) as error:
        client(server).chat(model="llama3", messages=[{"role": "user", "content": "hi"}],
                            think=True)
    assert (error.value.status_code, error.value.error) == (400, message)


# --- failure modes -------------------------------------------------------------------------
def test_a_429_carries_retry_after_in_seconds_and_the_openai_client_waits_for_it():
    with OpenAIServer(["fine"]) as server:
        server.fail_next(1, 429, "Rate limit reached", retry_after="0.3")
        api = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=1)
        started = time.monotonic()
        reply = api.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        waited = time.monotonic() - started
    assert reply.choices[0].message.content == "fine" and waited >= 0.3
    assert [r.status for r in server.chat_requests()] == [429, 200]


def test_retry_after_may_be_an_http_date():
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with OllamaServer() as server:
        server.fail_next(1, 503, "busy", retry_after=when)
        status, headers, body = post(server, "/api/chat", {"model": "llama3", "messages": []})
    assert (status, body) == (503, {"error": "busy"})
    assert headers["Retry-After"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert parsedate_to_datetime(headers["Retry-After"]) == when


@pytest.mark.parametrize("mode", ["never", "before_headers_after_connect"])
def test_a_stalled_request_gets_no_answer_and_stop_still_ends_at_once(mode):
    server = OllamaServer().start()
    server.stall_next(1, mode)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        post(server, "/api/chat", {"model": "llama3", "messages": [
            {"role": "user", "content": "hi"}]}, timeout=0.3)
    assert time.monotonic() - started < 2
    address = urlparse(server.url)
    hanging = socket.create_connection((address.hostname, address.port))
    server.stall_next(1, mode)
    hanging.sendall(b'POST /api/chat HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}')
    time.sleep(0.1)
    stopping = time.monotonic()
    server.stop()
    assert time.monotonic() - stopping < 1
    assert hanging.recv(100) == b""  # the server hung up on the stalled request
    hanging.close()
    if mode == "never":
        assert server.chat_requests()[0].stalled == "never"


def test_a_mid_stream_stall_sends_headers_and_a_few_chunks_then_nothing():
    with OllamaServer(["a long reply in many small pieces"], chunk_chars=2) as server:
        server.stall_next(1, "mid_stream")
        address = urlparse(server.url)
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=0.3)
        conn.request("POST", "/api/chat", json.dumps({
            "model": "llama3", "messages": [{"role": "user", "content": "hi"}]}))
        response = conn.getresponse()
        first = response.readline()
        with pytest.raises(TimeoutError):
            response.read()
        conn.close()
    assert response.status == 200 and json.loads(first)["message"]["content"] == "a "


# --- llama.cpp -------------------------------------------------------------------------------
def test_llamacpp_props_slots_and_models_report_the_slot_window():
    with LlamaCppServer() as auto, LlamaCppServer(n_ctx=8192, n_parallel=2) as split:
        props, slots, models = get(auto, "/props"), get(auto, "/slots"), get(auto, "/v1/models")
        split_props = get(split, "/props")
        health = get(auto, "/health")
    assert (props["default_generation_settings"]["n_ctx"], props["total_slots"]) == (4096, 4)
    assert [s["n_ctx"] for s in slots] == [4096] * 4 and health == {"status": "ok"}
    assert models["data"][0]["meta"]["n_ctx_train"] == 131072  # trained, not running
    assert (split_props["default_generation_settings"]["n_ctx"],
            split_props["total_slots"]) == (4096, 2)


@pytest.mark.parametrize("stream", [False, True])
def test_llamacpp_refuses_a_prompt_that_does_not_fit_its_slot(stream):
    with LlamaCppServer(n_ctx=2048) as server:
        status, _, body = post(server, "/v1/chat/completions", {
            "model": "x", "stream": stream, "messages": [{"role": "user", "content": BIG * 2}]})
    error = body["error"]
    assert (status, error["code"], error["type"]) == (400, 400, "exceed_context_size_error")
    assert error["n_ctx"] == 2048 and error["n_prompt_tokens"] > 2048
    assert error["message"] == (f"request ({error['n_prompt_tokens']} tokens) exceeds the "
                                "available context size (2048 tokens), try increasing it")


def test_llamacpp_stops_generating_when_the_slot_is_full_and_reasons_apart():
    reply = ThinkingReply("why", "word " * 400)
    with LlamaCppServer([reply], n_ctx=1200) as server:
        api = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
        answer = api.chat.completions.create(model="x", messages=[
            {"role": "user", "content": "alpha " * 800}])
    choice = answer.choices[0]
    assert choice.finish_reason == "length"
    assert answer.usage.prompt_tokens + answer.usage.completion_tokens <= 1200
    assert choice.message.model_extra["reasoning_content"] == "why"
    assert answer.model == "model.gguf"


# --- vLLM ------------------------------------------------------------------------------------
def test_vllm_reports_max_model_len_and_refuses_prompt_plus_max_tokens_beyond_it():
    with OpenAIServer(max_model_len=2048) as server:
        card = get(server, "/v1/models")["data"][0]
        status, _, body = post(server, "/v1/chat/completions", {
            "model": "m", "max_tokens": 1000,
            "messages": [{"role": "user", "content": BIG + BIG}]})
        fits = openai.OpenAI(base_url=server.url + "/v1", api_key="k").chat.completions.create(
            model="m", max_tokens=100, messages=[{"role": "user", "content": BIG}])
    assert card["max_model_len"] == 2048 and card["owned_by"] == "vllm"
    assert status == 400 and body["error"]["type"] == "BadRequestError"
    assert body["error"]["message"] == (
        "You passed 1049 input tokens and requested 1000 output tokens. However, the model's "
        "context length is only 2048 tokens, resulting in a maximum input length of 1048 "
        "tokens. Please reduce the length of the input prompt. "
        "(parameter=input_tokens, value=1049)")
    assert fits.choices[0].message.content == "ok"


# --- token counts ----------------------------------------------------------------------------
def test_the_servers_count_more_tokens_than_the_engine_estimates():
    messages = [
        {"role": "system", "content": "You are a careful assistant. Answer in one line."},
        {"role": "user", "content": "Summarise: the quick brown fox jumps over the lazy dog."},
        {"role": "assistant", "content": "```python\nprint(sum(x * x for x in range(10)))\n```"},
        {"role": "user", "content": "Observation: 285"}]
    server = OllamaServer()
    engine = count_messages(messages, "ollama/llama3")
    assert server.count_prompt(messages) >= engine * 1.1
