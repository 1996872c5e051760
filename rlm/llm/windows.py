"""How many tokens a model reads in one call, as its server really runs it.

A local model runs at its *running* window, not the one it was trained for: Ollama runs a
model at ``num_ctx`` (its own small default, 4096 on most machines, when a request does not
set it) and silently drops the oldest messages of a longer prompt; llama.cpp runs each slot
at the ``n_ctx`` it was started with and refuses a longer prompt; vLLM refuses one longer
than ``max_model_len``. The engine decides each model's running window once per run
(``decide_window``), sends it to Ollama on every call, and keeps every prompt within it.

For Ollama the window is, in order: the setting (``num_ctx`` per model in a profile, then
``RLM_NUM_CTX``), capped at the trained window; else ``default_num_ctx``: the largest power
of two whose KV cache fits in the memory the machine can spare (see its docstring), never
below Ollama's own default of 4096 and never above the trained window or 32,768. For an
OpenAI-compatible server the server says (llama.cpp's ``/props``, vLLM's ``/v1/models``),
else the setting; for hosted models litellm's table. A scripted or unknown model has no
window unless the setting gives one, and then nothing is checked.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from rlm.llm.providers import (
    OPENAI_COMPATIBLE,
    is_ollama,
    model_name,
    ollama_server,
    ollama_tagged,
    provider_of,
)

OLLAMA_DEFAULT_NUM_CTX = 4096   # Ollama's own default below 23 GiB of VRAM (since 0.6.7)
MAX_DEFAULT_NUM_CTX = 32_768    # a bigger window costs memory and prompt time on a laptop
REMOTE_DEFAULT_NUM_CTX = 8192   # a server on another machine: its memory is unknown here
MEMORY_SHARE = 0.5              # of this machine's RAM, for the weights and the KV cache
PROBE_TIMEOUT = 5.0             # seconds for /props or /v1/models: a local server is quick


@dataclass(frozen=True)
class Window:
    """A model's window as the engine will run it.

    Attributes:
        model: the model string.
        running: tokens one call may use, prompt and reply (``None``: unknown, unchecked).
        trained: the window the model was trained for, when known.
        source: how ``running`` was decided, in words for ``--dry-run`` and the trace.
        num_ctx: sent to Ollama as ``options.num_ctx`` on every call (None elsewhere).
        parallel: calls the server serves at once, when it says (llama.cpp's slots).
        thinking: the model can think (Ollama's ``thinking`` capability).
    """

    model: str
    running: int | None
    trained: int | None = None
    source: str = "unknown"
    num_ctx: int | None = None
    parallel: int | None = None
    thinking: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"running": self.running, "trained": self.trained, "source": self.source,
                "num_ctx": self.num_ctx, "parallel": self.parallel, "thinking": self.thinking}


async def decide_window(model: str, *, api_base: str | None = None,
                        env: Mapping[str, str] | None = None, num_ctx: int | None = None,
                        model_num_ctx: Mapping[str, int] | None = None) -> Window:
    """The running window of ``model`` for a run with these settings.

    Raises:
        ServerUnreachable, ModelNotFound: Ollama cannot describe the model.
    """
    env = os.environ if env is None else env
    asked = num_ctx_for(model, model_num_ctx or {}) or num_ctx
    if is_ollama(model):
        return await _ollama_window(model, ollama_server(api_base, env), asked,
                                    ollama_parallel(env))
    provider = provider_of(model)
    if provider in OPENAI_COMPATIBLE and api_base:
        found = await asyncio.to_thread(_server_window, model, api_base)
        if found is not None:
            return found
    elif provider and provider != "scripted":
        from rlm.llm.pricing import context_window

        trained = await asyncio.to_thread(context_window, model)
        if trained:
            return Window(model, asked or trained, trained, "litellm's table of models")
    if asked:
        return Window(model, asked, None, "the num_ctx setting")
    return Window(model, None)


def num_ctx_for(model: str, table: Mapping[str, int]) -> int | None:
    """``model``'s entry in a ``[num_ctx]`` table. An Ollama model is one model whichever
    way it is written: ``ollama/llama3`` and ``ollama_chat/llama3:latest`` find each other."""
    if model in table:
        return table[model]
    if not is_ollama(model):
        return None
    wanted = ollama_tagged(model_name(model))
    return next((tokens for name, tokens in table.items()
                 if is_ollama(name) and ollama_tagged(model_name(name)) == wanted), None)


def ollama_parallel(env: Mapping[str, str]) -> int:
    """The requests Ollama serves at once: ``OLLAMA_NUM_PARALLEL`` when it is set here (the
    server usually runs with this machine's environment), else its default of 1."""
    raw = (env.get("OLLAMA_NUM_PARALLEL") or "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


async def _ollama_window(model: str, host: str, asked: int | None, parallel: int) -> Window:
    from rlm.llm.ollama import describe, model_size

    facts = await describe(model, host)
    size = await model_size(model, host) if _is_this_machine(host) and not asked else 0
    return ollama_window(model, host, facts.context_length, facts.kv_bytes_per_token, size,
                         asked=asked, parallel=parallel, thinking=facts.thinking)


def ollama_window(model: str, host: str, trained: int | None, kv_bytes_per_token: int | None,
                  size: int, *, asked: int | None = None, parallel: int = 1,
                  thinking: bool = False) -> Window:
    """The window of a pulled Ollama model from what ``/api/show`` and ``/api/tags`` said
    (``rlm models`` and the TUI's picker call this for every pulled model)."""
    from rlm.llm.ollama import memory_bytes

    if asked:
        running = min(asked, trained) if trained else asked
        source = "the num_ctx setting" + (f" (capped at the trained {trained:,})"
                                          if trained and asked > trained else "")
    elif _is_this_machine(host):
        running, source = default_num_ctx(trained, kv_bytes_per_token, size, memory_bytes(),
                                          parallel)
    else:
        running = min(trained or REMOTE_DEFAULT_NUM_CTX, REMOTE_DEFAULT_NUM_CTX)
        source = "default for a server on another machine (set RLM_NUM_CTX to change it)"
    return Window(model, running, trained, source, num_ctx=running, parallel=parallel,
                  thinking=thinking)


def default_num_ctx(trained: int | None, kv_bytes_per_token: int | None, model_bytes: int,
                    ram_bytes: int, parallel: int = 1) -> tuple[int, str]:
    """The window Ollama should run a model at on this machine, and why.

    The weights and the KV cache must fit in ``MEMORY_SHARE`` of the RAM together; the
    largest power of two of tokens whose cache (``kv_bytes_per_token`` each, times the
    server's parallel slots) fits in what the weights leave is the window, kept between
    Ollama's own default (4,096) and the smaller of the trained window and 32,768. Example:
    Llama 3 8B (4.7 GB, 128 KiB of cache per token) on 16 GB of RAM: 8 GB - 4.7 GB leaves
    room for 25,000 tokens, so 16,384.
    """
    ceiling = min(trained or MAX_DEFAULT_NUM_CTX, MAX_DEFAULT_NUM_CTX)
    floor = min(OLLAMA_DEFAULT_NUM_CTX, ceiling)
    if trained and trained <= floor:
        return trained, "the model's trained window"
    if not kv_bytes_per_token or not ram_bytes:
        return floor, "Ollama's default (the model's shape or this machine's memory is unknown)"
    spare = MEMORY_SHARE * ram_bytes - model_bytes
    fits = int(spare // (kv_bytes_per_token * max(1, parallel))) if spare > 0 else 0
    window = floor
    while window * 2 <= min(fits, ceiling):
        window *= 2
    gib, cache = ram_bytes / 2 ** 30, kv_bytes_per_token * window / 2 ** 30
    if window * 2 <= ceiling and fits < window:
        return window, (f"Ollama's default: {gib:.0f} GiB of RAM leave no room for a bigger "
                        f"KV cache next to the weights")
    what = "the model's trained window" if window == trained else f"default for {gib:.0f} GiB"
    return window, (f"{what}: its KV cache ({cache:.1f} GiB) and the weights fit in half "
                    f"the RAM")


def _is_this_machine(host: str) -> bool:
    name = urlparse(host).hostname or ""
    return name in ("localhost", "127.0.0.1", "::1") or name.startswith("127.")


# --- OpenAI-compatible servers that say their window -------------------------------------
def _server_window(model: str, api_base: str) -> Window | None:
    """llama.cpp's ``/props`` (the slot's ``n_ctx``, ``total_slots``), else vLLM's
    ``/v1/models`` (``max_model_len``); ``None`` when the server says neither."""
    root = api_base.rstrip("/")
    root = root[:-3] if root.endswith("/v1") else root
    props = _get_json(f"{root}/props") or {}
    settings = props.get("default_generation_settings") or {}
    if settings.get("n_ctx"):
        trained = _llama_cpp_trained(api_base)
        return Window(model, int(settings["n_ctx"]), trained, "the server's /props (n_ctx)",
                      parallel=int(props.get("total_slots") or 0) or None)
    cards = [c for c in (_get_json(f"{api_base.rstrip('/')}/models") or {}).get("data") or ()
             if isinstance(c, dict) and c.get("max_model_len")]
    named = [c for c in cards if c.get("id") == model_name(model)]
    if named or len(cards) == 1:  # one served model answers whatever name it is called by
        length = int((named or cards)[0]["max_model_len"])
        return Window(model, length, length, "the server's /v1/models (max_model_len)")
    return None


def _llama_cpp_trained(api_base: str) -> int | None:
    listed = _get_json(f"{api_base.rstrip('/')}/models") or {}
    for card in listed.get("data") or ():
        trained = (card.get("meta") or {}).get("n_ctx_train")
        if trained:
            return int(trained)
    return None


def _get_json(url: str) -> dict | None:
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=PROBE_TIMEOUT) as reply:
            data = json.loads(reply.read() or b"null")
    except (OSError, ValueError):  # not this kind of server, or not up: it does not say
        return None
    return data if isinstance(data, dict) else None

