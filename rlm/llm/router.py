"""A ``Model`` that spreads calls over several deployments with litellm's Router.

A profile may list several hosts serving one model (``[[deployments]]``): calls for that
model name are then balanced over them, and a host that fails is cooled down while the
others carry on. Calls for any other model go to the fallback ``Model`` that
``rlm.llm.factory.make_model`` gives it (the same client a run without deployments uses).
litellm is imported on the first call, never at import.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlm.errors import ProviderError
from rlm.llm import CallOptions, Completion, Model, TokenCallback
from rlm.llm.pricing import priced_completion
from rlm.llm.providers import OPENAI_COMPATIBLE, is_ollama, ollama_host, provider_of


@dataclass(frozen=True)
class Deployment:
    """One host serving a model. Calls for ``name`` are spread over its deployments.

    ``api_key_env`` names the environment variable holding the key: keys never live in
    a profile file.
    """

    model: str
    name: str
    api_base: str | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


DEFAULT_ROUTER_OPTIONS = {"routing_strategy": "simple-shuffle", "num_retries": 1,
                          "allowed_fails": 1, "cooldown_time": 30}


class RouterModel:
    """Implements ``rlm.llm.Model`` over a litellm ``Router``.

    Args:
        deployments: the hosts; ``Deployment.name`` is the model name calls use.
        router_options: litellm ``Router`` options (``routing_strategy``, ``num_retries``,
            ``allowed_fails``, ``cooldown_time``, ``timeout``).
        api_base: api base for deployments that name none (else ``OLLAMA_HOST`` for
            Ollama ones).
        env: where ``api_key_env`` and ``OLLAMA_HOST`` are read (default ``os.environ``).
        fallback: the ``Model`` for other model names.
    """

    def __init__(self, deployments: Iterable[Deployment], *,
                 router_options: Mapping[str, Any] | None = None, api_base: str | None = None,
                 env: Mapping[str, str] | None = None, fallback: Model):
        self.deployments = list(deployments)
        self.groups = {d.name: d for d in reversed(self.deployments)}  # first one wins
        self.options = {**DEFAULT_ROUTER_OPTIONS, **dict(router_options or {})}
        self.api_base = api_base
        self.env = os.environ if env is None else env
        self.fallback = fallback
        self._router = None
        self._lock = threading.Lock()

    # --- the Model protocol -------------------------------------------------------------
    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        """A call for a deployment group goes through the Router (``options`` are not
        passed to its hosts yet); any other model goes to the fallback."""
        if model not in self.groups:
            return await self.fallback.complete(messages, model=model, stop=stop,
                                                max_tokens=max_tokens, on_token=on_token,
                                                options=options)
        started = time.monotonic()
        kwargs: dict[str, Any] = {"model": model, "messages": messages, "stream": True,
                                  "stream_options": {"include_usage": True}}
        if stop:
            kwargs["stop"] = list(stop)
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        try:
            stream = await self.router().acompletion(**kwargs)
            text, usage = await _read_stream(stream, on_token)
        except Exception as exc:  # noqa: BLE001  (litellm raises many types)
            raise ProviderError(_failure(model, self.deployments, exc), model=model) from None
        return self._completion(model, messages, text, usage, time.monotonic() - started)

    # --- helpers ------------------------------------------------------------------------
    def router(self):
        """The litellm ``Router`` (built, and litellm imported, on first use)."""
        with self._lock:
            if self._router is None:
                from rlm.llm.litellm_loader import load_litellm

                litellm = load_litellm()
                self._router = litellm.Router(model_list=self.model_list(), **self.options)
            return self._router

    def model_list(self) -> list[dict[str, Any]]:
        """The Router's ``model_list``: one entry per deployment (keys read from ``env``)."""
        entries = []
        for i, d in enumerate(self.deployments):
            params: dict[str, Any] = {"model": d.model}
            api_base = d.api_base or self.default_base(d.model)
            if api_base:
                params["api_base"] = api_base
            if d.api_key_env:
                params["api_key"] = self.env.get(d.api_key_env, "")
            elif api_base and provider_of(d.model) in OPENAI_COMPATIBLE:
                params["api_key"] = "no-key-needed"  # a local server: litellm insists on one
            for key in ("rpm", "tpm", "weight", "max_parallel_requests", "timeout"):
                if key in d.options:
                    params[key] = d.options[key]
            entries.append({"model_name": d.name, "litellm_params": params,
                            "model_info": {"id": f"{d.name}#{i + 1}"}})
        return entries

    def default_base(self, model: str) -> str | None:
        """The api base of a deployment that names none: the profile's, else OLLAMA_HOST."""
        if self.api_base:
            return self.api_base
        return ollama_host(self.env) if is_ollama(model) else None

    def _completion(self, model: str, messages: list[dict], text: str,
                    usage: tuple[int, int] | None, seconds: float) -> Completion:
        """Counted and priced as the deployment's model, reported under the group name."""
        deployment = self.groups[model]
        base = deployment.api_base or self.default_base(deployment.model)
        completion = priced_completion(deployment.model, messages, text, usage, base, seconds)
        return dataclasses.replace(completion, model=model)


async def _read_stream(stream, on_token: TokenCallback | None
                       ) -> tuple[str, tuple[int, int] | None]:
    """Collect a streamed reply; feed each piece to ``on_token``; keep the reported usage."""
    parts: list[str] = []
    usage = None
    async for chunk in stream:
        for choice in getattr(chunk, "choices", None) or []:
            piece = getattr(getattr(choice, "delta", None), "content", None)
            if piece:
                parts.append(piece)
                if on_token:
                    on_token(piece)
        reported = getattr(chunk, "usage", None)
        if reported and (reported.prompt_tokens or reported.completion_tokens):
            usage = (int(reported.prompt_tokens or 0), int(reported.completion_tokens or 0))
    return "".join(parts), usage


def _failure(model: str, deployments: list[Deployment], exc: Exception) -> str:
    hosts = [d.api_base or "(default host)" for d in deployments if d.name == model]
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return (f"Every deployment of {model} failed ({', '.join(hosts)}): {detail}. Check that "
            f"the hosts in your profile's [[deployments]] are up (rlm models, or "
            f"curl <api_base>/api/tags for Ollama).")
