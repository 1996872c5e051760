"""Profiles (TOML) and the Router model that spreads calls over deployments."""

from __future__ import annotations

import asyncio
import random

import pytest

from rlm.config import Settings
from rlm.errors import ConfigError, ProviderError
from rlm.llm.factory import LocalFirstModel, make_model
from rlm.llm.router import RouterModel
from rlm.llm.spread import SpreadModel
from rlm.profiles import load_profile, parse_profile, shipped_profiles
from tests.servers import OllamaServer, OpenAIServer


def test_the_three_shipped_profiles_load_and_make_valid_settings():
    assert shipped_profiles() == ["hosted", "hybrid", "local-only"]
    for name in shipped_profiles():
        profile = load_profile(name)
        assert profile.description
        Settings.resolve(env={}, **profile.settings)  # every value is a valid setting


def test_shipped_profiles_say_what_they_promise():
    local, hybrid, hosted = (load_profile(n) for n in ("local-only", "hybrid", "hosted"))
    assert local.local_only and "model" not in local.settings  # RLM_MODEL or a pulled model
    assert hybrid.settings["sub_model"].startswith("groq/") and "model" not in hybrid.settings
    assert hosted.settings["model"].startswith("groq/")
    assert hosted.settings["sub_model"].startswith("groq/")
    assert hosted.settings["depth_models"] == {1: "groq/llama-3.3-70b-versatile"}
    assert hosted.settings["max_cost"] == 1.0


def test_a_profile_file_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('model = "ollama/qwen2.5:7b"\n[limits]\nmax_steps = 7\ntimeout = 90\n'
                    '[depth_models]\n1 = "ollama/llama3"\n')
    profile = load_profile(str(path))
    assert profile.name == "mine"
    assert profile.settings == {"model": "ollama/qwen2.5:7b", "max_steps": 7, "timeout": 90,
                                "depth_models": {1: "ollama/llama3"}}
    assert Settings.resolve(env={}, **profile.settings).model_for_depth(1) == "ollama/llama3"


@pytest.mark.parametrize(("text", "message"), [
    ("max_steps = 3", r"unknown key\(s\) max_steps \(limits go under \[limits\]\)"),
    ("[limits]\nmax_stepz = 3", r"unknown key\(s\) limits.max_stepz"),
    ('[limits]\nmax_steps = "3"', r"max_steps = '3' has the wrong type"),
    ("[limits]\nmax_steps = true", r"max_steps = True has the wrong type"),
    ('[depth_models]\none = "x"', r"\[depth_models\] wants lines like"),
    ('[[deployments]]\napi_base = "http://h"', r"each deployment needs model"),
    ('[[deployments]]\nmodel = "ollama/a"\napi_key = "sk-123"', r"variable with api_key_env"),
    ("model = ", r"not valid TOML"),
    ('local_only = true\nsub_model = "groq/x"', r"local-only, but the run would use groq/x"),
])
def test_bad_profiles_say_what_is_wrong(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_profile(text, name="bad")


def test_unknown_profile_names_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match="Unknown profile 'fast'. Shipped profiles: hosted, "
                                          "hybrid, local-only"):
        load_profile("fast")
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile(str(tmp_path / "missing.toml"))


def test_local_only_refuses_hosted_models_chosen_elsewhere():
    profile = load_profile("local-only")
    profile.check_models(["ollama/llama3", "ollama_chat/qwen2.5:7b"])
    with pytest.raises(ConfigError, match="would use groq/llama-3.3-70b-versatile"):
        profile.check_models(["ollama/llama3", "groq/llama-3.3-70b-versatile"])


# --- deployments and the Router -----------------------------------------------------------
def two_host_profile(first: str, second: str, **extra: str):
    lines = [f"{k} = {v}" for k, v in extra.items()]
    for url in (first, second):
        lines += ["[[deployments]]", 'model = "ollama/llama3"', f'api_base = "{url}"']
    return parse_profile("\n".join(lines), name="two-hosts")


def test_local_deployments_are_spread_by_the_engine_and_hosted_ones_by_litellm():
    profile = two_host_profile("http://a:11434", "http://b:11434")
    assert profile.settings["model"] == "ollama/llama3"
    assert profile.deployment_groups == ["ollama/llama3"]
    client = client_of(profile)
    assert isinstance(client, SpreadModel) and client.spread == {"ollama/llama3"}
    assert [h["host"] for h in client.status()["ollama/llama3"]] == [
        "http://a:11434", "http://b:11434"]
    assert isinstance(client.fallback, LocalFirstModel)  # other models: the usual doors
    router = client_of(profile, env={"RLM_DIRECT_HTTP": "0"})  # litellm for local servers
    assert isinstance(router, RouterModel)
    assert [e["litellm_params"]["api_base"] for e in router.model_list()] == [
        "http://a:11434", "http://b:11434"]
    assert isinstance(client_of(load_profile("hosted")), LocalFirstModel)


