"""Export a run in the trajectory format of the official RLM visualizer.

The official implementation (github.com/alexzhang13/rlm) logs JSON Lines with
``rlm/logger/rlm_logger.py``; its visualizer (``visualizer/src/lib/parse-logs.ts``) reads:

- line 1, ``{"type": "metadata", "timestamp", "root_model", "max_depth", "max_iterations",
  "backend", "backend_kwargs", "environment_type", "environment_kwargs", "other_backends"}``;
- then one line per iteration of the root agent, ``{"type": "iteration", "iteration",
  "timestamp", "prompt": [messages], "response", "code_blocks": [{"code", "result":
  {"stdout", "stderr", "locals", "execution_time", "rlm_calls": [...]}}], "final_answer",
  "iteration_time"}``;
- each sub-call is an ``rlm_calls`` entry ``{"root_model", "prompt", "response",
  "usage_summary": {"model_usage_summaries": {model: {"total_calls", "total_input_tokens",
  "total_output_tokens", "total_cost"}}}, "execution_time"}``; a child agent's own
  trajectory is nested in its entry's ``"metadata": {"run_metadata", "iterations"}``
  (the shape of the official ``RLMLogger.get_trajectory()``).

The official visualizer (``visualizer/src/components``) reads of each iteration ``prompt``
(a list of ``{role, content}``), ``response``, ``final_answer`` (a string or null),
``iteration_time``, and of each code block ``code`` and ``result.{stdout, stderr, locals,
execution_time, rlm_calls}``; of each sub-call ``prompt``, ``response``, ``execution_time``
and the top-level ``prompt_tokens`` and ``completion_tokens`` (``CodeBlock.tsx``,
``ExecutionPanel.tsx``).

What maps to what: one of our steps (a model call) is one iteration; ``ModelReplied.text`` is
``response``; each ``CodeStarted`` is a code block, and its ``CodeFinished`` gives the
block's own ``stdout``, ``stderr`` and ``execution_time`` (wall time, waits on sub-calls
included, as the official REPL measures it); ``SubCall`` events become ``rlm_calls`` of the
block that made them, in the order the code made them (``SubCall.index``), with the
sub-call's prompt and reply as the trace keeps them (``events.TEXT_CHARS``); ``rlm_query``
ones carry the child's iterations and the tokens of the child's whole subtree. ``prompt`` is
the history the model saw, rebuilt from the trace: the system prompt from our template, the
first message as the agent sent it (``AgentStarted.first_message``), replies, observations,
and history folds (the steps a fold moved out are gone from later prompts, and the first
message carries the fold's note). ``final_answer`` is set on the agent's last iteration when
it answered; ``locals`` stays empty (the trace does not keep sandbox variables).

Traces written before ``CodeFinished`` and ``first_message`` existed still export: the step's
observation goes to its last block, and the first message is rebuilt from the templates and
the 200-character context preview.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rlm import events as ev
from rlm.core import prompts
from rlm.core.history import History
from rlm.trace.load import open_trace
from rlm.trace.steps import Step, agent_steps
from rlm.tree import AgentNode, TreeBuilder
from rlm.usage import Usage


def export_official(trace: str | Path, out: str | Path) -> int:
    """Write ``trace`` as an official-RLM trajectory file; returns the iterations written."""
    header, builder = open_trace(trace)
    return write_official(header, builder, Path(out).expanduser())


def write_official(header: dict[str, Any], builder: TreeBuilder, out: Path) -> int:
    """Write the metadata line and the root's iterations; return how many iterations."""
    root = builder.root
    assert root is not None
    settings = _settings(header, builder)
    lines = [{"type": "metadata", "timestamp": _iso(header.get("created") or root.started),
              **run_metadata(root, settings)}]
    lines += iterations(root, builder, settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as dest:
        for line in lines:
            dest.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    return len(lines) - 1


def run_metadata(node: AgentNode, settings: dict[str, Any]) -> dict[str, Any]:
    """The official ``RLMMetadata`` fields for an agent (the root, or a child)."""
    sub_model = settings.get("sub_model")
    return {
        "root_model": node.model,
        "max_depth": settings.get("max_depth"),
        "max_iterations": settings.get("max_steps"),
        "backend": "litellm",
        "backend_kwargs": {"model_name": node.model,
                           **({"api_base": settings["api_base"]}
                              if settings.get("api_base") else {})},
        "environment_type": "local",
        "environment_kwargs": {k: settings.get(k) for k in
                               ("action_timeout", "memory_mb", "allow_network")},
        "other_backends": [sub_model] if sub_model and sub_model != node.model else None,
        "depth": node.depth,
        "agent_id": node.agent_id,
        "status": node.status,
    }


def iterations(node: AgentNode, builder: TreeBuilder,
               settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One official iteration per step of ``node`` that got a reply."""
    history = _history(node)
    steps = [(s, s.reply) for s in agent_steps(node) if s.reply is not None]
    result = []
    for number, (step, reply) in enumerate(steps, start=1):
        for fold in step.folds:
            _fold(history, fold)
        if step.kind == "best_answer":
            reason = node.error or node.limit_hit or "a limit was reached"
            history.add_user(prompts.BEST_ANSWER.format(reason=reason))
        is_last = number == len(steps)
        result.append({
            "type": "iteration", "iteration": number, "timestamp": _iso(step.started),
            "prompt": history.messages(),
            "response": reply.text,
            "code_blocks": _code_blocks(step, builder, settings),
            "final_answer": node.answer if is_last and node.answer is not None else None,
            "iteration_time": _seconds(step),
        })
        history.add_reply(step.step, reply.text)
        if step.observation is not None:
            history.add_user(prompts.observation(step.observation.text))
    return result


def _history(node: AgentNode) -> History:
    """The agent's chat as it began: system prompt and first message."""
    info = dict(node.context_info)
    started = node.events[0] if node.events else None
    try:
        system = prompts.system_prompt(info)
        if isinstance(started, ev.AgentStarted) and started.first_message:
            first = started.first_message
        else:  # a trace from before first_message: rebuild it from the templates
            task_is_context = node.parent_id is None and info.get("chars") == len(node.task)
            first = prompts.first_message(node.task, info, task_is_context=task_is_context)
    except Exception:  # noqa: BLE001  (the trace is older or newer than our templates: keep the task)
        system, first = "", node.task
    return History(system, first)


def _fold(history: History, fold: ev.HistoryFolded) -> None:
    """Move the steps a fold moved out of the chat, as ``History.fold`` did in the run."""
    moved = set(fold.steps)
    for turn in [t for t in history.turns if t.step in moved]:
        history.turns.remove(turn)
        history.folded.append(turn.entry())


def _code_blocks(step: Step, builder: TreeBuilder,
                 settings: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = {out.block: out for out in step.outputs}
    calls = sorted(enumerate(step.subcalls), key=lambda item: (
        item[1][0], item[1][1].index if item[1][1].index >= 0 else 1 << 30, item[0]))
    blocks = []
    for i, code in enumerate(step.code):
        result = _block_result(outputs.get(code.block), step, is_last=i == len(step.code) - 1)
        result["rlm_calls"] = [_rlm_call(call, builder, settings) for _, (block, call) in calls
                               if block == i]
        blocks.append({"code": code.code, "result": result})
    return blocks


def _block_result(output: ev.CodeFinished | None, step: Step, *, is_last: bool) -> dict:
    if output is not None:
        return {"stdout": output.stdout, "stderr": output.stderr, "locals": {},
                "execution_time": output.wall_seconds}
    # A trace from before CodeFinished: the step's observation goes to its last block.
    observation = step.observation if is_last else None
    failed = bool(observation and (observation.error or observation.timed_out))
    text = observation.text if observation else ""
    return {"stdout": "" if failed else text, "stderr": text if failed else "", "locals": {},
            "execution_time": observation.seconds if observation else 0.0}


def _rlm_call(call: ev.SubCall, builder: TreeBuilder,
              settings: dict[str, Any]) -> dict[str, Any]:
    child = builder.nodes.get(call.child_id or "")
    usage = _usage(call, child)
    prompt = call.prompt
    if child is not None and len(child.task) > len(prompt):  # an old trace's 300 characters
        prompt = child.task
    entry: dict[str, Any] = {
        "root_model": (child.model if child else "") or call.model,
        "prompt": prompt,
        "response": (child.answer if child and child.answer is not None else call.answer)
                    or call.error or "",
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "usage_summary": {"model_usage_summaries": {
            model: _model_usage(u.calls, u.prompt_tokens, u.completion_tokens, u.cost_usd)
            for model, u in usage.by_model.items()}},
        "execution_time": call.seconds,
    }
    if child is not None:
        entry["metadata"] = {"run_metadata": run_metadata(child, settings),
                             "iterations": iterations(child, builder, settings)}
    return entry


def _usage(call: ev.SubCall, child: AgentNode | None) -> Usage:
    """A plain call's own tokens; a child agent's, those of its whole subtree."""
    total = Usage()
    if child is None:
        total.record(call.model or "model", call.prompt_tokens, call.completion_tokens,
                     call.cost_usd)
        return total
    for node in child.walk():
        total.merge(node.usage)
    return total


def _model_usage(calls: int, prompt: int, completion: int, cost: float) -> dict[str, Any]:
    return {"total_calls": calls, "total_input_tokens": prompt,
            "total_output_tokens": completion, "total_cost": round(cost, 8)}


def _settings(header: dict[str, Any], builder: TreeBuilder) -> dict[str, Any]:
    if builder.run_started is not None and builder.run_started.settings:
        return dict(builder.run_started.settings)
    return dict(header.get("settings") or {})


def _seconds(step: Step) -> float | None:
    return round(step.ended - step.started, 3) if step.ended and step.started else None


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0).isoformat()
