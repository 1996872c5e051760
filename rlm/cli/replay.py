"""``rlm replay TRACE``: print a past run, or export it (``--export official FILE``).

The report gives the run's header facts, its tree and each agent's steps (history folds,
thinking, thought, code, observation, sub-calls, answer). A thinking model's thinking is
shown apart from the reply (dimmed on a terminal, cut unless ``--full``), never as it. A
cut-off trace (a killed run) replays as far as it goes.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any

from rlm import events as ev
from rlm.cli.main import EXIT_BAD_INPUT, EXIT_OK, fail
from rlm.cli.progress import DIM, colour, fold_text, human_tokens, plural, short, tree_lines
from rlm.errors import ConfigError, RLMError
from rlm.trace.load import open_trace
from rlm.trace.steps import Step, agent_steps
from rlm.tree import AgentNode, TreeBuilder

EXPORT_FORMATS = ("official",)


def replay_command(args) -> int:
    try:
        trace = args.trace or _latest()
        if args.export:
            return _export(trace, *args.export)
        from rlm.cli.progress import is_terminal

        header, builder = open_trace(trace)
        use_colour = is_terminal(sys.stdout)
        width = shutil.get_terminal_size((100, 30)).columns - 1 if use_colour else 100
        options = ReplayOptions(full=args.full, use_colour=use_colour, width=width)
        sys.stdout.write(render_replay(header, builder, options))
        return EXIT_OK
    except RLMError as exc:
        return fail(exc, EXIT_BAD_INPUT)
    except OSError as exc:
        return fail(f"cannot read or write a file: {exc}", EXIT_BAD_INPUT)


def _latest() -> str:
    from rlm.paths import latest_trace, traces_dir

    path = latest_trace()
    if path is None:
        raise ConfigError(f"No trace given and none found in {traces_dir()}. Run "
                          f"`rlm run ...` first, or give the path of a trace file.")
    return str(path)


def _export(trace: str, kind: str, out: str) -> int:
    if kind not in EXPORT_FORMATS:
        raise ConfigError(f"Unknown export format {kind!r}; known: "
                          f"{', '.join(EXPORT_FORMATS)} (rlm replay TRACE --export official FILE).")
    from rlm.cli.official import export_official

    count = export_official(trace, out)
    print(f"rlm: wrote {out}: a metadata line and {count} iterations of the root agent "
          f"(child agents nested). Open it in the official RLM visualizer.", file=sys.stderr)
    return EXIT_OK


# --- the printed report -----------------------------------------------------------------
@dataclass
class ReplayOptions:
    full: bool = False          # whole texts instead of previews
    agent: str | None = None    # only this agent's steps
    steps: bool = True          # print each agent's steps after the tree
    use_colour: bool = False
    width: int = 100


def render_replay(header: dict[str, Any], builder: TreeBuilder,
                  options: ReplayOptions | None = None) -> str:
    """The whole report as text."""
    o = options or ReplayOptions()
    lines = _summary(header, builder, o)
    lines += ["", "Agents:"]
    end = _end_time(builder)
    lines += tree_lines(builder, now=end, width=o.width, use_colour=o.use_colour)
    if o.steps:
        for node in builder.agents():
            if o.agent is None or node.agent_id == o.agent:
                lines += [""] + _agent_report(node, builder, o)
    if o.agent is not None and o.agent not in builder.nodes:
        raise ConfigError(f"No agent {o.agent!r} in this trace; agents: "
                          f"{', '.join(builder.nodes)}.")
    return "\n".join(lines) + "\n"


def _summary(header: dict[str, Any], builder: TreeBuilder, o: ReplayOptions) -> list[str]:
    started, finished = builder.run_started, builder.run_finished
    root = builder.root
    assert root is not None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(root.started or
                                                             header.get("created", 0)))
    model = (started.model if started else "") or header.get("model") or root.model
    run_id = started.run_id if started else "?"
    lines = [colour(f"Run {run_id}", "1", o.use_colour) + f"  {when}  model {model}",
             "Task: " + _text(root.task, o.full, 300)]
    usage = builder.run_usage()
    steps = sum(n.steps for n in builder.agents())
    totals = (f"{plural(len(builder.nodes), 'agent')}, {plural(steps, 'step')}, "
              f"{human_tokens(usage.total_tokens)} tokens ({plural(usage.calls, 'call')}), "
              f"${usage.cost_usd:.4f}")
    if finished is None:
        lines.append(colour("Cut off: the trace ends before the run finished (the process "
                            "was stopped, or the run is still going).", "33", o.use_colour))
        lines.append(f"So far: {totals}")
    else:
        limit = f" (limit: {finished.limit_hit})" if finished.limit_hit else ""
        lines.append(f"Status: {finished.status}{limit} in {builder.run_seconds:.1f} s; "
                     f"{totals}")
        if finished.error and finished.status != "answered":
            lines.append("Error: " + _text(finished.error, o.full, 300))
    if len(builder.roots) > 1:  # a session's trace: each turn's question and answer
        lines[1] = f"A conversation of {plural(len(builder.roots), 'turn')}:"
        for number, turn in enumerate(builder.roots, start=1):
            lines.append(f"  {number}. {_text(turn.task, o.full, 120)} -> "
                         f"{_text(turn.answer or '(' + turn.status + ')', o.full, 200)}")
        return lines
    answer = finished.answer if finished else root.answer
    if answer:
        lines.append("Answer: " + _text(answer, o.full, 500))
    return lines


def _end_time(builder: TreeBuilder) -> float:
    if builder.run_finished is not None:
        return builder.run_finished.ts
    stamps = [e.ts for n in builder.nodes.values() for e in n.events if e.ts]
    return max(stamps, default=0.0)


def _agent_report(node: AgentNode, builder: TreeBuilder, o: ReplayOptions) -> list[str]:
    head = (f"Agent {node.agent_id} (depth {node.depth}, {node.model or 'model ?'}): "
            f"{node.status}" + (f", limit {node.limit_hit}" if node.limit_hit else ""))
    if node.finished is None:
        head += " (no end recorded)"
    lines = [colour(head, "1", o.use_colour), "  Task: " + _text(node.task, o.full, 200)]
    for step in agent_steps(node):
        lines += _step_report(step, o)
    if node.answer:
        lines.append("  Answer: " + _text(node.answer, o.full, 300))
    if node.error and node.status != "answered":
        lines.append("  Error: " + _text(node.error, o.full, 300))
    return lines


def _step_report(step: Step, o: ReplayOptions) -> list[str]:
    label = "best answer" if step.kind == "best_answer" else f"step {step.step}"
    folds = [f"  {fold_text(fold)}" for fold in step.folds]  # made room for this call
    reply = step.reply
    if reply is None:
        return [*folds, f"  {label}: (no reply recorded)"]
    seconds = f", {reply.seconds:.1f} s" if reply.seconds else ""
    lines = [*folds,
             f"  {label}: {reply.prompt_tokens} tok in, {reply.completion_tokens} out{seconds}"]
    if reply.thinking.strip():
        lines += [colour(line, DIM, o.use_colour) for line in
                  _block("thinking (not the reply)", reply.thinking.strip(), o, 4)]
    lines += _reply_lines(reply.text, bool(step.code), o)
    for i, code in enumerate(step.code):
        if len(step.code) > 1:
            lines.append(f"    block {i + 1}:")
        lines += _block("code", code.code, o, 10)
        for block, call in step.subcalls:
            if block == i:
                lines.append("    " + _subcall_line(call, o))
    if step.observation is not None:
        cut = (f" ({step.observation.cut_chars:,} chars cut)"
               if step.observation.cut_chars else "")
        lines += _block("observation" + cut, step.observation.text, o, 8)
    return lines


def _reply_lines(text: str, has_code: bool, o: ReplayOptions) -> list[str]:
    """The thought and any final answer; code is shown from the blocks that ran."""
    from rlm.core.parse import parse_reply

    parsed = parse_reply(text)
    lines = _block("thought", parsed.thought, o, 6) if parsed.thought else []
    if parsed.final_answer is not None:
        lines += _block("final answer", parsed.final_answer, o, 6)
    elif parsed.final_var is not None:
        lines.append(f"    final answer: the variable {parsed.final_var}")
    if not lines or (parsed.code_blocks and not has_code):
        lines += _block("reply", text, o, 10)
    return lines


def _subcall_line(call: ev.SubCall, o: ReplayOptions) -> str:
    target = f"agent {call.child_id}" if call.child_id else (call.model or "model")
    answer = call.error or call.answer
    return (f"{call.kind} -> {target}: {_text(call.prompt, o.full, 60)!r} -> "
            f"{_text(answer, o.full, 80)!r}")


def _block(title: str, text: str, o: ReplayOptions, max_lines: int) -> list[str]:
    body = str(text or "").rstrip().splitlines() or [""]
    shown = body if o.full else body[:max_lines]
    lines = [f"    {title}:"] + [f"      | {line if o.full else line[:o.width]}"
                                  for line in shown]
    if len(body) > len(shown):
        lines.append(f"      | ... {len(body) - len(shown)} more lines (--full shows all)")
    return lines


def _text(text: str | None, full: bool, limit: int) -> str:
    return str(text or "") if full else short(text, limit)
