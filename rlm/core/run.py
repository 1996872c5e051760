"""One run's shared state: events, the model-call limiter, limits, agent ids, cancel.

Every agent of a run talks to the model through ``Run.ask``: the one place where each
server's slots and the run-wide cap (``max_concurrency``, when set), both around model calls
only (never around agents, so a parent waiting on its children holds no slot), usage
accounting and the run's deadline meet.
``Run.check_limits`` is the one place where limits stop an agent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rlm import events as ev
from rlm.config import Settings
from rlm.context import ContextSource
from rlm.core.budget import Windows, content_tokens, prompt_limit, prompt_tokens, reply_room
from rlm.core.tools import Tools
from rlm.core.waiting import WaitCallback, Watch
from rlm.errors import LimitReached, PromptTooLong
from rlm.llm import CallOptions, Completion, Model, TokenCallback
from rlm.llm.providers import is_ollama, local_server, provider_of
from rlm.llm.windows import Window
from rlm.sandbox import Sandbox, SandboxConfig, file_confinement
from rlm.tree import TreeBuilder
from rlm.usage import Usage

if TYPE_CHECKING:
    from rlm.core.agent import Agent
    from rlm.sandbox import SandboxPool


@dataclass
class Outcome:
    """How an agent ended (``Agent.run_to_end`` returns it)."""

    status: str  # answered | limit | failed | cancelled
    answer: str | None = None
    limit_hit: str | None = None
    error: str | None = None


@dataclass
class Turn:
    """What one root agent works on: a completion's prompt, or a session's question."""

    prompt: str
    source: ContextSource
    task_is_context: bool
    root_id: str = "0"
    sandbox: Sandbox | None = None   # a session's: it outlives the turn
    note: str = ""                   # a session's recap of the turns before
    on_root: Callable[[Agent], None] | None = None


def sandbox_config(settings: Settings, tools: tuple[str, ...] = ()) -> SandboxConfig:
    """The sandbox limits a run's settings ask for (its pool and every agent use these),
    and the names of the tools its code may call."""
    return SandboxConfig(action_timeout=settings.action_timeout, memory_mb=settings.memory_mb,
                         allow_network=settings.allow_network,
                         confine_files=settings.confine_files,
                         read_paths=settings.sandbox_read, write_paths=settings.sandbox_write,
                         tools=tools)


def sandbox_report(settings: Settings) -> dict[str, str]:
    """What will confine the run's sandbox code, for the trace header and the commands."""
    return {"files": file_confinement(sandbox_config(settings)),
            "network": "allowed" if settings.allow_network else "off"}


