"""How agents and run totals read on screen: status marks, figures, the totals line.

Pure functions of the engine's data (``rlm.tree.AgentNode``) and a time ``now``, so the
tree, the footer and the tests all show the same text, and a fixed clock makes it exact.
A tree row is fitted to its width in ``tui.rows``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
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
    "cancelled": "cancelled with its turn, or stopped with its subtree (x in the tree)",
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


def totals_line(totals: Totals, state: str = "", width: int | None = None) -> Text:
    """``● 2 running  ✓ 3 done  ✗ 1 failed │ 12k in · 1.1k out │ $0 │ 12s``, in ``width``.

    Narrower, the counts lose their words, then the separators their room, then tokens
    count in one figure; a figure is never cut.
    """
    for words, sep, split in ((True, "  │  ", True), (False, "  │  ", True),
                              (False, " │ ", True), (False, " │ ", False)):
        line = _totals(totals, state, words, sep, split)  # built only until one fits
        if width is None or line.cell_len <= width:
            break
    return line


def _totals(totals: Totals, state: str, words: bool, sep: str, split: bool) -> Text:
    line = Text()
    if state:
        line.append(f"{state}  ", style="bold")
    counts = [("running", totals.running, "running"), ("answered", totals.done, "done"),
              ("failed", totals.failed, "failed")]
    if totals.cancelled:
        counts.append(("cancelled", totals.cancelled, "cancelled"))
    for n, (status, count, word) in enumerate(counts):
        line.append("  " if n else "")
        line.append_text(Text.assemble(status_mark(status), f" {count}" +
                                       (f" {word}" if words else "")))
    tokens = (f"{human_tokens(totals.prompt_tokens)} in · "
              f"{human_tokens(totals.completion_tokens)} out" if split
              else f"{human_tokens(totals.tokens)} tok")
    line.append(f"{sep}{tokens}{sep}{human_cost(totals.cost_usd)}{sep}"
                f"{human_seconds(totals.seconds)}")
    return line


def summary_line(totals: Totals) -> str:
    """The end-of-run totals: agents, steps, tokens, cost, time."""
    agents = "1 agent" if totals.agents == 1 else f"{totals.agents} agents"
    return (f"{agents} · {totals.steps} steps · {totals.tokens:,} tokens "
            f"({totals.prompt_tokens:,} in / {totals.completion_tokens:,} out) · "
            f"{human_cost(totals.cost_usd)} · {human_seconds(totals.seconds)}")
