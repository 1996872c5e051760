"""One agent's loop: ask the model, act on the reply, until a final answer or a limit.

``run()`` loops over ``step()``; ``step()`` asks the model and acts on the answer. Limits
are checked in one place (``Run.check_limits``). When one stops the agent it gets one extra
call for its best answer, outside the step count. Every change is an event.
"""

from __future__ import annotations

import asyncio
import time

from rlm import events as ev
from rlm.context import ContextSource
from rlm.core import prompts
from rlm.core.budget import OBSERVATION_SHARE, observation_chars, prompt_limit, prompt_tokens
from rlm.core.history import VARIABLE as HISTORY
from rlm.core.history import History
from rlm.core.observe import block_output, cut_text, render_action
from rlm.core.parse import OBSERVATION_STOP, Reply, parse_reply
from rlm.core.run import Outcome, Run, sandbox_config
from rlm.core.subcalls import SubCalls
from rlm.core.waiting import WaitCallback
from rlm.errors import Cancelled, LimitReached, RLMError
from rlm.sandbox import Sandbox

BEST_ANSWER_GRACE = 120.0  # seconds a best-answer call may run past the run's deadline


class Agent:
    """One node of the tree: its history, its sandbox, its loop."""

    def __init__(self, run: Run, *, agent_id: str, parent_id: str | None, depth: int,
                 task: str, source: ContextSource, model: str, task_is_context: bool = False,
                 sandbox: Sandbox | None = None, note: str = ""):
        """``sandbox``: one that outlives the agent (a session's), used instead of starting
        one; ``note``: more for the task message (a session's recap of earlier turns)."""
        self.run = run
        self.agent_id, self.parent_id, self.depth = agent_id, parent_id, depth
        self.task, self.source, self.model = task, source, model
        self.steps = 0
        self.finished = False
        self.pending_limit: str | None = None
        self.pending_limit_detail = ""
        self.sandbox = sandbox
        self.owns_sandbox = sandbox is None
        self.subcalls = SubCalls(self)
        sub_calls = run.settings.sub_calls
        first = prompts.first_message(task, source.info, task_is_context=task_is_context,
                                      sub_calls=sub_calls)
        self.history = History(prompts.system_prompt(source.info, run.tools.listing(),
                                                     sub_calls=sub_calls),
                               f"{first}\n\n{note}" if note else first)
        self.observation_chars = run.settings.observation_chars
        self.observation_tokens: int | None = None  # set from the window once it is known

    @property
    def messages(self) -> list[dict]:
        """What the next call sends: system prompt, task message, the turns in the chat."""
        return self.history.messages()

    def child(self, agent_id: str, task: str, source: ContextSource, *, model: str,
              task_is_context: bool) -> Agent:
        """A child agent one level down, with a fresh history (``rlm_query``)."""
        return Agent(self.run, agent_id=agent_id, parent_id=self.agent_id,
                     depth=self.depth + 1, task=task, source=source, model=model,
                     task_is_context=task_is_context)

    # --- events -------------------------------------------------------------------------
    def emit(self, event_cls: type[ev.Event], **fields) -> ev.Event:
        return self.run.emit(event_cls(agent_id=self.agent_id, parent_id=self.parent_id,
                                       depth=self.depth, **fields))

    def set_status(self, status: str) -> None:
        if not self.finished:
            self.emit(ev.AgentStatus, status=status)

    # --- the loop -----------------------------------------------------------------------
    async def run_to_end(self) -> Outcome:
        """Run the agent and always finish it with an ``AgentFinished`` event."""
        self.emit(ev.AgentStarted, task=ev.task_preview(self.task), task_chars=len(self.task),
                  model=self.model,
                  context_info=_public_info(self.source.info),
                  first_message=ev.bounded(self.history.first),
                  first_message_chars=len(self.history.first))
        outcome = Outcome("failed", error="the agent did not finish")
        try:
            outcome = await self._run()
        except (asyncio.CancelledError, Cancelled):
            stopped = self.agent_id in self.run.stopped or any(
                self.agent_id.startswith(f"{agent}.") for agent in self.run.stopped)
            outcome = Outcome("cancelled", error="stopped by the user" if stopped
                              else "the run was cancelled")
            raise
        except RLMError as exc:
            if self.run.cancelled:  # e.g. its sandbox pool closed under it
                outcome = Outcome("cancelled", error="the run was cancelled")
            else:
                outcome = Outcome("failed", error=str(exc))
        finally:
            self.finished = True
            await self._close_sandbox()
            self.emit(ev.AgentFinished, status=outcome.status, answer=outcome.answer,
                      limit_hit=outcome.limit_hit, error=outcome.error, steps=self.steps,
                      usage=self._own_usage())
        return outcome

    async def _run(self) -> Outcome:
        if self.sandbox is None:
            self.sandbox = Sandbox.begin(  # boots while the model thinks: awaited on use
                self.source, config=sandbox_config(self.run.settings, self.run.tools.names),
                handler=self.subcalls.handle, pool=self.run.pool, label=self.agent_id)
        window = await self.run.windows.get(self.model)
        self.observation_chars = observation_chars(window, self.run.settings)
        if window.running:
            self.observation_tokens = int(window.running * OBSERVATION_SHARE)
        try:
            while True:
                self.run.check_limits(self)
                answer = await self.step()
                if answer is not None:
                    return Outcome("answered", answer=answer)
        except LimitReached as limit:
            return await self.best_answer(limit)

    async def step(self) -> str | None:
        """Ask the model once and act on its reply; the final answer, or ``None``."""
        self.steps += 1
        self.emit(ev.StepStarted, step=self.steps)
        reply = await self.ask(self.steps)
        return await self.act(reply)

    async def ask(self, step: int, kind: str = "step") -> Reply:
        started = time.monotonic()
        await self.keep_in_window(step)

        def on_token(text: str) -> None:
            self.emit(ev.TokenDelta, step=step, text=text)

        def on_thinking(text: str) -> None:
            self.emit(ev.TokenDelta, step=step, text=text, kind="thinking")

        completion = await self.run.ask(
            self.messages, model=self.model, stop=[OBSERVATION_STOP], on_token=on_token,
            on_thinking=on_thinking, on_wait=self.waiting(step, self.model),
            grace=BEST_ANSWER_GRACE if kind == "best_answer" else None)
        reply = parse_reply(completion.text)  # the reply alone: thinking never reaches it
        self.history.add_reply(step, reply.text)
        self.emit(ev.ModelReplied, step=step, text=reply.text, model=completion.model or self.model,
                  prompt_tokens=completion.prompt_tokens,
                  completion_tokens=completion.completion_tokens, cost_usd=completion.cost_usd,
                  seconds=time.monotonic() - started, thinking=completion.thinking,
                  host=completion.host)
        return reply

    def waiting(self, step: int, model: str) -> WaitCallback:
        """Says, as a ``ModelWaiting`` event, that a call of this agent is waiting."""
        def on_wait(seconds: float, reason: str, since: float) -> None:
            self.emit(ev.ModelWaiting, step=step, model=model, seconds=seconds, since=since,
                      reason=reason)
        return on_wait

    async def keep_in_window(self, step: int) -> None:
        """Fold the oldest turns into ``history`` when the next call would not leave the
        model room (``rlm.core.history``); cut the newest output if even that is not enough."""
        window = await self.run.windows.get(self.model)
        limit = prompt_limit(window, self.run.settings)
        if limit is None:
            return

        factor = self.run.windows.factor(self.model)

        def count(messages: list[dict]) -> int:
            return prompt_tokens(messages, self.model, factor)

        tokens = count(self.messages)  # once: counting a long chat takes milliseconds
        if self.history.needs_fold(tokens, limit):
            folded = self.history.fold(count, limit, tokens)
            if folded is not None:
                tokens = folded.tokens_after
                await self.store_history()
                self.emit(ev.HistoryFolded, step=step, steps=folded.steps,
                          tokens_before=folded.tokens_before, tokens_after=folded.tokens_after,
                          window=window.running or 0)
        if tokens > limit:
            self.history.shrink_last(count, limit)

    async def store_history(self) -> None:
        """Put the folded steps in the sandbox variable ``history`` (all of them: a worker
        that was restarted lost the old ones)."""
        if self.sandbox is not None and self.history.folded:
            await self.sandbox.set_variable(HISTORY, self.history.folded)

    async def act(self, reply: Reply) -> str | None:
        """Apply the reply protocol: run code, decide whether the agent has answered."""
        if reply.has_code:
            return await self._act_with_code(reply)
        if reply.final_var is not None:
            found, value = await self._open_sandbox.get_variable(reply.final_var)
            if found:
                return value
            self.observe(_missing_var(reply.final_var))
            return None
        if reply.final_answer is not None:
            return reply.final_answer
        self.observe(prompts.FORMAT_REMINDER.removeprefix("Observation: "))
        return None

    async def _act_with_code(self, reply: Reply) -> str | None:
        parts: list[str] = []
        result = None
        for block, code in enumerate(reply.code_blocks):
            self.emit(ev.CodeStarted, step=self.steps, code=code, block=block)
            started = time.monotonic()
            result = await self._open_sandbox.run(code)
            self.emit(ev.CodeFinished, step=self.steps, block=block,
                      **block_output(result, time.monotonic() - started))
            parts.append(render_action(result, block, len(reply.code_blocks)))
            if result.restarted and self.history.folded:
                await self.store_history()
                parts.append(f"[`{HISTORY}` was put back: it holds the steps moved out of "
                             f"this chat.]")
            if result.final is not None:
                self.observe("\n".join(parts), result)
                return result.final  # FINAL()/FINAL_VAR() called inside code
            if result.error or result.timed_out or result.restarted:
                break  # later blocks would run on a broken state
        if reply.final_var is not None:
            found, value = await self._open_sandbox.get_variable(reply.final_var)
            if found:
                self.observe("\n".join(parts), result)
                return value
            parts.append(_missing_var(reply.final_var))
        elif reply.final_answer is not None:
            parts.append(prompts.ANSWER_BEFORE_OUTPUT)
        self.observe("\n".join(parts), result)
        return None

    def observe(self, text: str, result=None) -> None:
        """Append an observation to the history (cut to size) and emit it."""
        size = len(text)
        text, _ = cut_text(text, self.observation_chars)
        if self.observation_tokens:  # digits may take a token each: cut to tokens too
            factor = self.run.windows.factor(self.model)
            while len(text) > 300 and prompt_tokens([{"role": "user", "content": text}],
                                                    self.model, factor) > self.observation_tokens:
                text, _ = cut_text(text, len(text) * 3 // 4)
        cut = max(0, size - len(text))
        self.history.add_user(prompts.observation(text))
        self.emit(ev.Observation, step=self.steps, text=text, cut_chars=cut,
                  error=bool(result and result.error), timed_out=bool(result and result.timed_out),
                  restarted=bool(result and result.restarted),
                  seconds=result.seconds if result else 0.0)

    async def best_answer(self, limit: LimitReached) -> Outcome:
        """One extra call, outside the step count, asking for the best answer so far."""
        self.emit(ev.StepStarted, step=self.steps + 1, kind="best_answer")
        self.history.add_user(prompts.BEST_ANSWER.format(reason=limit.detail or limit.limit))
        try:
            reply = await self.ask(self.steps + 1, kind="best_answer")
        except (LimitReached, RLMError) as exc:
            return Outcome("limit", limit_hit=limit.limit, error=f"no best answer: {exc}")
        answer = reply.final_answer
        if answer is None and reply.final_var is not None and self.sandbox is not None:
            found, value = await self.sandbox.get_variable(reply.final_var)
            answer = value if found else None
        if answer is None:
            answer = reply.thought or reply.text.strip() or None
        return Outcome("limit", answer=answer, limit_hit=limit.limit, error=limit.detail)

    @property
    def _open_sandbox(self) -> Sandbox:
        """The sandbox ``_run`` started: replies are acted on only while it is open."""
        if self.sandbox is None:
            raise RuntimeError(f"agent {self.agent_id} acted without a sandbox")
        return self.sandbox

    async def _close_sandbox(self) -> None:
        if self.sandbox is not None and self.owns_sandbox:
            sandbox, self.sandbox = self.sandbox, None
            await asyncio.shield(sandbox.close())

    def _own_usage(self) -> dict:
        node = self.run.tree.nodes.get(self.agent_id)
        return node.usage.to_dict() if node else {}


def _missing_var(name: str) -> str:
    return (f"FINAL_VAR: there is no variable named {name!r}. Create it in code first, "
            f"or answer with `Final Answer:`.")


def _public_info(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "preview"} | {
        "preview": str(info.get("preview", ""))[:200]}
