"""One agent's events as transcript entries: Thought, Action, Observation, sub-calls, Final.

Each function returns a Rich renderable (or ``None`` for events the transcript skips) and a
CSS class for its box. The model's reply is split with the engine's own parser, so what the
screen calls Thought or Action is exactly what the agent loop acted on. A thinking model's
thinking is never part of the reply: it gets its own dimmed entry (``thinking_entry``), and
a history fold (the oldest turns moved into the sandbox) gets one too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from rlm import events as ev
from rlm.core.parse import parse_reply
from tui.render import human_seconds, human_tokens, short

MAX_CHARS = 6000  # a transcript entry shows at most this much; the trace has it all
THINKING_MAX_CHARS = 20_000  # thinking shown in full (on request) runs longer than a reply
THINKING_LINES = 3  # lines of thinking shown before the user asks for all of it
THINKING_CHARS = 240  # ... and characters (one long paragraph wraps to many rows)
STREAM_THINKING_LINES = 4  # the tail of the thinking shown while it streams

Entry = tuple[RenderableType, str]


def render_event(event: ev.Event) -> Entry | None:
    """The entry for one event, or ``None`` when the transcript shows nothing for it."""
    render = _RENDERERS.get(type(event))
    return render(event) if render else None


def _started(event: ev.AgentStarted) -> Entry:
    text = Text.assemble(("Task  ", "bold"), _clip(event.task))
    info = event.context_info or {}
    facts = [f"model {event.model}"] if event.model else []
    if info:
        size = info.get("chars") or info.get("bytes") or info.get("items")
        unit = "chars" if info.get("chars") else "bytes" if info.get("bytes") else "items"
        facts.append(f"context {info.get('type', '?')}" + (f", {size:,} {unit}" if size else ""))
    if facts:
        text.append("\n" + " · ".join(facts), style="dim")
    return text, "task"


def _step(event: ev.StepStarted) -> Entry:
    if event.kind == "best_answer":
        return Text("Best answer (a limit was hit)", style="bold magenta"), "step"
    return Text(f"Step {event.step}", style="bold"), "step"


def _replied(event: ev.ModelReplied) -> Entry:
    from rich.syntax import Syntax  # pygments: loaded with the first reply, not at start

    reply = parse_reply(event.text)
    parts: list[RenderableType] = []
    if reply.thought:
        parts.append(Text.assemble(("Thought  ", "bold cyan"), _clip(reply.thought)))
    for code in reply.code_blocks:
        parts.append(Text("Action", style="bold yellow"))
        parts.append(Syntax(_clip(code), "python", theme="monokai", word_wrap=True,
                            background_color="default"))
    # A final answer without code ends the agent: the Final box right after shows it.
    if reply.final_answer is not None and reply.code_blocks:
        note = "Final Answer (written before the output was seen, so not taken)  "
        parts.append(Text.assemble((note, "dim"), _clip(reply.final_answer)))
    elif reply.final_var is not None:
        parts.append(Text(f"FINAL_VAR({reply.final_var})", style="bold green"))
    if not parts and reply.final_answer is None:
        parts.append(Text(_clip(event.text) or "(empty reply)", style="italic"))
    parts.append(Text(f"{human_tokens(event.prompt_tokens)} in · "
                      f"{human_tokens(event.completion_tokens)} out · "
                      f"{human_seconds(event.seconds)}", style="dim"))
    return Group(*parts), "reply"


def thinking_preview(text: str) -> tuple[str, str]:
    """The first lines of a thinking, and what is left out in words ("" when nothing is)."""
    text = text.strip()
    lines = text.split("\n")
    if len(lines) <= THINKING_LINES + 1 and len(text) <= THINKING_CHARS * 1.25:
        return text, ""  # short enough: hiding a line or two would save nothing
    kept: list[str] = []
    for line in lines[:THINKING_LINES]:
        if kept and len("\n".join([*kept, line])) > THINKING_CHARS:
            break
        kept.append(line)
    head = "\n".join(kept)
    if len(head) > THINKING_CHARS:  # one long first paragraph wraps to many rows
        head = head[:THINKING_CHARS].rsplit(" ", 1)[0]
        return head + " …", f"{len(text) - len(head):,} more characters"
    hidden = len(lines) - len(kept)
    return head, f"{hidden:,} more line{'s' if hidden != 1 else ''}"


def thinking_entry(text: str, expanded: bool = False) -> RenderableType:
    """A step's thinking, dimmed and labelled: its first lines, or all of it."""
    preview, hidden = thinking_preview(text)
    head = Text("thinking", style="bold italic")
    if hidden and not expanded:
        more = f"… {hidden} · click (or t) shows all"
        return Group(head, Text(preview, style="italic"), Text(more, style="dim"))
    text = text.strip()
    body = text if len(text) <= THINKING_MAX_CHARS else (
        text[:THINKING_MAX_CHARS] + f"\n[… {len(text) - THINKING_MAX_CHARS:,} more "
                                    f"characters in the trace …]")
    parts: list[RenderableType] = [head, Text(body, style="italic")]
    if hidden:
        parts.append(Text("click (or t) shows less", style="dim"))
    return Group(*parts)


