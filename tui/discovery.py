"""Which models the user can pick: pulled Ollama models and hosted ones whose key is set.

Both lists come from the engine (``rlm.local.list_models``, ``rlm.models.hosted_providers``).
This module only turns what they return into choices, and every failure into a note for
the screen (no Ollama running is a normal state, not a crash).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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
        from rlm.local import list_models
    except ImportError:
        found.notes.append("Local model discovery is not available in this version of rlm.")
        return
    host = env.get("OLLAMA_HOST") or None
    try:
        models = list_models(host)
    except Exception as exc:  # an RLMError says what to do (start Ollama, ...)
        found.notes.append(str(exc) or f"Ollama did not answer ({type(exc).__name__}).")
        return
    for item in models or ():
        name = _name(item)
        if name:
            model = name if "/" in name else f"ollama/{name}"
            found.choices.append(ModelChoice(model, "ollama", _detail(item)))
    if not models:
        found.notes.append("Ollama is running but has no models: `ollama pull llama3`.")


def _hosted(env: Mapping[str, str], found: Discovery) -> None:
    try:
        from rlm.models import hosted_providers
    except ImportError:
        return
    try:
        providers = hosted_providers(env)
    except Exception as exc:
        found.notes.append(str(exc) or f"Hosted models: {type(exc).__name__}.")
        return
    for source, model in _hosted_items(providers):
        found.choices.append(ModelChoice(model, source))


def _hosted_items(providers: Any) -> Iterable[tuple[str, str]]:
    """Accept ``{provider: [models]}``, ``[models]`` or objects with ``models``."""
    if isinstance(providers, Mapping):
        for provider, models in providers.items():
            if isinstance(models, (str, bytes)) or not isinstance(models, Iterable):
                models = [models] if models else []
            for model in models:
                name = _name(model)
                if name:
                    yield str(provider), name
        return
    for item in providers or ():
        provider = str(getattr(item, "provider", None) or getattr(item, "name", "") or "")
        models = getattr(item, "models", None)
        if models is None:
            name = _name(item)
            if name:
                yield name.split("/", 1)[0], name
            continue
        for model in models:
            name = _name(model)
            if name:
                yield provider, name


def _name(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        return str(item.get("model") or item.get("name") or "")
    return str(getattr(item, "model", None) or getattr(item, "name", None) or "")


def _detail(item: Any) -> str:
    parts = []
    for key in ("parameter_size", "size", "context_length"):
        value = item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)
        if value:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)
