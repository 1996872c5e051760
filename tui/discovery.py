"""Which models the user can pick: pulled Ollama models and hosted ones whose key is set.

Both lists come from the engine: ``rlm.llm.ollama.list_models`` (the pulled models) and
``rlm.llm.hosted.hosted_providers`` (providers with a key), with ``groq_models`` asked for
Groq's list and ``HOSTED_DEFAULTS`` giving one model for the others. This module turns them
into choices and every failure into a note for the screen: no Ollama running is a normal
state, not a crash. A pulled model's detail gives the window it will run at (Ollama runs a
model at ``num_ctx``, not at its trained window), decided as a run would decide it
(``rlm.llm.windows.ollama_window``) from the facts Ollama already gave, without a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlm.config import Settings
    from rlm.llm.ollama import LocalModel
    from rlm.llm.windows import Window


@dataclass(frozen=True)
class ModelChoice:
    model: str  # a litellm model string
    source: str  # "ollama" | provider name
    detail: str = ""


@dataclass
class Discovery:
    choices: list[ModelChoice]
    notes: list[str]


def discover_models(env: Mapping[str, str] | None = None) -> Discovery:
    """Ask the engine for local and hosted models (blocking: call it from a worker)."""
    env = os.environ if env is None else env
    found = Discovery([], [])
    _local(env, found)
    _hosted(env, found)
    return found


def _local(env: Mapping[str, str], found: Discovery) -> None:
    try:
        from rlm.llm.ollama import list_models, ollama_host
    except ImportError:
        found.notes.append("Local model discovery is not available in this version of rlm.")
        return
    try:
        models = list_models(ollama_host(env))
    except Exception as exc:  # noqa: BLE001  (an RLMError says what to do: start Ollama...)
        found.notes.append(str(exc) or f"Ollama did not answer ({type(exc).__name__}).")
        return
    host, settings = ollama_host(env), _settings(env, found)
    for local in models:
        window = _running_window(local, host, settings, env)
        found.choices.append(ModelChoice(local.model, "ollama", _detail(local, window)))
    if not models:
        found.notes.append("Ollama is running but has no models: `ollama pull llama3.2`.")


def _hosted(env: Mapping[str, str], found: Discovery) -> None:
    try:
        from rlm.llm.hosted import HOSTED_DEFAULTS, groq_models, hosted_providers
    except ImportError:
        return
    providers = hosted_providers(env)
    for provider in providers:
        models = [HOSTED_DEFAULTS[provider]] if provider in HOSTED_DEFAULTS else []
        if provider == "groq":
            try:
                models = groq_models(env) or models
            except Exception as exc:  # noqa: BLE001  (the default model still works)
                found.notes.append(f"Groq's model list: {exc}")
        found.choices.extend(ModelChoice(model, provider) for model in models)
    if not providers:
        found.notes.append("No hosted provider key is set (GROQ_API_KEY, OPENAI_API_KEY, "
                           "GEMINI_API_KEY, ...): only local models are listed.")


def _settings(env: Mapping[str, str], found: Discovery) -> Settings:
    """The run settings in ``env``; the defaults, with a note, when they are broken."""
    from rlm.config import Settings
    from rlm.errors import ConfigError

    try:
        return Settings.resolve(env)
    except ConfigError as exc:
        found.notes.append(f"{exc} (The windows shown assume the default settings.)")
        return Settings()


def _running_window(local: LocalModel, host: str, settings: Settings,
                    env: Mapping[str, str]) -> Window | None:
    """The window a run would give this pulled model (``None`` if it cannot be worked out)."""
    from rlm.llm.windows import num_ctx_for, ollama_parallel, ollama_window

    # As the engine looks it up for the model string the picker hands it (no other spelling).
    asked = num_ctx_for(local.model, settings.model_num_ctx) or settings.num_ctx
    try:
        return ollama_window(local.model, host, local.context_length, local.kv_bytes_per_token,
                             local.size, asked=asked, parallel=ollama_parallel(env),
                             thinking="thinking" in local.capabilities)
    except Exception:  # noqa: BLE001  (the model is still listed, without its window)
        return None


def _detail(local: LocalModel, window: Window | None = None) -> str:
    """``8.0B, 4.7 GB, runs at 16,384 of 131,072 tokens, can think``."""
    parts = []
    if local.parameter_size:
        parts.append(local.parameter_size)
    if local.size:
        parts.append(f"{local.size / 1e9:.1f} GB")
    trained = local.context_length
    if window is not None and window.running:
        if trained and window.running < trained:
            parts.append(f"runs at {window.running:,} of {trained:,} tokens")
        elif trained:
            parts.append(f"runs at its full {trained:,} tokens")
        else:
            parts.append(f"runs at {window.running:,} tokens")
    elif trained:
        parts.append(f"{trained:,} tokens of context")
    if "thinking" in local.capabilities:
        parts.append("can think")
    return ", ".join(parts)
