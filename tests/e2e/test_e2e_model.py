"""The model layer against a real model: litellm (openai/, ollama/, ollama_chat/) and ollama.

The model is a 270M base model, so these tests assert structure and robustness (tokens
stream, usage is counted, limits and stop sequences hold, errors are typed), never what it
answers. Prompts that make it keep talking ("1, 2, 3, ...") make the limits bite for sure.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import Servers

COUNTING = "Count from one to fifty: 1, 2, 3, 4, 5, 6,"
HELLO = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def litellm() -> Any:
    """litellm, imported only when an e2e test runs (its import is slow)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _ollama(servers: Servers) -> Any:
    import ollama

    return ollama.Client(host=servers.ollama_host, timeout=120)


def _counting_messages() -> list[dict]:
    return [{"role": "user", "content": COUNTING}]


# --- the Ollama client against the front ------------------------------------------------


def test_ollama_lists_the_model_and_shows_its_context_length(e2e_servers: Servers) -> None:
    client = _ollama(e2e_servers)
    names = [m.model for m in client.list().models]
    shown = client.show(e2e_servers.model_name)
    assert names == [e2e_servers.model_name]
    assert shown.modelinfo["gemma3.context_length"] == e2e_servers.n_ctx
    assert client.ps().models[0].model == e2e_servers.model_name


def test_ollama_unknown_model_is_a_404_error(e2e_servers: Servers) -> None:
    import ollama

    client = _ollama(e2e_servers)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat("no-such-model:7b", messages=HELLO)
    assert caught.value.status_code == 404
    assert "not found" in caught.value.error


def test_ollama_chat_streams_tokens_then_counts_usage(e2e_servers: Servers) -> None:
    chunks = list(_ollama(e2e_servers).chat(
        e2e_servers.model_name, messages=_counting_messages(), stream=True,
        options={"num_predict": MAX_TOKENS, "temperature": 0}))
    pieces = [c.message.content for c in chunks if not c.done]
    last = chunks[-1]
    assert len([p for p in pieces if p]) > 3, "the reply did not arrive token by token"
    assert [c.done for c in chunks].count(True) == 1 and last.done
    assert last.done_reason == "length"
    assert 0 < last.eval_count <= MAX_TOKENS + 1
    assert last.prompt_eval_count > len(COUNTING.split())


def test_ollama_chat_whole_reply_counts_exact_usage(e2e_servers: Servers) -> None:
    reply = _ollama(e2e_servers).chat(
        e2e_servers.model_name, messages=_counting_messages(),
        options={"num_predict": MAX_TOKENS, "temperature": 0})
    assert reply.done and reply.done_reason == "length"
    assert reply.eval_count == MAX_TOKENS
    assert reply.message.role == "assistant" and reply.message.content.strip()


def test_streamed_and_whole_counts_agree_on_the_prompt(e2e_servers: Servers) -> None:
    client, options = _ollama(e2e_servers), {"num_predict": 4, "temperature": 0}
    whole = client.chat(e2e_servers.model_name, messages=HELLO, options=options)
    streamed = list(client.chat(e2e_servers.model_name, messages=HELLO, options=options,
                                stream=True))[-1]
    assert streamed.prompt_eval_count == whole.prompt_eval_count


def test_ollama_generate_streams_and_honours_a_stop_sequence(e2e_servers: Servers) -> None:
    client, options = _ollama(e2e_servers), {"num_predict": 40, "temperature": 0}
    free = client.generate(e2e_servers.model_name, prompt=COUNTING, options=options).response
    stop = _a_later_word(free)
    chunks = list(client.generate(e2e_servers.model_name, prompt=COUNTING, stream=True,
                                  options={**options, "stop": [stop]}))
    text = "".join(c.response for c in chunks)
    assert stop not in text
    assert len(text) < len(free)
    assert chunks[-1].done and chunks[-1].done_reason == "stop"