class Run:
    """Services every agent of one run shares."""

    def __init__(self, *, run_id: str, settings: Settings, client: Model, bus: ev.EventBus,
                 run_dir: Path, pool: SandboxPool | None = None,
                 windows: Windows | None = None, env: Mapping[str, str] | None = None,
                 root_id: str = "0", tools: Tools | None = None):
        self.run_id = run_id
        self.settings = settings
        self.client = client
        self.bus = bus
        self.run_dir = run_dir
        self.pool = pool
        self.tree = TreeBuilder()
        self._unsubscribe = bus.subscribe(self.tree)
        self.usage = Usage()
        self.limiter: AbstractAsyncContextManager[object] = (
            asyncio.Semaphore(settings.max_concurrency) if settings.max_concurrency
            else nullcontext())
        self.started = time.monotonic()
        self.deadline = None if settings.timeout is None else self.started + settings.timeout
        self._lock = threading.Lock()
        self._children: dict[str, int] = {}
        self.agent_count = 0
        self.cancelled = False  # set by RLM.cancel(), from any thread
        self.env = env
        self.root_id = root_id  # a session's turns are roots 0, 1, 2 ...
        self.tools = tools or Tools({})
        self.windows = windows or Windows(settings, env)
        self._servers: dict[str, asyncio.Semaphore] = {}
        self.agent_tasks: dict[str, asyncio.Future] = {}  # child agents running now, by id
        self.stopped: set[str] = set()  # agents the user stopped (with what is under them)

    def emit(self, event: ev.Event) -> ev.Event:
        return self.bus.emit(event)

    def stop_agent(self, agent_id: str) -> bool:
        """Stop one child agent and everything under it (its parent's ``rlm_query`` gets an
        error string and goes on); False when it is not running. Call on the run's loop."""
        task = self.agent_tasks.get(agent_id)
        if task is None or task.done():
            return False
        self.stopped.add(agent_id)
        task.cancel()
        return True

    def close(self) -> None:
        """Stop following the bus (a session's bus goes on with the next turn)."""
        self._unsubscribe()

    # --- agents -------------------------------------------------------------------------
    def new_agent_id(self, parent_id: str | None) -> str:
        """``0`` for the root, then ``0.1``, ``0.2``, ``0.1.1``: readable and unique."""
        with self._lock:
            if parent_id is None:
                return self.root_id
            n = self._children.get(parent_id, 0) + 1
            self._children[parent_id] = n
            return f"{parent_id}.{n}"

    def reserve_agent(self) -> bool:
        """Count one more agent if ``max_agents`` allows it."""
        with self._lock:
            if self.agent_count >= self.settings.max_agents:
                return False
            self.agent_count += 1
            return True

    # --- limits -------------------------------------------------------------------------
    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check_limits(self, agent: Agent) -> None:
        """Raise ``LimitReached`` when a limit stops ``agent`` before its next step."""
        s = self.settings
        if agent.pending_limit:
            raise LimitReached(agent.pending_limit, agent.pending_limit_detail)
        if agent.steps >= s.max_steps:
            raise LimitReached("steps", f"it used all {s.max_steps} steps (max_steps)")
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise LimitReached("time", f"the run's time limit of {s.timeout:g} s is up")
        if s.max_tokens is not None and self.usage.total_tokens >= s.max_tokens:
            raise LimitReached("tokens", f"the run used {self.usage.total_tokens:,} tokens "
                                         f"(max_tokens={s.max_tokens:,})")
        if s.max_cost is not None and self.usage.cost_usd >= s.max_cost:
            raise LimitReached("cost", f"the run cost ${self.usage.cost_usd:.4f} "
                                       f"(max_cost=${s.max_cost:g})")

    # --- model calls --------------------------------------------------------------------
    async def ask(self, messages: list[dict], *, model: str, stop: Sequence[str] = (),
                  on_token: TokenCallback | None = None,
                  on_thinking: TokenCallback | None = None,
                  on_wait: WaitCallback | None = None,
                  grace: float | None = None) -> Completion:
        """One model call, fitted to the model's window, under the run-wide limiter, the
        model server's own slots (a local server) and the run's deadline.

        Args:
            on_wait: told ``(seconds, reason)`` after 5 s, 10 s, 20 s ... while the call waits
                for its server's slot or for the first piece of its reply.
            grace: seconds allowed past the deadline (the best-answer call after a limit).

        Raises:
            PromptTooLong: the prompt and the reply's room do not fit the model's window.
        """
        window = await self.windows.get(model)
        content = self._check_fits(messages, model, window)
        watch = Watch(on_wait)
        options = self.call_options(model, window, watch.heard(on_thinking))
        async with watch:
            return await self._call(messages, model, stop, watch.heard(on_token), options,
                                    window, grace, watch, content)

    async def _call(self, messages: list[dict], model: str, stop: Sequence[str],
                    on_token: TokenCallback | None, options: CallOptions, window: Window,
                    grace: float | None, watch: Watch, content: int | None) -> Completion:
        async with self._server_slot(model, window), self.limiter:
            watch.reason = "reply"
            remaining = self.remaining()
            if remaining is not None:
                remaining = max(remaining, 0) + (grace or 0)
                if remaining <= 0:
                    raise LimitReached("time", f"the run's time limit of "
                                               f"{self.settings.timeout:g} s is up")
            try:
                async with asyncio.timeout(remaining):
                    completion = await self.client.complete(
                        messages, model=model, stop=stop, on_token=on_token, options=options,
                        max_tokens=reply_room(window, self.settings))
            except TimeoutError:
                raise LimitReached("time", f"the run's time limit of "
                                           f"{self.settings.timeout:g} s ran out during a "
                                           f"model call") from None
        with self._lock:
            self.usage.record(completion.model or model, completion.prompt_tokens,
                              completion.completion_tokens, completion.cost_usd)
        if completion.server_counted:
            self.windows.learn(model, messages, completion.prompt_tokens, content)
        return completion

    def call_options(self, model: str, window: Window,
                     on_thinking: TokenCallback | None = None) -> CallOptions:
        """The same options on every call of ``model`` in this run: its window (Ollama
        reloads a model whose ``num_ctx`` changes), ``think`` (sent only to a model that can
        think: anything else refuses ``think: true``), ``keep_alive``."""
        think = {"on": True, "off": False}.get(self.settings.think) if window.thinking else None
        return CallOptions(num_ctx=window.num_ctx, think=think,
                           keep_alive=self.settings.keep_alive if is_ollama(model) else None,
                           on_thinking=on_thinking)

    def _check_fits(self, messages: list[dict], model: str, window: Window) -> int | None:
        """Raise ``PromptTooLong`` when the prompt does not fit; else its ``content_tokens``
        (``None``: not counted, the window is unknown)."""
        limit = prompt_limit(window, self.settings)
        if limit is None or window.running is None:
            return None
        content = content_tokens(messages, model)
        tokens = prompt_tokens(messages, model, self.windows.factor(model), content)
        if tokens > limit:
            raise PromptTooLong(
                f"The next prompt to {model} needs about {tokens:,} tokens, but the model runs "
                f"at {window.running:,} ({window.source}) and {window.running - limit:,} are "
                f"kept for its reply. Give it a larger window (RLM_NUM_CTX, or num_ctx in "
                f"a profile), or lower reply_max_tokens.", model=model, tokens=tokens,
                limit=limit, running=window.running)
        return content

    def _server_slot(self, model: str, window: Window) -> AbstractAsyncContextManager[object]:
        """Calls to one server wait here for a slot it can serve, so a large fan-out queues
        in the engine, visibly, not in the server: a local server what it serves at once
        (Ollama ``OLLAMA_NUM_PARALLEL``, 1 by default; llama.cpp its slots;
        ``RLM_SERVER_PARALLEL``), a hosted provider ``RLM_HOSTED_PARALLEL`` (16). A model
        spread over several hosts by its client keeps its hosts' slots there."""
        if model in getattr(self.client, "spread", ()):
            return nullcontext()
        server = local_server(model, self.settings.api_base, self.env)
        if server is None:
            server, parallel = provider_of(model) or model, self.settings.hosted_parallel
        else:
            parallel = self.settings.server_parallel or window.parallel or 0
        if not parallel:
            return nullcontext()
        return self._servers.setdefault(server, asyncio.Semaphore(parallel))
