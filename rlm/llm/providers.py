"""Model strings, provider keys and Ollama hosts: checks that need no network and no litellm.

A model string is litellm's ``provider/name`` (``ollama/llama3``, ``groq/llama-3.3-70b-
versatile``). These helpers say which provider a string names, which environment variable
holds its key, and raise the typed error with the fix when something is missing, so a
hosted model with no key fails before any request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

from rlm.errors import ConfigError, MissingKey

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
OLLAMA_PROVIDERS = ("ollama", "ollama_chat")
MODEL_FORMS = ("`ollama/llama3`, `ollama_chat/qwen2.5-coder:7b`, "
               "`groq/llama-3.3-70b-versatile`, `openai/<name>` with an api base "
               "(RLM_API_BASE or --api-base), `gemini/gemini-2.0-flash`")

# provider -> the environment variables litellm reads its key from (the first is named in
# messages). Providers not listed here are checked by litellm itself when called.
KEY_VARS: dict[str, tuple[str, ...]] = {
    "groq": ("GROQ_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "perplexity": ("PERPLEXITYAI_API_KEY",),
    "deepinfra": ("DEEPINFRA_API_KEY",),
    "huggingface": ("HUGGINGFACE_API_KEY",),
}
# Providers that speak OpenAI's API to a server you name: with an api base, no key needed.
OPENAI_COMPATIBLE = ("openai", "hosted_vllm", "lm_studio", "llamafile", "custom_openai")


def provider_of(model: str) -> str:
    """The provider prefix of a model string (``""`` when there is none)."""
    return model.split("/", 1)[0] if "/" in model else ""


def is_ollama(model: str) -> bool:
    return provider_of(model) in OLLAMA_PROVIDERS


def model_name(model: str) -> str:
    """The part after the provider (``llama3`` for ``ollama/llama3``)."""
    return model.split("/", 1)[1] if "/" in model else model


def bad_model(model: str, why: str = "") -> ConfigError:
    reason = f" ({why})" if why else ""
    return ConfigError(f"{model!r} is not a model string litellm knows{reason}. Use "
                       f"provider/name, for example {MODEL_FORMS}. Set it with RLM_MODEL or "
                       f"--model.")


def check_model_string(model: str | None, known_providers=None) -> str:
    """Return ``model`` stripped, or raise ``ConfigError`` listing the accepted forms.

    Args:
        model: the string to check.
        known_providers: litellm's provider list, when the caller has it loaded; without
            it only the shape is checked (and providers this module knows).
    """
    model = (model or "").strip()
    if not model:
        raise ConfigError(f"No model is set. Set RLM_MODEL (or pass --model), for example "
                          f"{MODEL_FORMS}.")
    provider, _, name = model.partition("/")
    if not name or not provider or any(c.isspace() for c in model):
        raise bad_model(model, "expected provider/name")
    if known_providers is not None and provider not in known_providers:
        raise bad_model(model, f"unknown provider {provider!r}")
    return model


def needs_known_provider_check(model: str) -> bool:
    """True when only litellm's provider list can say whether the prefix is a provider."""
    provider = provider_of(model)
    return provider not in KEY_VARS and provider not in OLLAMA_PROVIDERS \
        and provider not in OPENAI_COMPATIBLE


def find_key(model: str, env: Mapping[str, str]) -> str | None:
    """The API key for ``model``'s provider from ``env``, or ``None``."""
    for variable in KEY_VARS.get(provider_of(model), ()):
        if env.get(variable, "").strip():
            return env[variable].strip()
    return None


def require_key(model: str, env: Mapping[str, str], api_base: str | None = None) -> str | None:
    """The key ``model`` needs, or ``None`` when it needs none; raise ``MissingKey`` if unset."""
    provider = provider_of(model)
    variables = KEY_VARS.get(provider)
    key = find_key(model, env)
    if key or not variables or (api_base and provider in OPENAI_COMPATIBLE):
        return key
    raise MissingKey(_missing_key_message(model, variables), model=model)


def _missing_key_message(model: str, variables: tuple[str, ...]) -> str:
    variable = variables[0]
    also = f" (or {', '.join(variables[1:])})" if len(variables) > 1 else ""
    extra = ""
    if provider_of(model) == "openai":
        extra = (" For an OpenAI-compatible server (vLLM, LM Studio, llama.cpp) set "
                 "RLM_API_BASE=http://host:port/v1 instead.")
    return (f"{model} needs {variable}{also}, which is not set. Put {variable}=<your key> in "
            f"your environment or .env file, or use a local model such as "
            f"RLM_MODEL=ollama/llama3.{extra}")


def key_rejected(model: str, detail: str = "") -> MissingKey:
    """The error for a key the provider refused (401/403)."""
    variables = KEY_VARS.get(provider_of(model), ())
    variable = variables[0] if variables else "the provider's API key variable"
    said = f" The provider said: {detail}" if detail else ""
    return MissingKey(f"{model} refused the API key in {variable}. Check that it is set to a "
                      f"valid, active key.{said}", model=model)


def normalize_host(host: str) -> str:
    """An Ollama host as a URL: scheme and port added, ``0.0.0.0`` read as this machine."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    parsed = urlparse(host)
    hostname = parsed.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    if ":" in hostname:  # IPv6
        hostname = f"[{hostname}]"
    port = parsed.port or (443 if parsed.scheme == "https" else 11434)
    return f"{parsed.scheme}://{hostname}:{port}{parsed.path}"


def ollama_host(env: Mapping[str, str]) -> str:
    """``OLLAMA_HOST`` from ``env`` as a URL; ``http://127.0.0.1:11434`` when unset."""
    raw = (env.get("OLLAMA_HOST") or "").strip()
    return normalize_host(raw) if raw else DEFAULT_OLLAMA_HOST


def ollama_server(api_base: str | None, env: Mapping[str, str] | None = None) -> str:
    """The Ollama server a call goes to: the api base, else ``OLLAMA_HOST`` (``env``,
    default ``os.environ``), as a URL."""
    return normalize_host(api_base) if api_base else ollama_host(
        os.environ if env is None else env)


def ollama_tagged(name: str) -> str:
    """An Ollama model name with its tag: a bare ``llama3`` is ``llama3:latest``."""
    return name if ":" in name else f"{name}:latest"


def local_server(model: str, api_base: str | None, env: Mapping[str, str] | None) -> str | None:
    """The local server a call to ``model`` goes to (Ollama, or an OpenAI-compatible server
    named by an api base), or ``None`` for a hosted provider."""
    if is_ollama(model):
        return ollama_server(api_base, env)
    if provider_of(model) in OPENAI_COMPATIBLE and api_base:
        return api_base.rstrip("/")
    return None
