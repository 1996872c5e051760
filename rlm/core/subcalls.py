"""Calls from sandbox code to the host: ``llm_query``, ``rlm_query`` and their batches.

``llm_query`` is one plain completion (the prompt is the only message, no system prompt,
``sub_model`` unless named). ``rlm_query`` starts a child agent at depth + 1 with a fresh
history, its own sandbox and its own context; past ``max_depth`` it falls back to
``llm_query``. The parent gets only the child's answer, or a clear error string.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm import events as ev
from rlm.context import ContextSource, describe, prepare_context
from rlm.core.run import Outcome
from rlm.errors import LimitReached, PromptTooLong, RLMError

if TYPE_CHECKING:
    from rlm.core.agent import Agent


SUB_CALLS = ("llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched")


class SubCalls:
    """The sandbox handler of one agent."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.run = agent.run
        self._calls = 0  # calls made so far by this agent's code

    async def handle(self, op: str, payload: dict[str, Any]) -> Any:
        if op in SUB_CALLS and not self.run.settings.sub_calls:  # the code's call raises
            raise RuntimeError(f"{op} is turned off in this run (sub_calls=False): work "
                               f"on `context` with Python code alone.")
        model = payload.get("model")
        if op == "llm_query":
            return await self.llm_query(payload.get("prompt", ""), model, order=self._order())
        if op == "llm_query_batched":
            prompts = list(payload.get("prompts") or [])
            orders = [self._order(i) for i in range(len(prompts))]
            return await asyncio.gather(*(self.llm_query(p, model, order=o)
                                          for p, o in zip(prompts, orders, strict=True)))
        if op == "rlm_query":
            return await self._waiting(self.rlm_query(
                payload.get("task", ""), payload.get("context"), model, order=self._order()))
        if op == "rlm_query_batched":
            tasks = list(payload.get("tasks") or [])
            contexts = list(payload.get("contexts") or [None] * len(tasks))
            contexts += [None] * (len(tasks) - len(contexts))
            orders = [self._order(i) for i in range(len(tasks))]
            # Padded above; a longer list (the sandbox's namespace refuses one) is cut to tasks.
            return await self._waiting(asyncio.gather(*(
                self.rlm_query(t, c, model, order=o)
                for t, c, o in zip(tasks, contexts, orders, strict=False))))
        if op == "tool":
            return await self.tool(str(payload.get("name", "")), list(payload.get("args") or []),
                                   dict(payload.get("kwargs") or {}))
        raise ValueError(f"unknown sandbox call {op!r}")

    def _order(self, batch: int | None = None) -> dict[str, Any]:
        """Where a call stands among the agent's calls, taken when the code makes it: its
        ``SubCall`` event says so, since a batch's calls finish in any order."""
        self._calls += 1
        return {"index": self._calls - 1, "batch": batch}

    async def tool(self, name: str, args: list, kwargs: dict) -> Any:
        """A host tool, called from code; its failure goes back to the code as an error."""
        started, order = time.monotonic(), self._order()
        shown = f"{name}{json.dumps({'args': args, 'kwargs': kwargs}, default=str)}"
        try:
            result = await self.run.tools.call(name, args, kwargs)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.agent.emit(ev.SubCall, kind="tool", prompt=ev.bounded(shown), model=name,
                            error=error, seconds=time.monotonic() - started, **order)
            raise RuntimeError(f"tool {name} failed: {error}") from None
        self.agent.emit(ev.SubCall, kind="tool", prompt=ev.bounded(shown),
                        answer=ev.bounded(json.dumps(result, default=str)), model=name,
                        seconds=time.monotonic() - started, **order)
        return result

    async def _waiting(self, awaitable):
        """Mark the agent ``waiting`` while its children work."""
        self.agent.set_status("waiting")
        try:
            return await awaitable
        finally:
            self.agent.set_status("running")

    # --- llm_query ----------------------------------------------------------------------
    async def llm_query(self, prompt: Any, model: str | None,
                        order: dict[str, Any] | None = None) -> str:
        """One plain completion; a failure becomes an error string in its place."""
        prompt = str(prompt)
        order = order or {}
        model = model or self.run.settings.query_model or self.agent.model
        started = time.monotonic()
        try:
            completion = await self.run.ask([{"role": "user", "content": prompt}], model=model,
                                            on_wait=self.agent.waiting(self.agent.steps, model))
        except (RLMError, LimitReached) as exc:
            refusal = _refusal(prompt, model, exc) if isinstance(exc, PromptTooLong) else None
            self._emit_sub("llm_query", prompt, model, error=refusal or str(exc),
                           started=started, **order)
            return refusal or f"[llm_query failed: {exc}]"
        self._emit_sub("llm_query", prompt, model, answer=completion.text, started=started,
                       prompt_tokens=completion.prompt_tokens,
                       completion_tokens=completion.completion_tokens,
                       cost_usd=completion.cost_usd, host=completion.host, **order)
        return completion.text

    def _emit_sub(self, kind: str, prompt: str, model: str, *, started: float,
                  answer: str = "", error: str | None = None, **usage: Any) -> None:
        self.agent.emit(ev.SubCall, kind=kind, prompt=ev.bounded(prompt), answer=ev.bounded(answer),
                        prompt_chars=len(prompt), answer_chars=len(answer), model=model,
                        error=error, seconds=time.monotonic() - started, **usage)

    # --- rlm_query ----------------------------------------------------------------------
    async def rlm_query(self, task: Any, context: dict | None, model: str | None,
                        order: dict[str, Any] | None = None) -> str:
        """A child agent; past ``max_depth`` a plain ``llm_query``."""
        task = str(task)
        depth = self.agent.depth + 1
        if depth > self.run.settings.max_depth:
            return await self.llm_query(task if context is None else _inline(task, context),
                                        model, order)
        if not self.run.reserve_agent():
            limit = self.run.settings.max_agents
            self.agent.pending_limit = "agents"
            self.agent.pending_limit_detail = f"the run reached max_agents={limit}"
            return (f"[rlm_query refused: the run already has {limit} agents (max_agents). "
                    f"Answer with what you have.]")
        started = time.monotonic()
        child_id = self.run.new_agent_id(self.agent.agent_id)
        child = self.agent.child(
            child_id, task, self._child_source(task, context, child_id),
            model=model or self.run.settings.model_for_depth(depth) or self.agent.model,
            task_is_context=context is None)
        running = asyncio.ensure_future(child.run_to_end())
        self.run.agent_tasks[child.agent_id] = running
        try:
            outcome = await running
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if child.agent_id not in self.run.stopped or (me and me.cancelling()):
                raise  # the whole run (or this agent) was cancelled, not just the child
            outcome = Outcome("cancelled", error="the user stopped it")
        finally:
            self.run.agent_tasks.pop(child.agent_id, None)
        answer = _answer_text(outcome)
        self._emit_sub("rlm_query", task, child.model, answer=answer, started=started,
                       child_id=child.agent_id, **(order or {}))
        return answer

    def _child_source(self, task: str, context: dict | None, child_id: str) -> ContextSource:
        if context is None:  # the task itself becomes the child's context
            return prepare_context(task, self.run.run_dir, name=f"task-{child_id}")
        kind, path = context["kind"], Path(context["path"])
        return ContextSource(kind, path, _describe_file(kind, path))


