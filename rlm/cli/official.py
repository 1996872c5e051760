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

What maps to what: one of our steps (a model call) is one iteration; ``ModelReplied.text`` is
``response``; each ``CodeStarted`` is a code block; the step's ``Observation`` is the last
block's ``stdout`` (``stderr`` when the code failed or timed out); ``SubCall`` events become
``rlm_calls`` of the block that made them (``rlm_query`` ones carry the child's iterations);
``prompt`` is the history the model saw, rebuilt from the trace (system prompt and first
message from our prompt templates; the context preview in the trace is cut to 200
characters); ``final_answer`` is set on the agent's last iteration when it answered;
``locals`` stays empty (the trace does not keep sandbox variables).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rlm.core import prompts
from rlm.trace.load import open_trace
from rlm.trace.steps import Step, agent_steps
from rlm.tree import AgentNode, TreeBuilder


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
    history = _first_messages(node, builder)
    steps = [(s, s.reply) for s in agent_steps(node) if s.reply is not None]
    result = []
    for number, (step, reply) in enumerate(steps, start=1):
        if step.kind == "best_answer":
            reason = node.error or node.limit_hit or "a limit was reached"
            history.append({"role": "user", "content": prompts.BEST_ANSWER.format(reason=reason)})
        is_last = number == len(steps)
        result.append({
            "type": "iteration", "iteration": number, "timestamp": _iso(step.started),
            "prompt": [dict(m) for m in history],
            "response": reply.text,
            "code_blocks": _code_blocks(step, builder, settings),
            "final_answer": node.answer if is_last and node.answer is not None else None,
            "iteration_time": _seconds(step),
        })
        history.append({"role": "assistant", "content": reply.text})
        if step.observation is not None:
            history.append({"role": "user",
                            "content": prompts.observation(step.observation.text)})
    return result


def _first_messages(node: AgentNode, builder: TreeBuilder) -> list[dict[str, str]]:
    info = dict(node.context_info)
    task_is_context = node.parent_id is None and info.get("chars") == len(node.task or "")
    try:
        first = prompts.first_message(node.task, info, task_is_context=task_is_context)
        system = prompts.system_prompt(info)
    except Exception:  # noqa: BLE001  (the trace is older or newer than our templates: keep the task)
        system, first = "", node.task
    return [{"role": "system", "content": system}, {"role": "user", "content": first}]


def _code_blocks(step: Step, builder: TreeBuilder,
                 settings: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = []
    for i, code in enumerate(step.code):
        is_last = i == len(step.code) - 1
        observation = step.observation if is_last else None
        failed = bool(observation and (observation.error or observation.timed_out))
        text = observation.text if observation else ""
        calls = [_rlm_call(call, builder, settings) for block, call in step.subcalls
                 if block == i]
        blocks.append({"code": code.code, "result": {
            "stdout": "" if failed else text, "stderr": text if failed else "",
            "locals": {}, "execution_time": observation.seconds if observation else 0.0,
            "rlm_calls": calls}})
    return blocks


def _rlm_call(call, builder: TreeBuilder, settings: dict[str, Any]) -> dict[str, Any]:
    child = builder.nodes.get(call.child_id or "")
    entry: dict[str, Any] = {
        "root_model": (child.model if child else "") or call.model,
        "prompt": child.task if child else call.prompt,
        "response": (child.answer if child and child.answer is not None else call.answer)
                    or call.error or "",
        "usage_summary": _usage_summary(call, child),
        "execution_time": call.seconds,
    }
    if child is not None:
        entry["metadata"] = {"run_metadata": run_metadata(child, settings),
                             "iterations": iterations(child, builder, settings)}
    return entry


def _usage_summary(call, child: AgentNode | None) -> dict[str, Any]:
    if child is not None:
        by_model = child.usage.by_model
        summaries = {m: _model_usage(u.calls, u.prompt_tokens, u.completion_tokens, u.cost_usd)
                     for m, u in by_model.items()}
    else:
        summaries = {call.model or "model": _model_usage(1, call.prompt_tokens,
                                                         call.completion_tokens, call.cost_usd)}
    return {"model_usage_summaries": summaries}


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
