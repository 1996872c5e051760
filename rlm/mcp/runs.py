"""One task of ``rlm mcp``: planned like ``rlm run``, run on a thread of its own, its
events reported as progress, cancelled with the client's request.

The engine runs where the TUI runs it: ``RLM.completion`` in a worker thread, so a slow
import or a blocking call in it never stalls the server's event loop (which keeps answering
pings, progress and other calls). Events cross to the loop through
``call_soon_threadsafe``; a cancelled call (``notifications/cancelled``, or the client gone)
calls ``RLM.cancel()``, which ends every agent and kills every sandbox, and waits for the
thread under a shield so that no process of the run outlives the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from argparse import Namespace
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import anyio

from rlm import events as ev
from rlm.cli.plan import FLAG_SETTINGS, make_engine, make_plan
from rlm.cli.progress import plural, short
from rlm.errors import ConfigError

CANCEL_WAIT = 60.0  # seconds a cancelled run may take to close its sandboxes and trace

Report = Callable[[str], Awaitable[None]]


class RunReport(TypedDict):
    """What ``run_task`` returns: the answer and how the run went."""

    answer: str
    status: str  # answered | limit | failed | cancelled
    limit_hit: str | None
    error: str | None
    model: str
    seconds: float
    agents: int
    steps: int
    usage: dict[str, Any]  # prompt_tokens, completion_tokens, calls, cost_usd, by_model
    trace: str | None  # the trace file: `rlm replay TRACE`, `rlm-tui --replay TRACE`


@dataclasses.dataclass
class Task:
    """A ``run_task`` call's arguments."""

    question: str
    context_path: str | None = None
    context_text: str | None = None
    model: str | None = None
    sub_model: str | None = None
    profile: str | None = None
    limits: dict[str, Any] = dataclasses.field(default_factory=dict)  # Settings fields


def prepare(task: Task):
    """The engine and what to run, resolved as ``rlm run`` does (flags > profile >
    environment > ``.env`` > defaults), every model checked. Blocking: call it on a thread.

    Raises:
        RLMError: bad settings, context or model (the message says what to do).
    """
    if task.context_path and task.context_text is not None:
        raise ConfigError("Give the context as context_path or as context_text, not both.")
    args = Namespace(question=task.question, prompt_file=None, context=task.context_path,
                     profile=task.profile, trace=None, dry_run=False,
                     **{name: None for name in FLAG_SETTINGS})
    args.model, args.sub_model = task.model, task.sub_model
    plan = make_plan(args)
    limits = {k: v for k, v in task.limits.items() if v is not None}
    if limits:  # Settings validates them again (minimums, types)
        plan.settings = dataclasses.replace(plan.settings, **limits)
    if task.context_text is not None:
        plan.context = task.context_text
    rlm, _ = make_engine(plan)  # a host of a group that is down: the others serve
    return rlm, plan.question, plan.context


async def run_task(task: Task, report: Report) -> RunReport:
    """Run ``task`` to its end; ``report`` gets a line per agent started or finished and
    per step. Cancelling this coroutine cancels the run."""
    rlm, question, context = await anyio.to_thread.run_sync(prepare, task)
    result = await run_engine(rlm, question, context, report)
    return run_report(result)


async def run_engine(rlm, question: str, context: Any, report: Report):
    """``rlm.completion(question, context)`` on a worker thread, its events reported."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def on_event(event: ev.Event) -> None:  # the engine's thread
        line = progress_line(event)
        if line is not None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def work():
        try:
            return rlm.completion(question, context)
        finally:
            loop.call_soon_threadsafe(lines.put_nowait, None)

    rlm.subscribe(on_event)
    job = loop.run_in_executor(None, work)
    try:
        while (line := await lines.get()) is not None:
            await report(line)
        return await job
    except BaseException:
        if not job.done():  # cancelled by the client (or the server shutting down)
            rlm.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_WAIT):
                await asyncio.wait([job])
        raise


def progress_line(event: ev.Event) -> str | None:
    """A progress message for the events a client cares about; ``None`` for the rest."""
    who = f"agent {event.agent_id}"
    if isinstance(event, ev.AgentStarted):
        return f"{who} started (depth {event.depth}, {event.model}): {short(event.task, 80)}"
    if isinstance(event, ev.StepStarted):
        return f"{who}: asking for its best answer" if event.kind == "best_answer" else (
            f"{who} step {event.step}")
    if isinstance(event, ev.CodeStarted):
        return f"{who} step {event.step}: running code block {event.block + 1}"
    if isinstance(event, ev.AgentFinished):
        why = event.limit_hit or event.error
        end = f": {short(event.answer, 80)}" if event.answer else (f": {why}" if why else "")
        return f"{who} {event.status} after {plural(event.steps, 'step')}{end}"
    return None


def run_report(result) -> RunReport:
    return RunReport(answer=result.answer, status=result.status, limit_hit=result.limit_hit,
                     error=result.error, model=result.model, seconds=round(result.seconds, 3),
                     agents=len(result.agents), steps=sum(a.steps for a in result.agents),
                     usage=result.usage.to_dict(), trace=result.trace_path)
