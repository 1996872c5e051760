"""Both doors of the model layer, LiteLLMModel (the real litellm client) and DirectModel
(our own HTTP), against the loopback Ollama and OpenAI servers: same results, same errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rlm.errors import (
    ConfigError,
    MissingKey,
    ModelNotFound,
    ModelTimeout,
    ProviderError,
    ServerUnreachable,
)
from rlm.llm.http import DirectModel
from rlm.llm.litellm_model import LiteLLMModel
from rlm.llm.retry import Timeouts, default_backoff
from rlm.llm.tokens import count_messages, count_tokens

REPLY = "Thought: one two three\nObservation: invented by the model"
STOP = ["\nObservation:"]
ASK = [{"role": "system", "content": "You answer."}, {"role": "user", "content": "four five"}]


class Sleeps:
    """A recorder for the waits between tries (so retry tests take no time)."""

    def __init__(self):
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(params=[LiteLLMModel, DirectModel], ids=["litellm", "direct"])
def door(request):
    """Every behaviour holds through litellm and through the direct HTTP door."""
    return request.param


@pytest.fixture(params=["ollama", "ollama_chat", "openai"])
def target(door, request, ollama_server, openai_server):
    """(model string, client, server) for each provider path."""
    provider = request.param
    if provider == "openai":
        llm = door(api_base=openai_server.url + "/v1", env={},
                           sleep=Sleeps())
        return "openai/loopback-model", llm, openai_server
    # No api_base: the Ollama models go to OLLAMA_HOST from the injected env.
    model = door(env={"OLLAMA_HOST": ollama_server.url}, sleep=Sleeps())
    return f"{provider}/llama3", model, ollama_server


def tokens_of_request(server, body: dict) -> int:
    """What the strict loopback servers report as prompt tokens: the prompt they were sent,
    rendered through their chat template (``/api/generate``'s prompt is one user message)."""
    if "prompt" in body:
        return server.count_prompt([{"role": "user", "content": body["prompt"]}])
    return server.count_prompt(body["messages"])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_call_returns_the_reply_cut_at_stop_with_the_servers_usage(target, stream):
    model, llm, server = target
    server.replies = [REPLY]
    pieces: list[str] = []
    reply = await llm.complete(ASK, model=model, stop=STOP,
                               on_token=pieces.append if stream else None)
    assert reply.text == "Thought: one two three"
    assert reply.model == model
    (request,) = server.chat_requests()
    body = request.body
    sent_stop = body["options"]["stop"] if model.startswith("ollama") else body["stop"]
    assert sent_stop == STOP
    # OpenAI clients leave it out when False; the direct door always streams, so that a
    # server that stops answering is noticed between two pieces (RLM_CHUNK_TIMEOUT).
    assert bool(body.get("stream")) is (stream or isinstance(llm, DirectModel))
    assert (reply.prompt_tokens, reply.completion_tokens) == (
        tokens_of_request(server, body), server.tokenizer.count(reply.text))
    assert reply.cost_usd == 0.0  # local model or an api base on this machine
    if stream:
        assert len(pieces) > 1 and "".join(pieces) == reply.text
    else:
        assert pieces == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_usage_is_counted_with_tiktoken_when_the_server_reports_none(target, stream):
    model, llm, server = target
    server.replies = ["supercalifragilistic antidisestablishmentarianism"]
    server.report_usage = False
    reply = await llm.complete(ASK, model=model, on_token=(lambda t: None) if stream else None)
    assert reply.completion_tokens == count_tokens(reply.text, model) == 13  # not 2 words
    if model.startswith("openai") or isinstance(llm, DirectModel):
        assert reply.prompt_tokens == count_messages(ASK, model)
    else:  # litellm counts the prompt it rendered for Ollama itself
        assert reply.prompt_tokens > 0


async def test_each_call_returns_its_own_usage(door, ollama_server):
    ollama_server.replies = lambda r: " ".join(["w"] * len(r.last_content))
    llm = door(env={"OLLAMA_HOST": ollama_server.url})
    short, long = await asyncio.gather(
        llm.complete([{"role": "user", "content": "ab"}], model="ollama_chat/llama3"),
        llm.complete([{"role": "user", "content": "abcdef"}], model="ollama_chat/llama3"))
    # The strict server's counts: 2 and 6 cl100k tokens, x 1.1 rounded up.
    assert (short.completion_tokens, long.completion_tokens) == (3, 7)
    assert not hasattr(llm, "last_usage")


async def test_an_explicit_api_base_beats_ollama_host(door, ollama_server, closed_url):
    llm = door(api_base=ollama_server.url,
                       env={"OLLAMA_HOST": closed_url})
    assert llm.api_base_for("ollama/llama3") == ollama_server.url
    reply = await llm.complete(ASK, model="ollama/llama3")
    assert reply.text == "ok"


def test_without_any_setting_ollama_models_go_to_the_default_host():
    llm = LiteLLMModel(env={})
    assert llm.api_base_for("ollama_chat/llama3") == "http://127.0.0.1:11434"
    assert llm.api_base_for("groq/llama-3.3-70b-versatile") is None
    assert LiteLLMModel(env={"OLLAMA_HOST": "0.0.0.0:9999"}).api_base_for(
        "ollama/x") == "http://127.0.0.1:9999"


def test_complete_sync_answers_twice_in_a_row(door, openai_server):
    openai_server.replies = ["first", "second"]
    llm = door(api_base=openai_server.url + "/v1", env={})
    texts = [llm.complete_sync(ASK, model="openai/m").text for _ in range(2)]
    assert texts == ["first", "second"]


async def test_a_hosted_model_name_on_a_local_api_base_costs_nothing(door, openai_server):
    llm = door(api_base=openai_server.url + "/v1", env={})
    reply = await llm.complete(ASK, model="openai/gpt-4o")
    assert reply.prompt_tokens > 0 and reply.cost_usd == 0.0


# --- retries -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 503, 0], ids=["429", "500", "503", "reset"])
async def test_retryable_failures_are_retried_with_backoff_then_succeed(target, status):
    model, llm, server = target
    server.replies = ["fine"]
    server.fail_next(2, status)
    reply = await llm.complete(ASK, model=model)
    assert reply.text == "fine"
    assert len(server.chat_requests()) == 3
    assert llm.retry.sleep.waits == [default_backoff(0), default_backoff(1)] == [0.5, 1.0]


async def test_a_stream_that_failed_before_its_first_token_is_retried(door, ollama_server):
    ollama_server.replies = ["one two"]
    ollama_server.fail_next(1, 500)
    llm = door(env={"OLLAMA_HOST": ollama_server.url}, sleep=Sleeps())
    pieces: list[str] = []
    reply = await llm.complete(ASK, model="ollama_chat/llama3", on_token=pieces.append)
    assert "".join(pieces) == reply.text == "one two"  # nothing sent twice


async def test_retries_give_up_with_a_provider_error(door, openai_server):
    openai_server.fail_next(10, 500, "the GPU caught fire")
    llm = door(api_base=openai_server.url + "/v1", env={}, retries=2,
                       sleep=Sleeps())
    with pytest.raises(ProviderError, match="after 3 tries: the GPU caught fire") as err:
        await llm.complete(ASK, model="openai/m")
    assert len(openai_server.chat_requests()) == 3
    assert_one_paragraph(err.value)


async def test_a_rate_limit_that_does_not_lift_says_what_to_do(door, openai_server):
    openai_server.fail_next(10, 429, "slow down")
    llm = door(api_base=openai_server.url + "/v1", env={}, retries=1,
                       sleep=Sleeps())
    with pytest.raises(ProviderError, match=r"rate-limited \(429\) after 2 tries.*"
                                            r"RLM_MAX_CONCURRENCY"):
        await llm.complete(ASK, model="openai/m")


async def test_a_timeout_is_retried_then_reported_in_one_line(door, ollama_server):
    ollama_server.latency = 1.0
    llm = door(env={"OLLAMA_HOST": ollama_server.url}, timeouts=Timeouts(first_byte=0.2),
               retries=1, sleep=Sleeps())
    with pytest.raises(ModelTimeout) as err:
        await llm.complete(ASK, model="ollama_chat/llama3")
    assert str(err.value) == (
        f"Ollama at {ollama_server.url}, ollama_chat/llama3: nothing back within 0.2 s of the "
        f"request (tried 2 times); it may be stuck, or still loading the model. If it is only "
        f"slow, raise RLM_FIRST_BYTE_TIMEOUT.")
    assert len(ollama_server.chat_requests()) == 2


# --- errors ------------------------------------------------------------------------------
def assert_one_paragraph(error: BaseException) -> None:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text and len(text) < 600


@pytest.mark.parametrize("provider", ["ollama", "ollama_chat"])
async def test_ollama_not_running_says_run_ollama_serve_without_retrying(door, provider,
                                                                        closed_url):
    sleeps = Sleeps()
    llm = door(env={"OLLAMA_HOST": closed_url}, sleep=sleeps)
    with pytest.raises(ServerUnreachable) as err:
        await llm.complete(ASK, model=f"{provider}/llama3")
    assert str(err.value).startswith(f"Ollama is not running at {closed_url}: run `ollama serve`")
    assert "OLLAMA_HOST" in str(err.value)
    assert sleeps.waits == []  # a refused connection is not worth a retry
    assert_one_paragraph(err.value)


@pytest.mark.parametrize("provider", ["ollama", "ollama_chat"])
async def test_a_model_that_is_not_pulled_says_ollama_pull(door, provider, ollama_server):
    llm = door(env={"OLLAMA_HOST": ollama_server.url}, sleep=Sleeps())
    with pytest.raises(ModelNotFound, match=r"has no model 'qwen2.5:7b': run `ollama pull "
                                            r"qwen2.5:7b`") as err:
        await llm.complete(ASK, model=f"{provider}/qwen2.5:7b")
    assert len(ollama_server.chat_requests()) == 1  # a 404 is not retried
    assert_one_paragraph(err.value)


async def test_an_openai_compatible_server_that_is_down(door, closed_url):
    llm = door(api_base=closed_url + "/v1", env={}, sleep=Sleeps())
    with pytest.raises(ServerUnreachable, match=f"Nothing answers at {closed_url}/v1"):
        await llm.complete(ASK, model="openai/m")


@pytest.mark.parametrize(("model", "variable"), [
    ("groq/llama-3.3-70b-versatile", "GROQ_API_KEY"),
    ("gemini/gemini-2.0-flash", "GEMINI_API_KEY"),
    ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
])
async def test_a_hosted_model_without_its_key_fails_before_any_request(model, variable,
                                                                      openai_server):
    # Even pointed at a live server, nothing is sent: the key check comes first.
    llm = LiteLLMModel(api_base=openai_server.url + "/v1", env={"OTHER": "x"})
    with pytest.raises(MissingKey, match=f"{model} needs {variable}.*, which is not set") as err:
        await llm.complete(ASK, model=model)
    assert openai_server.requests == []
    assert_one_paragraph(err.value)


async def test_openai_without_key_or_api_base_points_at_both_fixes():
    with pytest.raises(MissingKey, match=r"needs OPENAI_API_KEY.*RLM_API_BASE"):
        await LiteLLMModel(env={}).complete(ASK, model="openai/gpt-4o-mini")


async def test_a_refused_key_is_a_missing_key_error_naming_the_variable(door, model_env):
    from tests.servers import OpenAIServer

    with OpenAIServer(api_key="right") as server:
        llm = door(api_base=server.url + "/v1",
                           env={"OPENAI_API_KEY": "wrong"}, sleep=Sleeps())
        with pytest.raises(MissingKey, match="refused the API key in OPENAI_API_KEY"):
            await llm.complete(ASK, model="openai/m")
        assert server.requests[0].headers["authorization"] == "Bearer wrong"
        ok = door(api_base=server.url + "/v1",
                          env={"OPENAI_API_KEY": "right"})
        assert (await ok.complete(ASK, model="openai/m")).text == "ok"


@pytest.mark.parametrize("bad", ["bogus/x", "llama3", "", "ollama/", "ollama/llama 3"])
async def test_a_bad_model_string_lists_the_forms_that_work(bad):
    with pytest.raises(ConfigError) as err:
        await LiteLLMModel(env={}).complete(ASK, model=bad)
    for form in ("ollama/llama3", "ollama_chat/qwen2.5-coder:7b",
                 "groq/llama-3.3-70b-versatile", "openai/<name>", "gemini/"):
        assert form in str(err.value)
    assert_one_paragraph(err.value)


# --- concurrency -------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["ollama_chat", "openai"])
async def test_batches_of_concurrent_calls_keep_their_answers_in_order(door, provider,
                                                                        ollama_server,
                                                                        openai_server):
    server = ollama_server if provider == "ollama_chat" else openai_server
    server.replies = lambda r: f"answer to {r.last_content}"
    server.latency = 0.02
    api_base = server.url + ("/v1" if provider == "openai" else "")
    llm = door(api_base=api_base, env={})
    limit = asyncio.Semaphore(8)

    async def ask(n: int) -> str:
        async with limit:
            reply = await llm.complete([{"role": "user", "content": f"q{n}"}],
                                       model=f"{provider}/llama3")
            return reply.text

    for batch in range(3):
        numbers = range(batch * 20, batch * 20 + 20)
        answers = await asyncio.gather(*(ask(n) for n in numbers))
        assert answers == [f"answer to q{n}" for n in numbers]
    assert len(server.chat_requests()) == 60
    assert server.max_in_flight > 1


# --- import cost -------------------------------------------------------------------------
def test_importing_the_model_layer_does_not_import_litellm():
    code = ("import sys, rlm, rlm.llm, rlm.llm.ollama, rlm.llm.resolve, rlm.llm.tokens\n"
            "import rlm.llm.failures, rlm.llm.http, rlm.llm.factory, rlm.llm.windows\n"
            "heavy = [m for m in ('litellm', 'tiktoken', 'ollama', 'groq', 'openai')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("provider", ["ollama", "ollama_chat", "openai"])
async def test_max_tokens_is_sent_in_each_apis_own_field(door, provider, ollama_server,
                                                        openai_server):
    server = openai_server if provider == "openai" else ollama_server
    api_base = server.url + ("/v1" if provider == "openai" else "")
    llm = door(api_base=api_base, env={})
    await llm.complete(ASK, model=f"{provider}/llama3", max_tokens=7)
    body = server.chat_requests()[0].body
    sent = body["max_tokens"] if provider == "openai" else body["options"]["num_predict"]
    assert sent == 7


# --- the direct door ----------------------------------------------------------------------
async def test_the_direct_door_sends_ollama_models_to_the_chat_api(ollama_server):
    llm = DirectModel(env={"OLLAMA_HOST": ollama_server.url})
    await llm.complete(ASK, model="ollama/llama3")
    (request,) = ollama_server.chat_requests()
    assert request.path == "/api/chat" and request.body["messages"] == ASK


async def test_the_direct_door_keeps_its_connections_alive(openai_server):
    llm = DirectModel(api_base=openai_server.url + "/v1", env={})
    for _ in range(5):
        await llm.complete(ASK, model="openai/m", on_token=lambda t: None)
    ports = {r.client_port for r in openai_server.chat_requests()}
    # Reused, not one connection per call. (Not exactly 1: on a loaded machine the client
    # may ask again before the server thread has taken the finished stream's socket back.)
    assert len(ports) <= 2
    await llm.aclose()
    await llm.complete(ASK, model="openai/m")  # a new session after an early close
    assert openai_server.chat_requests()[-1].client_port not in ports


def test_the_direct_door_never_imports_litellm_and_leaves_nothing_open(ollama_server):
    code = ("import sys, warnings\n"
            "warnings.simplefilter('error', ResourceWarning)\n"
            "from rlm.llm.http import DirectModel\n"
            f"llm = DirectModel(api_base={ollama_server.url!r}, env={{}})\n"
            "for _ in range(2):\n"
            "    print(llm.complete_sync([{'role': 'user', 'content': 'hi'}],"
            " model='ollama_chat/llama3', on_token=lambda t: None).text)\n"
            "print('litellm' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "ok", "False"]
    assert "Unclosed" not in out.stderr and "Traceback" not in out.stderr


# --- the loopback servers themselves -------------------------------------------------------
def test_a_loopback_server_records_requests_and_stops_by_itself(model_env):
    import time

    from rlm.llm.ollama import server_up
    from tests.servers import OllamaServer

    with OllamaServer(lifetime=1.0) as server:
        llm = DirectModel(api_base=server.url, env={})
        assert llm.complete_sync(ASK, model="ollama/llama3").text == "ok"
        (request,) = server.chat_requests()
        settle = time.monotonic() + 5  # the server thread records the end after its last write
        while request.ended is None and time.monotonic() < settle:
            time.sleep(0.01)
        assert request.ended is not None and request.ended >= request.arrived
        assert request.status == 200 and server.in_flight == 0
        url = server.url
        deadline = time.monotonic() + 10
        while server_up(url, timeout=0.5) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not server_up(url, timeout=0.5)  # its lifetime ran out: it stopped itself


async def test_an_exception_from_the_token_callback_reaches_the_caller_unchanged(
        door, ollama_server):
    from rlm.errors import Cancelled

    def stop_now(text: str) -> None:
        raise Cancelled("stop")

    llm = door(env={"OLLAMA_HOST": ollama_server.url}, sleep=Sleeps())
    with pytest.raises(Cancelled):
        await llm.complete(ASK, model="ollama_chat/llama3", on_token=stop_now)
    assert len(ollama_server.chat_requests()) == 1  # and it was not retried


async def test_a_server_out_of_replies_answers_500_and_says_why(openai_server):
    openai_server.replies = ["only one"]
    llm = DirectModel(api_base=openai_server.url + "/v1", env={}, retries=0)
    assert (await llm.complete(ASK, model="openai/m")).text == "only one"
    with pytest.raises(ProviderError, match="ran out of replies after 1 requests"):
        await llm.complete(ASK, model="openai/m")
    error = "AssertionError: OpenAIServer ran out of replies after 1 requests"
    assert openai_server.errors == [error]


async def test_a_servers_context_refusal_says_which_window_to_raise(model_env):
    from tests.servers import LlamaCppServer

    with LlamaCppServer(n_ctx=256) as server:
        llm = DirectModel(server.url + "/v1", env={}, retries=0)
        with pytest.raises(ProviderError, match=r"refused the prompt for openai/m: longer than "
                                                r"the window it runs at .*llama.cpp -c"):
            await llm.complete([{"role": "user", "content": "word " * 400}], model="openai/m")
