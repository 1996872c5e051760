"""Ollama discovery through the real ``ollama`` client against the loopback Ollama server."""

from __future__ import annotations

import pytest

from rlm.errors import ModelNotFound, ServerUnreachable
from rlm.llm.ollama import (
    LocalModel,
    alist_models,
    aserver_up,
    context_length,
    list_models,
    ollama_host,
    pick_default,
    server_up,
)
from tests.servers import FakeModel

GB = 1_000_000_000


def pulled(*models: FakeModel | str):
    return [m if isinstance(m, FakeModel) else FakeModel(m) for m in models]


def test_server_up_tells_a_running_server_from_a_closed_port(ollama_server, closed_url):
    assert server_up(ollama_server.url) is True
    assert server_up(closed_url) is False


async def test_aserver_up_too(ollama_server, closed_url):
    assert await aserver_up(ollama_server.url) is True
    assert await aserver_up(closed_url) is False


def test_list_models_reads_tags_and_the_context_length_from_show(ollama_server):
    ollama_server.models = pulled(
        FakeModel("qwen2.5-coder:7b", size=4 * GB, family="qwen2", parameter_size="7.6B",
                  context_length=32768),
        FakeModel("llama3:latest", size=5 * GB, family="llama", parameter_size="8.0B",
                  context_length=8192))
    models = list_models(ollama_server.url)
    kv = 2 * 2 * 32 * 8 * 128  # the fake's Llama 3 shape: 128 KiB of KV cache per token
    assert models == [
        LocalModel("qwen2.5-coder:7b", 4 * GB, "qwen2", "7.6B", 32768, ("completion",), kv),
        LocalModel("llama3:latest", 5 * GB, "llama", "8.0B", 8192, ("completion",), kv)]
    assert models[0].model == "ollama_chat/qwen2.5-coder:7b"
    shown = [r.body["model"] for r in ollama_server.requests if r.path == "/api/show"]
    assert shown == ["qwen2.5-coder:7b", "llama3:latest"]


def test_list_models_without_describing_sends_only_the_tags_request(ollama_server):
    models = list_models(ollama_server.url, describe=False)
    assert [m.name for m in models] == ["llama3:latest"] and models[0].context_length is None
    assert [r.path for r in ollama_server.requests] == ["/api/tags"]


async def test_alist_models_gives_the_same_answer(ollama_server):
    assert await alist_models(ollama_server.url) == list_models(ollama_server.url)


def test_list_models_uses_ollama_host_when_no_host_is_given(ollama_server):
    # The fixture points OLLAMA_HOST at the loopback server.
    assert [m.name for m in list_models()] == ["llama3:latest"]


@pytest.mark.parametrize("call", ["sync", "async"])
async def test_listing_a_server_that_is_down_says_run_ollama_serve(call, closed_url):
    with pytest.raises(ServerUnreachable, match=f"Ollama is not running at {closed_url}: run "
                                                f"`ollama serve`"):
        if call == "sync":
            list_models(closed_url)
        else:
            await alist_models(closed_url)


async def test_context_length_of_one_model(ollama_server):
    ollama_server.models = pulled(FakeModel("qwen2.5:7b", context_length=32768))
    assert await context_length("ollama/qwen2.5:7b", api_base=ollama_server.url) == 32768
    with pytest.raises(ModelNotFound, match="run `ollama pull mistral`"):
        await context_length("ollama_chat/mistral", api_base=ollama_server.url)


@pytest.mark.parametrize(("raw", "url"), [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:9999", "http://127.0.0.1:9999"),
    ("gpu-box", "http://gpu-box:11434"),
    ("gpu-box:8080/", "http://gpu-box:8080"),
    ("https://ollama.example.org", "https://ollama.example.org:443"),
    ("http://[::1]:11434", "http://[::1]:11434"),
])
def test_ollama_host_is_read_like_ollama_reads_it(raw, url):
    env = {} if raw is None else {"OLLAMA_HOST": raw}
    assert ollama_host(env) == url


# --- pick_default ------------------------------------------------------------------------
def local(name: str, size: float = 4.0) -> LocalModel:
    return LocalModel(name, int(size * GB))


def test_a_coder_model_beats_an_instruct_model_which_beats_anything_else():
    models = [local("llava:7b"), local("llama3.1:8b"), local("qwen2.5-coder:7b")]
    assert pick_default(models, max_bytes=16 * GB) == "qwen2.5-coder:7b"
    assert pick_default(models[:2], max_bytes=16 * GB) == "llama3.1:8b"
    assert pick_default(models[:1], max_bytes=16 * GB) == "llava:7b"


def test_embedding_models_are_never_picked():
    assert pick_default([local("nomic-embed-text"), local("mxbai-embed-large")]) is None
    assert pick_default([local("nomic-embed-text"), local("llama3")]) == "llama3"
    assert pick_default([]) is None


def test_the_largest_model_that_fits_wins_else_the_smallest():
    models = [local("qwen2.5-coder:1.5b", 1), local("qwen2.5-coder:7b", 4.7),
              local("qwen2.5-coder:32b", 20)]
    assert pick_default(models, max_bytes=16 * GB) == "qwen2.5-coder:7b"
    assert pick_default(models, max_bytes=64 * GB) == "qwen2.5-coder:32b"
    assert pick_default(models, max_bytes=GB // 2) == "qwen2.5-coder:1.5b"


def test_base_and_text_tags_come_last():
    models = [local("llama3:text", 5), local("phi3:mini", 2)]
    assert pick_default(models, max_bytes=16 * GB) == "phi3:mini"


def test_ties_go_to_the_name():
    assert pick_default([local("mistral:7b"), local("gemma2:9b")], max_bytes=16 * GB) == \
        "gemma2:9b"


def test_the_default_window_is_what_the_machine_can_hold():
    from rlm.llm.windows import default_num_ctx

    kv, gib = 2 * 2 * 32 * 8 * 128, 2 ** 30  # Llama 3 8B: 128 KiB of KV cache per token
    weights = 4_700_000_000
    assert default_num_ctx(131_072, kv, weights, 16 * gib)[0] == 16_384  # 3.3 GB spare
    assert default_num_ctx(131_072, kv, weights, 64 * gib)[0] == 32_768  # capped
    assert default_num_ctx(131_072, kv, weights, 8 * gib)[0] == 4096     # Ollama's own
    assert default_num_ctx(8192, kv, weights, 64 * gib)[0] == 8192       # its trained one
    assert default_num_ctx(2048, kv, weights, 64 * gib) == (2048, "the model's trained window")
    assert default_num_ctx(131_072, kv, weights, 16 * gib, parallel=4)[0] == 4096
    assert default_num_ctx(131_072, None, weights, 16 * gib)[0] == 4096  # shape unknown


def test_a_num_ctx_table_finds_an_ollama_model_however_it_is_written():
    from rlm.llm.windows import num_ctx_for

    table = {"ollama/llama3": 8192, "ollama_chat/qwen3:8b": 16384, "openai/m": 2048}
    assert num_ctx_for("ollama_chat/llama3:latest", table) == 8192
    assert num_ctx_for("ollama/qwen3:8b", table) == 16384
    assert num_ctx_for("ollama/qwen3:4b", table) is None
    assert num_ctx_for("openai/m", table) == 2048 and num_ctx_for("hosted_vllm/m", table) is None