def _a_later_word(text: str) -> str:
    """A word from the second half of ``text``: a stop sequence the model will meet."""
    words = [w for w in text.split() if len(w) >= 2]
    assert len(words) >= 4, f"the model wrote too little to pick a stop word from: {text!r}"
    return words[len(words) // 2]


# --- litellm: openai/ straight at llama.cpp ---------------------------------------------


def _openai(servers: Servers) -> dict:
    return {"model": f"openai/{servers.model_name}", "api_base": servers.openai_base,
            "api_key": "sk-local"}


def test_litellm_openai_whole_reply_has_usage(litellm: Any, e2e_servers: Servers) -> None:
    reply = litellm.completion(**_openai(e2e_servers), messages=_counting_messages(),
                               max_tokens=MAX_TOKENS, temperature=0)
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == MAX_TOKENS
    assert reply.usage.prompt_tokens > len(COUNTING.split())


def test_litellm_openai_streams_tokens(litellm: Any, e2e_servers: Servers) -> None:
    chunks = list(litellm.completion(**_openai(e2e_servers), messages=_counting_messages(),
                                     max_tokens=MAX_TOKENS, temperature=0, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta]
    assert len([p for p in pieces if p]) > 3
    built = litellm.stream_chunk_builder(chunks, messages=_counting_messages())
    assert built.usage.completion_tokens > 0 and built.usage.prompt_tokens > 0


def test_chat_format_stops_at_the_next_user_turn(litellm: Any,
                                                  e2e_servers: Servers) -> None:
    """The server renders plain User:/Assistant: lines and cuts the turns the model invents."""
    messages = [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Tell me about cats, then ask me a question."}]
    replies = [litellm.completion(**_openai(e2e_servers), messages=messages, max_tokens=64,
                                  temperature=0.8, seed=seed).choices[0].message.content
               for seed in (1, 2)]
    assert all("User:" not in reply and "\nAssistant:" not in reply for reply in replies)


# --- litellm: ollama/ and ollama_chat/ through the front --------------------------------


def _via_front(servers: Servers, provider: str) -> dict:
    return {"model": f"{provider}/{servers.model_name}", "api_base": servers.ollama_host}


def test_litellm_ollama_chat_whole_reply_has_exact_usage(litellm: Any,
                                                         e2e_servers: Servers) -> None:
    reply = litellm.completion(**_via_front(e2e_servers, "ollama_chat"),
                               messages=_counting_messages(), max_tokens=MAX_TOKENS, temperature=0)
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == MAX_TOKENS
    assert reply.usage.prompt_tokens > len(COUNTING.split())


def test_litellm_ollama_generate_whole_reply_has_usage(litellm: Any,
                                                       e2e_servers: Servers) -> None:
    """``ollama/`` renders its own "### User:" prompt, so the model may stop early."""
    reply = litellm.completion(**_via_front(e2e_servers, "ollama"),
                               messages=_counting_messages(), max_tokens=MAX_TOKENS, temperature=0)
    assert reply.choices[0].message.content is not None
    assert 0 < reply.usage.completion_tokens <= MAX_TOKENS
    assert reply.usage.prompt_tokens > len(COUNTING.split())


# ``ollama/`` sends chats as one "### User:" prompt, to which this base model mostly writes
# "\nAssistant:" (a stop) at once; a story prompt gets a few words out of it.
@pytest.mark.parametrize(("provider", "messages", "least"), [
    ("ollama", [{"role": "user", "content": "Tell me a story about a cat."}], 1),
    ("ollama_chat", [{"role": "user", "content": COUNTING}], 4)])
def test_litellm_ollama_streams_with_usage(litellm: Any, e2e_servers: Servers, provider: str,
                                           messages: list[dict], least: int) -> None:
    chunks = list(litellm.completion(
        **_via_front(e2e_servers, provider), messages=messages, max_tokens=MAX_TOKENS,
        temperature=0, stream=True, stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta]
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert len([p for p in pieces if p]) >= least
    assert usage and usage[-1].prompt_tokens > 0
    assert 0 < usage[-1].completion_tokens <= MAX_TOKENS + 1


def test_litellm_ollama_chat_honours_stop_sequences(litellm: Any, e2e_servers: Servers) -> None:
    args = {**_via_front(e2e_servers, "ollama_chat"), "messages": _counting_messages(),
            "max_tokens": 40, "temperature": 0}
    free = litellm.completion(**args).choices[0].message.content
    stop = _a_later_word(free)
    stopped = litellm.completion(**args, stop=[stop]).choices[0].message.content
    assert stop not in stopped
    assert len(stopped) < len(free)


async def test_litellm_async_streams_run_side_by_side(litellm: Any,
                                                      e2e_servers: Servers) -> None:
    """Two calls in flight at once (the engine's concurrency) both finish with their usage."""

    async def one(provider: str) -> tuple[str, Any]:
        content = COUNTING if provider == "ollama_chat" else "Tell me a story about a cat."
        stream = await litellm.acompletion(
            **_via_front(e2e_servers, provider), messages=[{"role": "user", "content": content}],
            max_tokens=16, temperature=0, stream=True, stream_options={"include_usage": True})
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            usage = getattr(chunk, "usage", None) or usage
        return text, usage

    results = await asyncio.wait_for(asyncio.gather(one("ollama_chat"), one("ollama")), 90)
    assert all(text for text, _ in results)
    assert all(usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 17
               for _, usage in results)


def test_litellm_unknown_model_raises_not_found(litellm: Any, e2e_servers: Servers) -> None:
    with pytest.raises(litellm.exceptions.NotFoundError) as caught:
        litellm.completion(model="ollama_chat/no-such-model:7b", api_base=e2e_servers.ollama_host,
                           messages=HELLO, max_tokens=8, num_retries=0)
    assert "not found" in str(caught.value)