def test_api_key_env_is_read_from_the_environment_not_the_file(model_env):
    with OpenAIServer(api_key="sk-secret-1") as server:
        profile = parse_profile(f'[[deployments]]\nmodel = "openai/m"\napi_base = '
                                f'"{server.url}/v1"\napi_key_env = "MY_KEY"', name="k")
        assert ask(client_of(profile, env={"MY_KEY": "sk-secret-1"}), "openai/m").text == "ok"
        router = client_of(profile, env={"MY_KEY": "sk-secret-1", "RLM_DIRECT_HTTP": "0"})
        assert router.model_list()[0]["litellm_params"]["api_key"] == "sk-secret-1"


def client_of(profile, env=None):
    """The client a run with ``profile`` uses (built by the one factory)."""
    env = {} if env is None else env
    return make_model(Settings.resolve(env=env, profile=profile.settings),
                      deployments=profile.deployments, router_options=profile.router, env=env)


def ask(client, model="ollama/llama3", text="hi", **kwargs):
    return asyncio.run(client.complete([{"role": "user", "content": text}], model=model,
                                       **kwargs))


LITELLM = {"RLM_DIRECT_HTTP": "0"}  # local deployments through litellm's Router


def test_the_router_spreads_calls_over_two_servers(model_env):
    with OllamaServer(lambda r: "from A") as a, OllamaServer(lambda r: "from B") as b:
        client = client_of(two_host_profile(a.url, b.url), env=LITELLM)
        random.seed(7)  # litellm's simple-shuffle draws from the global random
        texts = [ask(client).text for _ in range(12)]
    assert set(texts) == {"from A", "from B"}
    assert len(a.chat_requests()) + len(b.chat_requests()) == 12
    assert texts.count("from A") == len(a.chat_requests())


def test_router_streams_tokens_and_reports_usage_per_call(model_env):
    with OllamaServer(["Thought: one two three"], chunk_chars=3) as a:
        client = client_of(two_host_profile(a.url, a.url), env=LITELLM)
        pieces: list[str] = []
        reply = ask(client, text="four five", on_token=pieces.append, stop=["\nObservation:"])
    assert reply.text == "Thought: one two three" and "".join(pieces) == reply.text
    assert len(pieces) > 1
    # The server's own counts (of the prompt litellm rendered, "### User: four five", in the
    # model's chat template; tokens as the strict loopback server counts them).
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cost_usd) == (17, 6, 0.0)
    body = a.chat_requests()[0].body
    assert body["options"]["stop"] == ["\nObservation:"]


def test_router_goes_on_when_one_host_is_down(model_env, closed_url):
    with OllamaServer(lambda r: "alive") as a:
        profile = two_host_profile(closed_url, a.url, router="{ num_retries = 2 }")
        client = client_of(profile, env=LITELLM)
        random.seed(1)
        texts = [ask(client).text for _ in range(4)]
    assert texts == ["alive"] * 4


def test_router_failure_names_the_hosts(model_env, closed_url):
    profile = two_host_profile(closed_url, closed_url, router="{ num_retries = 0 }")
    with pytest.raises(ProviderError, match=f"Every deployment of ollama/llama3 failed "
                                            f"\\({closed_url}, {closed_url}\\)"):
        ask(client_of(profile, env=LITELLM))


def test_models_outside_the_deployments_go_to_the_fallback(model_env):
    from rlm.llm.scripted import ScriptedModel

    fallback = ScriptedModel(["from the fallback"])
    with OpenAIServer(lambda r: "routed") as server:
        profile = parse_profile(f'[[deployments]]\nmodel = "openai/m"\napi_base = '
                                f'"{server.url}/v1"\napi_key_env = "K"', name="o")
        client = RouterModel(profile.deployments, env={"K": "sk-x"}, fallback=fallback)
        assert ask(client, model="openai/m").text == "routed"
        assert ask(client, model="ollama/other").text == "from the fallback"
    assert fallback.calls[0].model == "ollama/other"
    assert server.chat_requests()[0].headers["authorization"] == "Bearer sk-x"


def test_a_profile_sends_models_outside_its_deployments_through_the_direct_door(model_env):
    with OpenAIServer(lambda r: "routed") as routed, OllamaServer(lambda r: "local") as local:
        profile = parse_profile(f'[[deployments]]\nmodel = "openai/m"\napi_base = '
                                f'"{routed.url}/v1"', name="o")
        client = client_of(profile, env={"OLLAMA_HOST": local.url})
        assert ask(client, model="ollama_chat/llama3").text == "local"
    (request,) = local.chat_requests()
    assert request.headers["user-agent"] == "rlm"  # our door, not litellm's client
