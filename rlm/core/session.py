"""A conversation: follow-up questions over one sandbox.

``chat = RLM(...).session(context=...)``; ``chat.ask(question)`` runs a root agent for each
question on the **same** sandbox, so variables survive from turn to turn. Each turn's task
message recaps the last few turns (bounded), and the whole conversation is the sandbox
variable ``turns`` (one dict per turn: turn, question, answer, status). A question may bring
a new context: it becomes ``context`` (``keep="replace"``, the old one stays as
``context_<n>``) or sits beside it as ``context_<n>`` (``keep="add"``). One trace holds
every turn; turn ``n``'s root agent is ``n - 1`` (``0``, ``1``, ...), its children ``1.1``...
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm import events as ev
from rlm.context import ContextSource, prepare_context
from rlm.core.loop import EngineLoop
from rlm.core.run import Turn, sandbox_config
from rlm.errors import ConfigError, ContextError
from rlm.result import RLMResult
from rlm.sandbox import Sandbox, SandboxPool
from rlm.trace import TraceWriter

if TYPE_CHECKING:
    from rlm.core.agent import Agent
    from rlm.core.engine import RLM
    from rlm.llm import Model

RECAP_TURNS = 3        # the recap in a task message names the last few turns
RECAP_QUESTION = 200   # characters of each question in it
RECAP_ANSWER = 300     # and of each answer (``turns`` has them whole)


@dataclass
class TurnRecord:
    """One question of the conversation and how it ended."""

    question: str
    answer: str
    status: str
    result: RLMResult

    def to_dict(self, number: int) -> dict[str, Any]:
        return {"turn": number, "question": self.question, "answer": self.answer,
                "status": self.status}


@dataclass
class _Live:
    """What a started session holds: all of it belongs to one event loop."""

    loop: asyncio.AbstractEventLoop
    client: Model
    model: str
    run_dir: Path
    source: ContextSource
    pool: SandboxPool
    sandbox: Sandbox
    bus: ev.EventBus
    windows: dict[str, dict]
    writer: TraceWriter | None
    contexts: int = 1
    current: Agent | None = field(default=None)


class Session:
    """Follow-up questions over one sandbox (``RLM.session``).

    Use it as a context manager, or ``close()`` it: that stops its sandbox. ``ask`` is
    for code without an event loop (it keeps one of its own); ``aask`` for async code,
    always from the same loop.
    """

    def __init__(self, rlm: RLM, context: Any = None, *, trace: str | Path | None = None):
        self.rlm = rlm
        self.context = context
        self.trace = trace
        self.turns: list[TurnRecord] = []
        self._live: _Live | None = None
        self._engine_loop: EngineLoop | None = None
        self._subscribers: list[ev.Subscriber] = []

    # --- asking ------------------------------------------------------------------------
    def ask(self, question: str, context: Any = None, *, keep: str = "replace") -> RLMResult:
        """Ask the next question and wait for its answer (Ctrl-C cancels just this turn).

        Args:
            question: the question; earlier turns are recapped in its task message.
            context: a new context for this and later questions (``None``: keep the last).
            keep: ``"replace"`` makes it ``context`` (the old one stays as ``context_<n>``),
                ``"add"`` keeps ``context`` and puts the new one in ``context_<n>``.
        """
        if self._engine_loop is None:
            self._engine_loop = EngineLoop(name="rlm-session")
        return self._engine_loop.run(self.aask(question, context, keep=keep),
                                     on_interrupt=self.cancel)

    async def aask(self, question: str, context: Any = None, *,
                   keep: str = "replace") -> RLMResult:
        """``ask`` for async code."""
        if keep not in ("replace", "add"):
            raise ConfigError(f"keep must be 'replace' or 'add', got {keep!r}.")
        live = await self._start(question)
        note = await self._new_context(live, context, keep) if context is not None else ""
        await live.sandbox.set_variable("turns", [t.to_dict(i + 1)
                                                  for i, t in enumerate(self.turns)])
        number = len(self.turns) + 1
        turn = Turn(question, live.source, task_is_context=False, root_id=str(number - 1),
                    sandbox=live.sandbox, note="\n\n".join(filter(None, [note, self.recap()])),
                    on_root=lambda agent: setattr(live, "current", agent))
        result = await self.rlm.run_turn(
            turn, client=live.client, model=live.model, run_dir=live.run_dir, bus=live.bus,
            pool=live.pool, windows=live.windows,
            trace_path=str(live.writer.path) if live.writer else None)
        self.turns.append(TurnRecord(question, result.answer, result.status, result))
        return result

    async def astream(self, question: str, context: Any = None, *,
                      keep: str = "replace") -> AsyncIterator[ev.Event | RLMResult]:
        """Every event of the next turn as it happens, then its ``RLMResult``."""
        live = await self._start(question)
        async for item in stream_of(live.bus.subscribe,
                                    self.aask(question, context, keep=keep), self.cancel):
            yield item

    def subscribe(self, subscriber: ev.Subscriber) -> Callable[[], None]:
        """Receive every event of the next turns (from now on); returns the unsubscribe."""
        self._subscribers.append(subscriber)
        if self._live is not None:
            self._live.bus.subscribe(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            if self._live is not None:  # the bus it is on now (made after it subscribed?)
                self._live.bus.unsubscribe(subscriber)
        return unsubscribe

    def recap(self) -> str:
        """A few lines on the last turns for the next task message (bounded)."""
        if not self.turns:
            return ""
        first = len(self.turns) - min(RECAP_TURNS, len(self.turns)) + 1
        lines = ["Earlier in this conversation (all of it is in the variable `turns`; your "
                 "variables from those turns are still defined):"]
        for number, turn in enumerate(self.turns[first - 1:], start=first):
            lines.append(f"{number}. Q: {_cut(turn.question, RECAP_QUESTION)}")
            lines.append(f"   A: {_cut(turn.answer or '(' + turn.status + ')', RECAP_ANSWER)}")
        return "\n".join(lines)

    def cancel(self) -> None:
        """Stop the running turn (from any thread); the session goes on."""
        self.rlm.cancel()

    def stop_agent(self, agent_id: str) -> None:
        """Stop one agent of the running turn and everything under it."""
        self.rlm.stop_agent(agent_id)

    # --- life cycle ----------------------------------------------------------------------
    def restart(self) -> None:
        """``reset`` for code without an event loop (as ``ask``)."""
        if self._engine_loop is not None:
            self._engine_loop.run(self.reset())
        else:
            self.turns.clear()

    async def reset(self) -> None:
        """Start over: a fresh sandbox (every variable gone) and no turns."""
        await self.aclose()
        self.turns.clear()

    def close(self) -> None:
        engine_loop, self._engine_loop = self._engine_loop, None
        if engine_loop is not None:
            engine_loop.close(self.aclose)
        elif self._live is not None:
            asyncio.run(self.aclose())

    async def aclose(self) -> None:
        live, self._live = self._live, None
        if live is None:
            return
        try:
            await asyncio.shield(live.sandbox.close())
            await asyncio.shield(live.pool.close())
            close = getattr(live.client, "aclose", None)
            if close is not None and live.client is not self.rlm.client:
                await close()
        finally:
            if live.writer is not None:
                live.writer.close()
            shutil.rmtree(live.run_dir, ignore_errors=True)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals -----------------------------------------------------------------------
    async def _start(self, question: str) -> _Live:
        loop = asyncio.get_running_loop()
        if self._live is not None:
            if self._live.loop is not loop:
                raise ConfigError("A session belongs to the event loop of its first question: "
                                  "ask from that loop (or use ask() everywhere).")
            return self._live
        client, model, _ = await self.rlm.prepare_client()
        run_dir = Path(tempfile.mkdtemp(prefix="rlm-session-"))
        try:
            source = prepare_context(question if self.context is None else self.context,
                                     run_dir)
            pool = SandboxPool(sandbox_config(self.rlm.settings))
            sandbox = await Sandbox.start(
                source, config=sandbox_config(self.rlm.settings, self.rlm.tools.names),
                handler=self._dispatch, pool=pool, label="session")
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        bus, windows, writer = await self.rlm.open_bus(model, self.trace, self._subscribers)
        self._live = _Live(loop, client, model, run_dir, source, pool, sandbox, bus, windows,
                           writer)
        return self._live

    async def _dispatch(self, op: str, payload: dict[str, Any]) -> Any:
        """The sandbox's calls go to the agent of the turn that runs now."""
        live = self._live
        if live is None or live.current is None:
            raise RuntimeError("no turn is running")
        return await live.current.subcalls.handle(op, payload)

    async def _new_context(self, live: _Live, context: Any, keep: str) -> str:
        live.contexts += 1
        number = live.contexts
        source = prepare_context(context, live.run_dir, name=f"context-{number}")
        value = _wire_value(source)
        if keep == "add":
            await live.sandbox.set_variable(f"context_{number}", value)
            return (f"A new context came with this question: it is in `context_{number}` "
                    f"({source.info.get('type')}); `context` is unchanged.")
        await live.sandbox.run(f"context_{number - 1} = context")
        await live.sandbox.set_variable("context", value)
        live.source = live.sandbox.source = source  # a restarted worker loads the new one
        return (f"A new context came with this question: it is now `context` "
                f"({source.info.get('type')}); the one before is `context_{number - 1}`.")


def _wire_value(source: ContextSource) -> Any:
    """A prepared context as a JSON value for the sandbox (text or JSON data)."""
    if source.kind == "text":
        return source.path.read_text(encoding="utf-8", errors="surrogatepass")
    if source.kind == "json":
        import json

        return json.loads(source.path.read_text(encoding="utf-8"))
    raise ContextError("A session's new context must be text, a list or a dict (bytes can "
                       "only be the first context): start a new session for binary data.")


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


async def stream_of(subscribe: Callable[[ev.Subscriber], Callable[[], None]],
                    run: Awaitable[RLMResult],
                    cancel: Callable[[], None]) -> AsyncIterator[ev.Event | RLMResult]:
    """The events ``subscribe`` hands over while ``run`` works, then its result; leaving
    the loop early cancels the run."""
    queue: asyncio.Queue[ev.Event] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def put(event: ev.Event) -> None:
        if _on_loop(loop):
            queue.put_nowait(event)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    unsubscribe = subscribe(put)
    task = asyncio.ensure_future(run)
    try:
        while not task.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        yield task.result()
    finally:
        unsubscribe()
        if not task.done():
            cancel()
            await asyncio.gather(task, return_exceptions=True)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
