"""Which model a run uses (resolve_model) and the checks made before its first call."""

from __future__ import annotations

import pytest

from rlm.errors import ConfigError, MissingKey, ModelNotFound, ServerUnreachable
from rlm.llm.hosted import groq_models, hosted_providers
from rlm.llm.resolve import preflight, resolve_model
from tests.servers import FakeModel, OpenAIServer

GB = 1_000_000_000


# --- resolve_model -----------------------------------------------------------------------
def test_a_set_model_is_used_as_given():
    model, note = resolve_model(" groq/llama-3.3-70b-versatile ", env={})
    assert model == "groq/llama-3.3-70b-versatile"
    assert note == "using groq/llama-3.3-70b-versatile"


def test_a_malformed_model_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="provider/name"):
        resolve_model("llama3", env={})


def test_with_no_model_set_a_pulled_model_is_picked_and_explained(ollama_server):
    ollama_server.models = [FakeModel("llama3:latest", size=5 * GB),
                            FakeModel("nomic-embed-text:latest", size=GB),
                            FakeModel("qwen2.5-coder:7b", size=5 * GB)]
    model, note = resolve_model(None, env={"OLLAMA_HOST": ollama_server.url})
    assert model == "ollama_chat/qwen2.5-coder:7b"
    assert note == ("using ollama_chat/qwen2.5-coder:7b, the pulled model picked by default, "
                    "picked from 3 pulled models; set RLM_MODEL to choose")
    assert [r.path for r in ollama_server.requests] == ["/api/tags"]


def test_with_no_model_set_and_ollama_down_the_message_gives_both_ways_out(closed_url):
    with pytest.raises(ConfigError) as err:
        resolve_model(None, env={"OLLAMA_HOST": closed_url})
    text = str(err.value)
    assert f"Ollama is not running at {closed_url}" in text
    for hint in ("`ollama serve`", "`ollama pull llama3`",
                 "RLM_MODEL=groq/llama-3.3-70b-versatile", "GROQ_API_KEY"):
        assert hint in text
    assert "\n" not in text


def test_with_no_model_set_and_nothing_pulled_says_ollama_pull(ollama_server):
    ollama_server.models = [FakeModel("nomic-embed-text:latest")]
    with pytest.raises(ConfigError, match=r"no chat model pulled: run `ollama pull llama3`"):
        resolve_model("", env={"OLLAMA_HOST": ollama_server.url})


# --- preflight ---------------------------------------------------------------------------
async def test_preflight_passes_for_a_pulled_model_without_asking_it_anything(ollama_server):
    for model in ("ollama/llama3", "ollama_chat/llama3:latest"):
        await preflight(model, env={"OLLAMA_HOST": ollama_server.url})
    assert ollama_server.chat_requests() == []


async def test_preflight_uses_the_api_base_over_ollama_host(ollama_server, closed_url):
    await preflight("ollama/llama3", api_base=ollama_server.url, env={"OLLAMA_HOST": closed_url})


async def test_preflight_of_a_model_not_pulled(ollama_server):
    with pytest.raises(ModelNotFound, match=r"has no model 'mistral': run `ollama pull "
                                            r"mistral`"):
        await preflight("ollama/mistral", env={"OLLAMA_HOST": ollama_server.url})


async def test_preflight_with_ollama_down(closed_url):
    with pytest.raises(ServerUnreachable, match=f"Ollama is not running at {closed_url}: run "
                                                f"`ollama serve`"):
        await preflight("ollama_chat/llama3", env={"OLLAMA_HOST": closed_url})


@pytest.mark.parametrize(("model", "variable"), [
    ("groq/llama-3.3-70b-versatile", "GROQ_API_KEY"),
    ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
    ("gemini/gemini-2.0-flash", "GEMINI_API_KEY"),
    ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
])
async def test_preflight_of_a_hosted_model_without_its_key(model, variable):
    with pytest.raises(MissingKey, match=f"needs {variable}"):
        await preflight(model, env={})


async def test_preflight_of_a_hosted_model_with_its_key_makes_no_request():
    await preflight("groq/llama-3.3-70b-versatile", env={"GROQ_API_KEY": "gsk-test"})
    await preflight("gemini/gemini-2.0-flash", env={"GOOGLE_API_KEY": "g-test"})


async def test_preflight_of_an_openai_compatible_server(openai_server, closed_url):
    await preflight("openai/local", api_base=openai_server.url + "/v1", env={})
    assert [r.path for r in openai_server.requests] == ["/v1/models"]
    with pytest.raises(ServerUnreachable, match=f"Nothing answers at {closed_url}/v1"):
        await preflight("openai/local", api_base=closed_url + "/v1", env={})


@pytest.mark.parametrize("bad", ["bogus/x", "llama3", "  "])
async def test_preflight_of_a_bad_model_string(bad):
    with pytest.raises(ConfigError, match="ollama_chat/qwen2.5-coder:7b"):
        await preflight(bad, env={})


# --- hosted ------------------------------------------------------------------------------
def test_hosted_providers_are_those_with_a_key_set():
    env = {"GEMINI_API_KEY": "g", "GROQ_API_KEY": "k", "OPENAI_API_KEY": " ", "OTHER": "x"}
    assert hosted_providers(env) == ["groq", "gemini"]
    assert hosted_providers({}) == []


def test_groq_models_lists_chat_models_with_the_key(model_env):
    models = ["llama-3.3-70b-versatile", "whisper-large-v3", "llama-3.1-8b-instant"]
    with OpenAIServer(models=models, api_key="gsk-test") as server:
        found = groq_models({"GROQ_API_KEY": "gsk-test"}, base_url=server.url)
        assert found == ["groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile"]
        assert [r.path for r in server.requests] == ["/openai/v1/models"]
        with pytest.raises(MissingKey, match="refused the API key in GROQ_API_KEY"):
            groq_models({"GROQ_API_KEY": "wrong"}, base_url=server.url)


def test_groq_models_without_a_key_asks_nothing():
    with pytest.raises(MissingKey, match="GROQ_API_KEY"):
        groq_models({})


async def test_an_openai_compatible_api_base_that_does_not_answer_is_said_plainly(closed_url):
    from rlm.errors import ServerUnreachable

    with pytest.raises(ServerUnreachable, match="Nothing answers at"):
        await preflight("openai/tiny", api_base=closed_url + "/v1", env={})


async def test_an_api_base_that_answers_with_an_error_status_is_still_up(openai_server):
    await preflight("openai/tiny", api_base=openai_server.url + "/nowhere", env={})
