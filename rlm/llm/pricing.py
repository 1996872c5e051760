"""Prices and context windows from litellm's table (loaded offline, on first use).

Local calls (Ollama, or any api base on this machine) cost 0 and never load litellm.
"""

from __future__ import annotations

from urllib.parse import urlparse

from rlm.llm import Completion
from rlm.llm.litellm_loader import load_litellm
from rlm.llm.providers import is_ollama
from rlm.llm.tokens import count_messages, count_tokens

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def is_local(model: str, api_base: str | None = None) -> bool:
    """True for Ollama models and for any call sent to this machine (they cost nothing)."""
    if is_ollama(model):
        return True
    if api_base:
        host = urlparse(api_base if "//" in api_base else f"//{api_base}").hostname or ""
        return host in LOCAL_HOSTS or host.startswith("127.")
    return False


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int,
             api_base: str | None = None) -> float:
    """The call's price in USD from litellm's table; 0 for local calls and unknown models."""
    if is_local(model, api_base) or not (prompt_tokens or completion_tokens):
        return 0.0
    litellm = load_litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:  # noqa: BLE001  (litellm raises a bare Exception for an unpriced model)
        return 0.0
    return float(prompt_cost or 0.0) + float(completion_cost or 0.0)


def context_window(model: str) -> int | None:
    """The model's input window in tokens from litellm's table, or ``None`` when unknown.

    Ollama models return ``None``: their window depends on how the server runs them; ask
    ``rlm.llm.ollama.list_models`` (``context_length`` from ``/api/show``) instead. litellm's own
    lookup would make a network call for them.
    """
    if is_ollama(model):
        return None
    litellm = load_litellm()
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001  (same bare Exception for an unknown model)
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if window else None


def priced_completion(model: str, messages: list[dict], text: str,
                      usage: tuple[int, int] | None, api_base: str | None,
                      seconds: float, thinking: str = "") -> Completion:
    """A call's ``Completion``: the server's token counts (tiktoken's where it reported
    none; thinking is written by the model too) and the price of those tokens."""
    prompt, completion = usage if usage and any(usage) else (0, 0)
    prompt = prompt or count_messages(messages, model)
    if not completion and (text or thinking):
        completion = count_tokens(text, model) + count_tokens(thinking, model)
    return Completion(text=text, model=model, prompt_tokens=prompt, completion_tokens=completion,
                      cost_usd=cost_usd(model, prompt, completion, api_base), seconds=seconds,
                      thinking=thinking, server_counted=bool(usage and usage[0]))