def _answer_text(outcome: Outcome) -> str:
    if outcome.status == "answered":
        return outcome.answer or ""
    if outcome.status == "limit" and outcome.answer:
        return outcome.answer
    return f"[rlm_query failed: the child agent ended with status {outcome.status}" + (
        f": {outcome.error}]" if outcome.error else "]")


def _inline(task: str, context: dict) -> str:
    """Past max_depth the child context goes into the plain prompt."""
    try:
        text = Path(context["path"]).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return f"{task}\n\nContext:\n{text}"


def _describe_file(kind: str, path: Path) -> dict[str, Any]:
    """Facts about a context the worker wrote, read back without loading it all."""
    if kind == "text":
        with path.open("r", encoding="utf-8", errors="replace") as src:
            head = src.read(2000)
        info = describe(head, size=path.stat().st_size)
    elif kind == "json":
        info = describe(json.loads(path.read_text(encoding="utf-8")))
    else:
        info = describe(path.read_bytes()[:500], size=path.stat().st_size)
    return info


def _refusal(prompt: str, model: str, exc: PromptTooLong) -> str | None:
    """What sandbox code reads for an ``llm_query`` prompt that ``Run.ask`` found too long
    for its model (``None`` when it did not count it): Ollama would cut it silently
    (llama.cpp and vLLM refuse it), and the answer would read fine and be wrong."""
    if not exc.tokens:
        return None
    # Characters per chunk at this text's own rate, with a quarter of the room to spare.
    chunk = max(1, int(len(prompt) * exc.limit / max(exc.tokens, 1) * 3 / 4))
    return (f"[llm_query refused: the prompt is about {exc.tokens:,} tokens but {model} runs "
            f"at {exc.running:,} (room for a {exc.limit:,}-token prompt and the reply). "
            f"Split the text into smaller chunks (for example {chunk:,} characters each) "
            f"and use llm_query_batched.]")
