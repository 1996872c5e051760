"""One model served by several local hosts: calls spread by the engine, through the direct door.

A profile may list several hosts serving one model (``[[deployments]]``). When they are all
local servers (Ollama, or an OpenAI-compatible api base: llama.cpp, vLLM, LM Studio) the
engine spreads the calls itself instead of through litellm's Router, whose per-call cost
caps a two-core machine near 50 calls a second whatever the hosts could serve:

- a call goes to the host with the fewest calls in flight among those with a free slot
  (each host serves at most ``slots`` calls at once: its deployment's
  ``max_parallel_requests``, else what the server says, else 1 for Ollama and 4 otherwise),
  and waits for a slot when every host is full;
- a host that fails (refused, timed out, a server error) is cooled down for ``cooldown``
  seconds and the call moves to another host, unless the reply had already started
  streaming; after the cool-down the host is tried again;
- each call's host is in its ``Completion.host``, so the trace and ``--verbose`` show it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rlm.errors import ConfigError, MissingKey, ModelError, PromptTooLong
from rlm.llm import CallOptions, Completion, Model, TokenCallback
from rlm.llm.http import DirectModel, supports
from rlm.llm.providers import is_ollama
from rlm.llm.retry import StreamGuard, Timeouts
from rlm.llm.router import Deployment

COOLDOWN = 30.0  # seconds a failed host rests before it is tried again


@dataclass
class Host:
    """One deployment of a group: where it is, how many calls it serves at once, how busy
    and how healthy it is now."""

    deployment: Deployment
    door: DirectModel
    slots: int
    in_flight: int = 0
    calls: int = 0
    failures: int = 0
    resting_until: float = 0.0
    last_error: str = ""

    @property
    def name(self) -> str:
        return self.door.api_base_for(self.deployment.model)

    def resting(self, now: float) -> bool:
        return now < self.resting_until


@dataclass
class Group:
    """The hosts serving one model name, and the condition a full group waits on (one per
    event loop: a client may outlive a loop, as ``asyncio.run`` after ``asyncio.run``)."""

    name: str
    hosts: list[Host]
    conditions: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary,
                                                  repr=False)

    def changed(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if loop not in self.conditions:
            self.conditions[loop] = asyncio.Condition()
        return self.conditions[loop]


class SpreadModel:
    """``rlm.llm.Model`` spreading each deployment group over its local hosts.

    Args:
        deployments: the profile's deployments; every group must be local
            (``is_local_group``).
        fallback: the ``Model`` for every other model name.
        env: where keys and ``OLLAMA_HOST`` are read.
        timeouts: the doors' timeouts.
        cooldown: seconds a failed host rests.
    """

    def __init__(self, deployments: Sequence[Deployment], *, fallback: Model,
                 env: Mapping[str, str] | None = None, timeouts: Timeouts | None = None,
                 cooldown: float = COOLDOWN):
        self.fallback = fallback
        self.cooldown = cooldown
        self.groups: dict[str, Group] = {}
        for d in deployments:
            # One quick retry on the same host; after that the call moves to another host.
            key = (os.environ if env is None else env).get(d.api_key_env or "", "") or None
            door = DirectModel(d.api_base, api_key=key, env=env, timeouts=timeouts,
                               retries=1)
            slots = int(d.options.get("max_parallel_requests") or default_slots(d))
            group = self.groups.setdefault(d.name, Group(d.name, []))
            group.hosts.append(Host(d, door, max(1, slots)))

    @property
    def spread(self) -> frozenset[str]:
        """The model names whose calls this model spreads (and whose hosts' slots it keeps,
        so the run does not also limit them as one server)."""
        return frozenset(self.groups)

    async def complete(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                       max_tokens: int | None = None, on_token: TokenCallback | None = None,
                       options: CallOptions | None = None) -> Completion:
        group = self.groups.get(model)
        if group is None:
            return await self.fallback.complete(messages, model=model, stop=stop,
                                                max_tokens=max_tokens, on_token=on_token,
                                                options=options)
        streamed = StreamGuard(on_token)
        tried: list[Host] = []
        while True:
            host = await self._take(group, tried)
            try:
                completion = await host.door.complete(
                    messages, model=host.deployment.model, stop=stop, max_tokens=max_tokens,
                    on_token=streamed if on_token else None, options=options)
            except (MissingKey, ConfigError, PromptTooLong):
                raise  # the same on every host: a setting to fix
            except ModelError as exc:
                self._rest(host, exc)
                tried.append(host)
                if streamed.sent or len(tried) == len(group.hosts):
                    raise
                continue
            finally:
                await self._give_back(group, host)
            return dataclasses.replace(completion, model=model, host=host.name)

    async def aclose(self) -> None:
        for group in self.groups.values():
            for host in group.hosts:
                await host.door.aclose()

    def status(self) -> dict[str, list[dict[str, object]]]:
        """Each group's hosts: slots, calls so far, in flight, resting, last error."""
        now = time.monotonic()
        return {name: [{"host": h.name, "slots": h.slots, "calls": h.calls,
                        "in_flight": h.in_flight, "resting": h.resting(now),
                        "last_error": h.last_error} for h in group.hosts]
                for name, group in self.groups.items()}

    # --- choosing a host ----------------------------------------------------------------
    async def _take(self, group: Group, tried: list[Host]) -> Host:
        """The host with the fewest calls in flight and a free slot; waits for one."""
        changed = group.changed()
        async with changed:
            while True:
                host = self._pick(group, tried)
                if host is not None:
                    host.in_flight += 1
                    host.calls += 1
                    return host
                await changed.wait()  # every host is full: a call will end soon

    def _pick(self, group: Group, tried: list[Host]) -> Host | None:
        """Among the hosts this call has not tried: the healthy ones, else (all rest) the
        one whose rest ends first; of those, the least busy one with a free slot."""
        now = time.monotonic()
        untried = [h for h in group.hosts if h not in tried]
        healthy = [h for h in untried if not h.resting(now)]
        if not healthy and untried:
            healthy = [min(untried, key=lambda h: h.resting_until)]
        free = [h for h in healthy if h.in_flight < h.slots]
        # Least busy for its size; on a tie, the one that served fewest calls (so calls made
        # one after another still take turns).
        return min(free, key=lambda h: (h.in_flight / h.slots, h.calls / h.slots),
                   default=None)

    async def _give_back(self, group: Group, host: Host) -> None:
        changed = group.changed()
        async with changed:
            host.in_flight -= 1
            changed.notify_all()

    def _rest(self, host: Host, exc: ModelError) -> None:
        host.failures += 1
        host.last_error = str(exc)
        host.resting_until = time.monotonic() + self.cooldown


def default_slots(deployment: Deployment) -> int:
    """Calls a host serves at once when its deployment does not say: Ollama's default of 1
    (``OLLAMA_NUM_PARALLEL``), 4 for other servers (llama.cpp's default slots)."""
    return 1 if is_ollama(deployment.model) else 4


def is_local_group(deployments: Sequence[Deployment]) -> bool:
    """True when every deployment is a local server the direct door serves."""
    return all(supports(d.model, d.api_base) for d in deployments)
