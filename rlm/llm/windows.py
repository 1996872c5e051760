"""How many tokens a model can read: the one place that asks.

Ollama says what a model was trained for (``/api/show``); hosted models come from
litellm's table; an OpenAI-compatible server named by an api base cannot be looked up
there (its model could be anything), nor can a test model without a provider.
"""

from __future__ import annotations

import asyncio

from rlm.llm.providers import OPENAI_COMPATIBLE, is_ollama, provider_of


async def trained_window(model: str, api_base: str | None = None) -> int | None:
    """The model's context window in tokens, or ``None`` when nobody can say.

    Raises:
        ServerUnreachable, ModelNotFound: Ollama cannot describe the model.
    """
    if is_ollama(model):
        from rlm.llm.ollama import context_length

        return await context_length(model, api_base=api_base)
    provider = provider_of(model)
    if not provider or provider == "scripted" or (provider in OPENAI_COMPATIBLE and api_base):
        return None
    from rlm.llm.pricing import context_window

    return await asyncio.to_thread(context_window, model)
