"""Hosted providers: which have a key set, and which models they serve.

For pickers and messages: ``hosted_providers`` reads the environment only; ``groq_models``
asks Groq for its list (one network call, with the ``groq`` client).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rlm.errors import ServerUnreachable
from rlm.llm.providers import KEY_VARS, find_key, key_rejected, require_key

# A sensible first model per hosted provider, for pickers and messages.
HOSTED_DEFAULTS = {
    "groq": "groq/llama-3.3-70b-versatile",
    "openai": "openai/gpt-4o-mini",
    "gemini": "gemini/gemini-2.0-flash",
    "anthropic": "anthropic/claude-3-5-haiku-latest",
    "mistral": "mistral/mistral-small-latest",
    "deepseek": "deepseek/deepseek-chat",
    "openrouter": "openrouter/meta-llama/llama-3.3-70b-instruct",
}
GROQ_BASE_URL = "https://api.groq.com"


def hosted_providers(env: Mapping[str, str] | None = None) -> list[str]:
    """The hosted providers whose API key is set (``["groq", "openai"]``), in a fixed order."""
    env = os.environ if env is None else env
    return [p for p in KEY_VARS if find_key(f"{p}/x", env)]


def groq_models(env: Mapping[str, str] | None = None, *, base_url: str | None = None,
                timeout: float = 10.0) -> list[str]:
    """The chat models Groq serves, as litellm strings (``groq/<id>``); one network call.

    Raises:
        MissingKey: GROQ_API_KEY is not set.
        ServerUnreachable: Groq could not be reached.
    """
    env = os.environ if env is None else env
    key = require_key("groq/x", env)
    import groq

    client = groq.Groq(api_key=key, base_url=base_url or GROQ_BASE_URL, timeout=timeout,
                       max_retries=1)
    try:
        listed = client.models.list().data
    except groq.AuthenticationError as exc:
        raise key_rejected("groq/models", str(exc)) from None
    except groq.APIError as exc:
        raise ServerUnreachable(f"Could not list Groq's models at {client.base_url}: {exc}",
                                model="groq") from None
    ids = sorted(m.id for m in listed if not _not_chat(m.id))
    return [f"groq/{i}" for i in ids]


def _not_chat(model_id: str) -> bool:
    return any(word in model_id for word in ("whisper", "tts", "guard", "embed"))