def _folded(event: ev.HistoryFolded) -> Entry:
    sizes = []
    if event.tokens_before or event.tokens_after:
        sizes.append(f"{event.tokens_before:,} → {event.tokens_after:,} tokens")
    if event.window:
        sizes.append(f"window {event.window:,}")
    text = Text.assemble(("History folded  ", "bold"),
                         f"{event.moved()} moved to `{event.variable}`")
    if sizes:
        text.append(f" ({', '.join(sizes)})", style="dim")
    text.append("\nso the next call fits; code can still read them", style="dim")
    return text, "folded"


def _observation(event: ev.Observation) -> Entry:
    head = Text("Observation", style="bold red" if event.error else "bold blue")
    notes = []
    if event.cut_chars:
        notes.append(f"{event.cut_chars:,} characters cut from the middle")
    if event.timed_out:
        notes.append("stopped: action time limit")
    if event.restarted:
        notes.append("sandbox restarted, variables lost")
    if notes:
        head.append("  (" + "; ".join(notes) + ")", style="dim")
    body = Text(_clip_lines(event.text.rstrip("\n")), style="red" if event.error else "")
    return Group(head, body), "observation-error" if event.error else "observation"


def _subcall(event: ev.SubCall) -> Entry:
    line = Text("↳ ", style="dim")
    if event.kind == "rlm_query":
        line.append(f"rlm_query → agent {event.child_id or '?'}", style="bold magenta")
    else:
        line.append(event.kind, style="bold cyan")
    line.append(f"  {short(event.prompt, 60)!r}", style="")
    if event.error:
        line.append(f"  ✗ {short(event.error, 80)}", style="red")
    else:
        line.append(f"  → {short(event.answer, 60)!r}", style="green")
    tokens = event.prompt_tokens + event.completion_tokens
    stats = [f"{human_tokens(tokens)} tok"] if tokens else []
    stats.append(human_seconds(event.seconds))
    line.append("  " + " · ".join(stats), style="dim")
    return line, "subcall"


def _status(event: ev.AgentStatus) -> Entry | None:
    if event.status == "waiting":
        return Text("⋯ waiting for child agents", style="dim cyan"), "status"
    return None


def _finished(event: ev.AgentFinished) -> Entry:
    if event.status == "answered":
        return Text.assemble(("Final answer\n", "bold green"), _clip(event.answer or "")), \
            "final"
    if event.status == "limit":
        why = f"Stopped by the {event.limit_hit or '?'} limit"
        body = event.answer or "(no best answer)"
        return Text.assemble((f"{why}: best answer\n", "bold magenta"), _clip(body)), "limit"
    if event.status == "cancelled":
        return Text("Cancelled", style="bold"), "cancelled"
    return Text.assemble(("Failed\n", "bold red"), _clip(event.error or "unknown error")), \
        "failed"


def stream_entry(step: int, text: str, thinking: str = "") -> RenderableType:
    """What the model has written so far in this step: the tail of its thinking (dimmed,
    apart), then the reply's text."""
    parts: list[RenderableType] = []
    if thinking.strip():
        lines = thinking.strip().split("\n")
        keep = STREAM_THINKING_LINES if not text else 2
        tail = "\n".join(lines[-keep:])
        label = f"Step {step} · thinking…" if not text else "thinking"
        parts.append(Text(label, style="dim bold italic"))
        if len(lines) > keep:
            parts.append(Text(f"[… {len(lines) - keep:,} lines above …]", style="dim"))
        parts.append(Text(_clip(tail, tail=True), style="dim italic"))
    if text or not parts:
        parts.append(Text(f"Step {step} · writing…", style="dim italic"))
        parts.append(Text(_clip(text, tail=True)))
    return Group(*parts)


def _clip_lines(text: str, head: int = 24, tail: int = 6) -> str:
    """A long output as its first and last lines (the model saw all of it)."""
    lines = text.split("\n")
    if len(lines) <= head + tail + 1:
        return _clip(text)
    hidden = len(lines) - head - tail
    return _clip("\n".join(lines[:head] + [f"[… {hidden:,} lines not shown here …]"]
                            + lines[-tail:]))


def _clip(text: str, tail: bool = False) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = len(text) - MAX_CHARS
    if tail:
        return f"[… {cut:,} characters above …]\n" + text[-MAX_CHARS:]
    return text[:MAX_CHARS] + f"\n[… {cut:,} more characters in the trace …]"


# Each renderer takes an event of the class it is keyed by, which a dict type cannot say.
_RENDERERS: dict[type[ev.Event], Callable[[Any], Entry | None]] = {
    ev.AgentStarted: _started,
    ev.StepStarted: _step,
    ev.ModelReplied: _replied,
    ev.HistoryFolded: _folded,
    ev.Observation: _observation,
    ev.SubCall: _subcall,
    ev.AgentStatus: _status,
    ev.AgentFinished: _finished,
}
