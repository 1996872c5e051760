"""How agents and run totals read on screen: status marks, tree labels, the totals line.

Pure functions of the engine's data (``rlm.tree.AgentNode``) and a time ``now``, so the
tree, the footer and the tests all show the same text, and a fixed clock makes it exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text

from rlm.tree import AgentNode

# One mark per agent status of DESIGN (all single-cell glyphs), with its colour.
STATUS_MARKS: dict[str, tuple[str, str]] = {
    "running": ("●", "yellow"),
    "waiting": ("◌", "cyan"),
    "answered": ("✓", "green"),
    "limit": ("◆", "magenta"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "bright_black"),
}

STATUS_WORDS: dict[str, str] = {
    "running": "thinking or running its code",
    "waiting": "waiting on its child agents",
    "answered": "gave its final answer",
    "limit": "stopped by a limit; gave its best answer (the limit is named on its line)",
    "failed": "failed (the reason is on its line and in its transcript)",
    "cancelled": "cancelled with the run",
}

ACTIVE = ("running", "waiting")


def status_mark(status: str) -> Text:
    mark, colour = STATUS_MARKS.get(status, ("?", "white"))
    return Text(mark, style=f"bold {colour}")


def short(text: str | None, limit: int) -> str:
    """The first line of ``text`` with spaces collapsed, cut to ``limit`` cells with '…'."""
    words = " ".join((text or "").split())
    return words if len(words) <= limit else words[: max(limit - 1, 0)] + "…"


def human_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def human_seconds(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def human_cost(usd: float) -> str:
    return "$0" if usd == 0 else f"${usd:.4f}"


def elapsed(node: AgentNode, now: float) -> float:
    end = node.finished if node.finished is not None else now
    return max(end - node.started, 0.0)


def agent_label(node: AgentNode, now: float, width: int | None = None) -> Text:
    """``● 0.1 d1 Summarize part one…  2 steps · 1.2k tok · 3.4s``, then why it stopped.

    Args:
        width: cells the label may take. The figures always show; the task and a failure's
            reason share what is left.
    """
    head = Text.assemble(status_mark(node.status), " ", (node.agent_id, "bold"),
                         (f" d{node.depth} ", "dim"))
    steps = "1 step" if node.steps == 1 else f"{node.steps} steps"
    figures = Text(f"  {steps} · {human_tokens(node.usage.total_tokens)} tok · "
                   f"{human_seconds(elapsed(node, now))}", style="dim")
    task = " ".join(node.task.split())
    room = 32 if width is None else width - head.cell_len - figures.cell_len
    reason = stop_reason(node)
    if reason:
        share = max(room // 2, room - len(task) - 2, 8)
        reason = short(reason, share)
        room -= len(reason) + 2
    waiting = node.waiting_words(now)
    if waiting:  # a call with nothing back yet: say so, and for how long
        room -= len(waiting) + 2
        figures = Text.assemble(figures, (f"  {waiting}", "yellow"))
    label = Text.assemble(head, short(task, max(room, 8)), figures)
    if reason:
        label.append(f"  {reason}", style=STATUS_MARKS.get(node.status, ("", "red"))[1])
    return label


def stop_reason(node: AgentNode) -> str:
    """Why an agent failed or which limit stopped it ('' otherwise: the mark says enough)."""
    if node.status == "failed":
        return " ".join((node.error or "unknown error").split())
    if node.status == "limit":
        return f"{node.limit_hit or '?'} limit"
    return ""


@dataclass(frozen=True)
class Totals:
    """What the footer and the end-of-run panel count."""

    agents: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def count_totals(nodes: Iterable[AgentNode], seconds: float) -> Totals:
    agents = running = done = failed = cancelled = steps = 0
    prompt = completion = 0
    cost = 0.0
    for node in nodes:
        agents += 1
        steps += node.steps
        running += node.status in ACTIVE
        done += node.status in ("answered", "limit")
        failed += node.status == "failed"
        cancelled += node.status == "cancelled"
        prompt += node.usage.prompt_tokens
        completion += node.usage.completion_tokens
        cost += node.usage.cost_usd
    return Totals(agents, running, done, failed, cancelled, steps, prompt, completion, cost,
                  seconds)


def totals_line(totals: Totals, state: str = "") -> Text:
    """``● 2 running  ✓ 3 done  ✗ 1 failed │ 12k in · 1.1k out │ $0 │ 12s``."""
    line = Text()
    if state:
        line.append(f"{state}  ", style="bold")
    line.append_text(Text.assemble(status_mark("running"), f" {totals.running} running  ",
                                   status_mark("answered"), f" {totals.done} done  ",
                                   status_mark("failed"), f" {totals.failed} failed"))
    if totals.cancelled:
        line.append_text(Text.assemble("  ", status_mark("cancelled"),
                                       f" {totals.cancelled} cancelled"))
    line.append(f"  │  {human_tokens(totals.prompt_tokens)} in · "
                f"{human_tokens(totals.completion_tokens)} out  │  "
                f"{human_cost(totals.cost_usd)}  │  {human_seconds(totals.seconds)}")
    return line


def summary_line(totals: Totals) -> str:
    """The end-of-run totals: agents, steps, tokens, cost, time."""
    agents = "1 agent" if totals.agents == 1 else f"{totals.agents} agents"
    return (f"{agents} · {totals.steps} steps · {totals.tokens:,} tokens "
            f"({totals.prompt_tokens:,} in / {totals.completion_tokens:,} out) · "
            f"{human_cost(totals.cost_usd)} · {human_seconds(totals.seconds)}")
