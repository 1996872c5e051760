"""``rlm models``: the Ollama server and its models, hosted providers with a key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.servers import OllamaServer
from tests.servers.ollama import FakeModel

REPO = Path(__file__).resolve().parents[2]
KEY = "gsk-test-key-value-0123456789"


def rlm(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO,
                          env={**os.environ, **(env or {})})


def test_models_lists_the_pulled_models_and_the_providers_with_keys(model_env):
    pulled = [FakeModel("llama3:latest"),
              FakeModel("qwen2.5:7b", size=4_683_087_332, parameter_size="7.6B",
                        context_length=32768)]
    with OllamaServer(models=pulled) as server:
        url = server.url
        done = rlm("models", env={"OLLAMA_HOST": url, "GROQ_API_KEY": KEY,
                                  "RLM_NUM_CTX": "16384"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Ollama: up at {url}"
    assert lines[1].split() == ["MODEL", "SIZE", "PARAMS", "RUNS", "AT", "TRAINED"]
    # The window it runs at beside the one it was trained for: the setting, capped.
    assert lines[2].split() == ["ollama_chat/llama3:latest", "4.7", "GB", "8.0B", "8,192",
                                "8,192"]
    assert lines[3].split() == ["ollama_chat/qwen2.5:7b", "4.7", "GB", "7.6B", "16,384",
                                "32,768"]
    assert "runs at: the num_ctx setting" in done.stdout
    assert "Hosted providers with a key set: groq" in done.stdout
    assert "--model groq/llama-3.3-70b-versatile" in done.stdout
    assert KEY not in done.stdout + done.stderr


def test_models_json(model_env):
    with OllamaServer() as server:
        url = server.url
        done = rlm("models", "--json", env={"OLLAMA_HOST": url})
    facts = json.loads(done.stdout)
    assert facts["ollama"] == {"host": url, "up": True, "from": "OLLAMA_HOST"}
    (model,) = facts["local_models"]
    assert (model["model"], model["context_length"]) == ("ollama_chat/llama3:latest", 8192)
    assert model["window"]["trained"] == 8192 and model["window"]["running"] <= 8192
    assert facts["hosted_providers"] == [] and facts["rlm_model"] is None


def test_models_says_when_ollama_is_not_running(closed_url):
    done = rlm("models", env={"OLLAMA_HOST": closed_url})
    assert done.returncode == 0
    assert f"Ollama: not running at {closed_url} (start it with `ollama serve`" in done.stdout
    assert "Hosted providers: no key set" in done.stdout


def test_models_says_when_nothing_is_pulled(model_env):
    with OllamaServer(models=()) as server:
        done = rlm("models", env={"OLLAMA_HOST": server.url, "RLM_MODEL": "ollama/llama3"})
    assert "no models pulled: run `ollama pull llama3`" in done.stdout
    assert "RLM_MODEL: ollama/llama3" in done.stdout


def test_a_thinking_model_says_so_and_a_small_one_runs_at_its_trained_window(model_env):
    pulled = [FakeModel("qwen3:8b", family="qwen3", thinking=True, context_length=40960),
              FakeModel("tiny:latest", context_length=2048)]
    with OllamaServer(models=pulled) as server:
        done = rlm("models", env={"OLLAMA_HOST": server.url})
    qwen3, tiny = done.stdout.splitlines()[2:4]
    assert qwen3.endswith("40,960  can think")
    assert tiny.split()[-2:] == ["2,048", "2,048"]


def test_models_with_a_profile_checks_each_host_of_its_deployments(model_env, tmp_path,
                                                                   closed_url):
    with OllamaServer() as up:
        profile = tmp_path / "hosts.toml"
        profile.write_text(f'[[deployments]]\nmodel = "ollama/llama3"\napi_base = "{up.url}"\n'
                           f'max_parallel_requests = 2\n[[deployments]]\nmodel = '
                           f'"ollama/llama3"\napi_base = "{closed_url}"\n')
        done = rlm("models", "--profile", str(profile), env={"OLLAMA_HOST": up.url,
                                                             "RLM_NUM_CTX": "4096"})
        url = up.url
    assert done.returncode == 0, done.stderr
    assert (f"Deployment ollama/llama3 at {url}: up, ollama/llama3 there, runs at 4,096 of "
            f"8,192 tokens, 2 slot(s)") in done.stdout
    assert f"Deployment ollama/llama3 at {closed_url}: DOWN or unusable: Ollama is not " \
           f"running" in done.stdout
