"""Which model a run uses, and whether it can be used, checked before the first call.

``resolve_model`` turns the setting (or its absence) into a litellm model string and a note
for the user; ``preflight`` checks, without asking for a completion, that the model can
answer: Ollama up and the model pulled, the hosted provider's key set, the api base up.
Each failure is a typed error (``rlm.errors``) whose message says what to run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rlm.errors import ConfigError, ServerUnreachable
from rlm.llm.ollama import alist_models, list_models, not_pulled, pick_default
from rlm.llm.providers import (
    check_model_string,
    is_ollama,
    model_name,
    needs_known_provider_check,
    ollama_host,
    ollama_server,
    ollama_tagged,
    require_key,
)

HOSTED_EXAMPLE = "RLM_MODEL=groq/llama-3.3-70b-versatile with GROQ_API_KEY"


def resolve_model(settings_model: str | None, *,
                  env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The litellm model string to use, and a note saying where it came from.

    A set model is checked for shape only. With none set, the pulled Ollama models are
    listed (at ``OLLAMA_HOST``) and ``rlm.llm.ollama.pick_default`` chooses one, as
    ``ollama_chat/<name>`` (Ollama applies the model's own chat template).

    Raises:
        ConfigError: the string is malformed, or none is set and no local model is usable.
    """
    env = os.environ if env is None else env
    if settings_model and settings_model.strip():
        model = check_model_string(settings_model)
        return model, f"using {model}"
    host = ollama_host(env)
    try:
        models = list_models(host, describe=False)
    except ServerUnreachable:
        raise ConfigError(
            f"No model is set and Ollama is not running at {host}. Start Ollama (`ollama "
            f"serve`) and pull a model (`ollama pull llama3`), or use a hosted one: "
            f"{HOSTED_EXAMPLE}.") from None
    name = pick_default(models)
    if name is None:
        raise ConfigError(
            f"No model is set and Ollama at {host} has no chat model pulled: run `ollama pull "
            f"llama3` (or set RLM_MODEL, for example {HOSTED_EXAMPLE}).")
    model = f"ollama_chat/{name}"
    others = len(models) - 1
    choice = f", picked from {others + 1} pulled models" if others > 0 else ""
    return model, (f"using {model}, the pulled model picked by default{choice}; set RLM_MODEL "
                   f"to choose")


async def preflight(model: str, api_base: str | None = None,
                    env: Mapping[str, str] | None = None) -> None:
    """Check that ``model`` can be called, without asking it anything.

    Raises:
        ConfigError: the model string is not one litellm knows.
        ServerUnreachable: Ollama (or the api base) does not answer.
        ModelNotFound: Ollama answers but the model is not pulled.
        MissingKey: the hosted provider's key is not set.
    """
    env = os.environ if env is None else env
    model = check_model_string(model)
    if needs_known_provider_check(model):
        from rlm.llm.litellm_loader import load_litellm

        check_model_string(model, load_litellm().provider_list)
    if is_ollama(model):
        await _check_ollama(model, ollama_server(api_base, env))
        return
    require_key(model, env, api_base)
    if api_base:
        await _check_reachable(model, api_base)


async def _check_ollama(model: str, host: str) -> None:
    pulled = await alist_models(host, with_details=False)  # ServerUnreachable: `ollama serve`
    name = model_name(model)
    if not any(m.name in (name, ollama_tagged(name)) for m in pulled):
        raise not_pulled(name, host)


async def _check_reachable(model: str, api_base: str, timeout: float = 5.0) -> None:
    """Any HTTP answer from ``<api_base>/models`` will do; only silence is an error.

    urllib, not httpx: a new httpx client costs ~50 ms (an SSL context, even for http://)
    and importing httpx ~0.7 s, which the bench saw in every cold start."""
    import asyncio

    try:
        await asyncio.to_thread(_probe, api_base.rstrip("/") + "/models", timeout)
    except OSError as exc:
        raise ServerUnreachable(
            f"Nothing answers at {api_base} for {model} ({type(exc).__name__}): start that "
            f"server, or fix the api base (RLM_API_BASE or --api-base).", model=model) from None


def _probe(url: str, timeout: float) -> None:
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        opener.open(url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # an error status is still an answer
