"""The one place that builds model clients.

``make_model(settings)`` gives the engine, the CLI and the TUI the same client for the same
settings: local servers (Ollama, and OpenAI-compatible servers named by an api base) over
the direct HTTP door, every other provider through litellm, and, given deployments (a
profile's ``[[deployments]]``), litellm's Router over them with that same client for every
other model.
``ScriptedModel`` (tests, demos) is injected directly, never built here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from rlm.config import Settings
from rlm.llm import CallOptions, Completion, Model, TokenCallback
from rlm.llm.http import DirectModel, supports
from rlm.llm.litellm_model import LiteLLMModel
from rlm.llm.retry import Timeouts
from rlm.llm.router import Deployment, RouterModel
from rlm.llm.spread import SpreadModel, is_local_group


class LocalFirstModel:
    """``rlm.llm.Model``: each call goes through the direct door when ``supports`` allows
    it (a local server), else through litellm."""

    def __init__(self, api_base: str | None = None, *, env: Mapping[str, str] | None = None,
                 direct: Model | None = None, fallback: Model | None = None,
                 timeouts: Timeouts | None = None):
        self.api_base = api_base or None
        self.env = os.environ if env is None else env
        self.direct = direct or DirectModel(api_base, env=self.env, timeouts=timeouts)
        self.fallback = fallback or LiteLLMModel(api_base, env=self.env, timeouts=timeouts)

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        door = self.direct if supports(model, self.api_base) else self.fallback
        return await door.complete(messages, model=model, stop=stop, max_tokens=max_tokens,
                                   on_token=on_token, options=options)

    async def aclose(self) -> None:
        """Close the direct door's idle connections of this event loop."""
        close = getattr(self.direct, "aclose", None)
        if close is not None:
            await close()


def make_model(settings: Settings, *, deployments: Sequence[Deployment] = (),
               router_options: Mapping[str, Any] | None = None,
               env: Mapping[str, str] | None = None) -> Model:
    """The client for a run with ``settings``.

    Args:
        settings: ``api_base`` goes with every call; ``direct_http=False`` sends local
            servers through litellm too.
        deployments: hosts that serve one model together (a profile's ``[[deployments]]``).
        router_options: litellm ``Router`` options for them (a profile's ``[router]``).
        env: where keys and ``OLLAMA_HOST`` are read (default ``os.environ``).
    """
    env = os.environ if env is None else env
    timeouts = timeouts_of(settings)
    client: Model
    if settings.direct_http:
        client = LocalFirstModel(settings.api_base, env=env, timeouts=timeouts)
    else:
        client = LiteLLMModel(settings.api_base, env=env, timeouts=timeouts)
    local, hosted = _split(deployments) if settings.direct_http else ([], list(deployments))
    if hosted:
        # litellm's Router keeps its own retries (it reads Retry-After too); a call through
        # it is bounded by the run's call timeout unless the profile's [router] says more.
        router_options = {"timeout": settings.call_timeout, **dict(router_options or {})}
        client = RouterModel(hosted, router_options=router_options,
                             api_base=settings.api_base, env=env, fallback=client)
    if local:
        # A profile's [router] cooldown_time is also how long a failed local host rests.
        rest = (router_options or {}).get("cooldown_time")
        spread = {} if rest is None else {"cooldown": float(rest)}
        client = SpreadModel(local, fallback=client, env=env, timeouts=timeouts, **spread)
    return client


def timeouts_of(settings: Settings) -> Timeouts:
    """The doors' timeouts from the run's settings (``RLM_CONNECT_TIMEOUT``, ...)."""
    return Timeouts(connect=settings.connect_timeout, first_byte=settings.first_byte_timeout,
                    chunk=settings.chunk_timeout, call=settings.call_timeout)


def _split(deployments: Sequence[Deployment]) -> tuple[list[Deployment], list[Deployment]]:
    """(local, hosted): groups whose every host is a local server go to the engine's own
    spreading over the direct door (``rlm.llm.spread``); the rest to litellm's Router."""
    groups: dict[str, list[Deployment]] = {}
    for d in deployments:
        groups.setdefault(d.name, []).append(d)
    local = [d for group in groups.values() if is_local_group(group) for d in group]
    return local, [d for d in deployments if d not in local]
