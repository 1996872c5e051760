"""Which models the user can pick: pulled Ollama models and hosted ones whose key is set.

Both lists come from the engine: ``rlm.llm.ollama.list_models`` (the pulled models) and
``rlm.llm.hosted.hosted_providers`` (providers with a key), with ``groq_models`` asked for
Groq's list and ``HOSTED_DEFAULTS`` giving one model for the others. This module turns them
into choices and every failure into a note for the screen: no Ollama running is a normal
state, not a crash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    for local in models:
        found.choices.append(ModelChoice(local.model, "ollama", _detail(local)))
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


def _detail(local) -> str:
    parts = []
    if getattr(local, "parameter_size", ""):
        parts.append(local.parameter_size)
    if getattr(local, "size", 0):
        parts.append(f"{local.size / 1e9:.1f} GB")
    if getattr(local, "context_length", None):
        parts.append(f"{local.context_length:,} tokens of context")
    return ", ".join(parts)
