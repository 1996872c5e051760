"""The ``RLM`` class: the public entry point that runs a tree of agents."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlm.core.session import Session

from rlm import events as ev
from rlm.config import Settings
from rlm.context import ContextSource, prepare_context
from rlm.core.agent import Agent
from rlm.core.budget import WindowLookup, Windows
from rlm.core.loop import EngineLoop
from rlm.core.run import Outcome, Run, Turn, sandbox_config, sandbox_report
from rlm.core.tools import Tools
from rlm.errors import ConfigError
from rlm.llm import Model
from rlm.result import RLMResult
from rlm.sandbox import SandboxPool
from rlm.trace import TraceWriter


class RLM:
    """A Recursive Language Model: ``completion(prompt, context)`` instead of a chat call.

    The context never enters the chat: it is the variable ``context`` in a sandbox where
    the model's code runs; code may start child agents with ``rlm_query``.

    Args:
        model: litellm model string for the root (``ollama/llama3``, ``groq/...``). Default:
            ``RLM_MODEL``, else a model pulled in the local Ollama.
        sub_model: model for ``llm_query`` and child agents (default: ``RLM_SUB_MODEL``,
            else ``model``).
        max_depth: deepest an agent may sit (root is 0; 0 = no children). Default 2.
        max_steps: model calls per agent before it must give its best answer. Default 20.
        client: a ``Model`` to use instead of litellm (tests pass a ``ScriptedModel``).
        on_event: called with every event of every run (from the engine's thread).
        trace: path of a JSONL trace file to write for each run (``None``: no file).
        env: environment to read settings from (default ``os.environ``).
        keep_warm: keep the sandbox's template process waiting between runs, so the next
            run's workers are forked at once instead of after starting a new interpreter.
            It lives until ``close()`` (or the end of a ``with RLM(...)`` block, or the
            process).
            Default ``False``: every process of a run is gone when the run returns.
        window_lookup: ``async (model) -> tokens | None``: each model's running window,
            instead of asking its server (``rlm.llm.windows``: Ollama's ``/api/show`` and
            this machine's memory, llama.cpp's ``/props``, vLLM's ``/v1/models``, litellm's
            table). Every prompt is kept within it.
        settings: settings already resolved (``Settings.resolve``), as the ``rlm`` command
            passes them; then no other setting may be given here.
        tools: host functions sandbox code may call by name, ``{"name": function}`` or
            ``["module:function", ...]`` (``rlm.core.tools``).
        **more: any other ``Settings`` field: ``api_base``, ``max_agents``,
            ``action_timeout``, ``max_concurrency``, ``timeout``, ``max_tokens``,
            ``max_cost``, ``depth_models`` ({depth: model}), ``observation_chars``, ...
            (the README's settings table lists them all).
    """

    def __init__(self, model: str | None = None, sub_model: str | None = None,
                 max_depth: int | None = None, max_steps: int | None = None, *,
                 client: Model | None = None, on_event: Callable[[ev.Event], None] | None = None,
                 trace: str | Path | None = None, env: Mapping[str, str] | None = None,
                 keep_warm: bool = False, window_lookup: WindowLookup | None = None,
                 settings: Settings | None = None,
                 tools: Mapping[str, Callable[..., Any]] | Sequence[str] | None = None,
                 **more: Any):
        given = dict(model=model, sub_model=sub_model, max_depth=max_depth,
                     max_steps=max_steps, **more)
        if settings is None:
            settings = Settings.resolve(env, **given)
        elif any(v is not None for v in given.values()):
            raise ConfigError("Pass either settings=Settings(...) or separate settings to "
                              "RLM(), not both.")
        self.settings = settings
        self.tools = Tools.load(tools)
        self._env = env
        self.client = client
        self._trace = trace
        self.subscribers: list[Callable[[ev.Event], None]] = [on_event] if on_event else []
        self._lock = threading.Lock()
        self._active: tuple[asyncio.AbstractEventLoop, asyncio.Task, Run] | None = None
        self._cancelled = False
        self._starting = 0  # completions under way that have not started their root yet
        self._keep_warm = keep_warm
        # Each model's running window, decided once (a server's window does not change
        # between runs; asking costs a request).
        self._windows = Windows(self.settings, env, window_lookup)
        self._checked: set[tuple[str, str | None]] = set()
        self._pool: SandboxPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._engine_loop: EngineLoop | None = None

    def __enter__(self) -> RLM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> RLM:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def close(self) -> None:
        """Stop the warm sandbox workers kept by ``keep_warm`` (a no-op otherwise)."""
        engine_loop, self._engine_loop = self._engine_loop, None
        if engine_loop is not None:
            engine_loop.close(self.aclose)
        elif self._pool is not None:
            asyncio.run(self.aclose())

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def subscribe(self, subscriber: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Receive every event of later runs; returns a function that unsubscribes."""
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    # --- public API ---------------------------------------------------------------------
    def completion(self, prompt: str, context: Any = None, *,
                   trace: str | Path | None = None) -> RLMResult:
        """Run to the end and return the result (works inside a running event loop too).

        Args:
            prompt: the task. With no ``context``, the prompt itself becomes ``context``.
            context: ``str``, ``bytes``, ``list``, ``dict`` or ``pathlib.Path``.
            trace: path of this run's JSONL trace (overrides the constructor's).

        Raises:
            RLMError: bad settings, context or model, before the run starts.
        """
        coro = self.acompletion(prompt, context, trace=trace)
        if self._keep_warm:  # one loop for every run, so warm workers can be reused
            if self._engine_loop is None:
                self._engine_loop = EngineLoop()
            return self._engine_loop.run(coro, on_interrupt=self.cancel)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with ThreadPoolExecutor(1, thread_name_prefix="rlm") as pool:  # Jupyter
            return pool.submit(asyncio.run, coro).result()

    async def acompletion(self, prompt: str, context: Any = None, *,
                          trace: str | Path | None = None) -> RLMResult:
        """Async form of ``completion``."""
        with self._under_way():
            return await self._complete(prompt, context, trace)

    @contextmanager
    def _under_way(self) -> Iterator[None]:
        """A run (or a session's turn) is starting or running: a cancel from now on stops
        it, even before it runs; the last one to end clears the cancel for the next."""
        with self._lock:
            self._starting += 1
        try:
            yield
        finally:
            with self._lock:
                self._starting -= 1
                if not self._starting and self._active is None:
                    self._cancelled = False

    async def _complete(self, prompt: str, context: Any,
                        trace: str | Path | None) -> RLMResult:
        client, model, note = await self.prepare_client()
        run_dir = Path(tempfile.mkdtemp(prefix="rlm-run-"))
        try:
            source = prepare_context(prompt if context is None else context, run_dir)
            return await self._run(prompt, source, context is None, client, model, run_dir,
                                   trace or self._trace)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            if client is not self.client and hasattr(client, "aclose"):
                await client.aclose()  # its connections belong to this event loop

    def session(self, context: Any = None, *, trace: str | Path | None = None) -> Session:
        """A conversation: each ``ask`` runs on the same sandbox (``rlm.core.session``).

        Args:
            context: the context of the first and later questions (``None``: the first
                question becomes it, as with ``completion``).
            trace: one JSONL trace for every turn.
        """
        from rlm.core.session import Session

        return Session(self, context, trace=trace or self._trace)

    async def astream(self, prompt: str, context: Any = None, *,
                      trace: str | Path | None = None) -> AsyncIterator[ev.Event | RLMResult]:
        """Every event of a run as it happens, then its ``RLMResult`` (the last item)."""
        from rlm.core.session import stream_of

        async for item in stream_of(self.subscribe,
                                    self.acompletion(prompt, context, trace=trace), self.cancel):
            yield item

    def cancel(self) -> None:
        """Stop the current run from any thread: every agent ends, every sandbox is killed.
        With no run under way it does nothing (a session's next turn is not cancelled)."""
        with self._lock:
            if self._active is None and not self._starting:
                return
            self._cancelled = True
            active = self._active
        if active is not None:
            loop, task, run = active
            run.cancelled = True
            loop.call_soon_threadsafe(task.cancel)

    def stop_agent(self, agent_id: str) -> None:
        """Stop one agent of the current run and everything under it, from any thread; its
        parent's ``rlm_query`` returns a string saying so and the parent goes on. The root
        (or a turn's root) stops the whole run, as ``cancel`` does."""
        with self._lock:
            active = self._active
        if active is None:
            return
        loop, _, run = active
        if agent_id == run.root_id:
            self.cancel()
        else:
            loop.call_soon_threadsafe(run.stop_agent, agent_id)

    # --- internals ----------------------------------------------------------------------
    async def prepare_client(self) -> tuple[Model, str, str]:
        if self.client is not None:
            return self.client, self.settings.model or "scripted", ""
        from rlm.llm.factory import make_model
        from rlm.llm.resolve import preflight, resolve_model

        model, note = resolve_model(self.settings.model, env=self._env)
        self.settings.model = model
        for name in self.settings.models():
            key = (name, self.settings.api_base)
            if key not in self._checked:  # once per RLM: a check costs a request (~50 ms)
                await preflight(name, api_base=self.settings.api_base, env=self._env)
                self._checked.add(key)
        return make_model(self.settings, env=self._env), model, note

    async def _run(self, prompt: str, source: ContextSource, task_is_context: bool,
                   client: Model, model: str, run_dir: Path,
                   trace_path: str | Path | None) -> RLMResult:
        bus, windows, writer = await self.open_bus(model, trace_path)
        pool = self._pool_for_run()
        try:
            return await self.run_turn(
                Turn(prompt, source, task_is_context), client=client, model=model,
                run_dir=run_dir, bus=bus, pool=pool, windows=windows,
                trace_path=str(writer.path) if writer else None)
        finally:
            if pool is not self._pool:
                await asyncio.shield(pool.close())
            if writer:
                writer.close()

    async def run_turn(self, turn: Turn, *, client: Model, model: str, run_dir: Path,
                       bus: ev.EventBus, pool: SandboxPool, windows: dict[str, dict],
                       trace_path: str | None) -> RLMResult:
        """One root agent's run to its end, on ``bus``: a completion, or a session's turn
        (its own root id, the session's sandbox, a recap in its task message)."""
        run = Run(run_id=uuid.uuid4().hex[:12], settings=self.settings, client=client, bus=bus,
                  run_dir=run_dir, pool=pool, windows=self._windows, env=self._env,
                  tools=self.tools, root_id=turn.root_id)
        started_at = time.time()
        bus.emit(ev.RunStarted(agent_id=turn.root_id, run_id=run.run_id,
                               task=ev.task_preview(turn.prompt), task_chars=len(turn.prompt),
                               model=model, settings=self.settings.public(),
                               trace_path=trace_path, sandbox=sandbox_report(self.settings),
                               windows=windows))
        run.reserve_agent()
        root = Agent(run, agent_id=run.new_agent_id(None), parent_id=None, depth=0,
                     task=turn.prompt, source=turn.source,
                     model=self.settings.model_for_depth(0) or model,
                     task_is_context=turn.task_is_context, sandbox=turn.sandbox,
                     note=turn.note)
        if turn.on_root is not None:
            turn.on_root(root)
        with self._under_way():
            return await self._turn(root, run, started_at, model, trace_path)

    async def _turn(self, root: Agent, run: Run, started_at: float, model: str,
                    trace_path: str | None) -> RLMResult:
        outcome = Outcome("failed", error="the run did not finish")
        try:
            outcome = await self._run_root(root, run)
        finally:
            result = self._finish(run, outcome, started_at, model, trace_path)
            run.close()
        return result

    def _pool_for_run(self) -> SandboxPool:
        """A pool for this run: the kept warm one (``keep_warm``) if on this loop."""
        config = sandbox_config(self.settings)
        if not self._keep_warm:
            return SandboxPool(config)
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            self._pool, self._pool_loop = SandboxPool(config), loop
        return self._pool

    async def _run_root(self, root: Agent, run: Run) -> Outcome:
        task = asyncio.ensure_future(root.run_to_end())
        with self._lock:
            self._active = (asyncio.get_running_loop(), task, run)
            if self._cancelled:
                run.cancelled = True
                task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            if not self._cancelled:  # our caller was cancelled, not the run
                raise
            return Outcome("cancelled", error="the run was cancelled")
        finally:
            with self._lock:
                self._active = None
                self._cancelled = False

    async def open_bus(self, model: str, trace_path: str | Path | None,
                       subscribers: Sequence[ev.Subscriber] = ()
                       ) -> tuple[ev.EventBus, dict[str, dict], TraceWriter | None]:
        """The event bus of a run or a session: the windows decided, the trace opened (its
        writer subscribes first), then this RLM's subscribers and ``subscribers``."""
        bus = ev.EventBus()
        windows = await self.decide_windows(model)
        writer = self.open_trace(bus, trace_path, model, windows)
        for subscriber in [*self.subscribers, *subscribers]:
            bus.subscribe(subscriber)
        return bus, windows, writer

    async def decide_windows(self, model: str) -> dict[str, dict]:
        """The running windows of the models this run starts with (root, ``llm_query``),
        decided now so that the trace header and the first event say them."""
        names = dict.fromkeys([self.settings.model_for_depth(0) or model,
                               self.settings.query_model or model])
        return {name: (await self._windows.get(name)).to_dict() for name in names}

    def open_trace(self, bus: ev.EventBus, path: str | Path | None, model: str,
                    windows: dict[str, dict]) -> TraceWriter | None:
        if path is None:
            return None
        header = {"model": model, "settings": self.settings.public(),
                  "sandbox": sandbox_report(self.settings), "windows": windows}
        writer = TraceWriter(path, header, env=self._env)
        bus.subscribe(writer)
        return writer

    def _finish(self, run: Run, outcome: Outcome, started_at: float, model: str,
                trace_path: str | None) -> RLMResult:
        seconds = time.time() - started_at
        usage = run.tree.run_usage()
        run.emit(ev.RunFinished(agent_id=run.root_id, status=outcome.status,
                                answer=outcome.answer, limit_hit=outcome.limit_hit,
                                error=outcome.error, usage=usage.to_dict(), seconds=seconds,
                                agents=len(run.tree.nodes), trace_path=trace_path))
        return RLMResult(answer=outcome.answer or "", status=outcome.status,
                         limit_hit=outcome.limit_hit, tree=run.tree.root, usage=usage,
                         seconds=seconds, started_at=started_at, finished_at=time.time(),
                         run_id=run.run_id, model=model, error=outcome.error,
                         trace_path=trace_path)
