"""An agent's row in the tree, fitted to the cells it has, and its full form.

A row reads ``● 0.2.1 d2 Scan lines 1-200 …        2 steps · 1.2k tok · 3.4s``: the mark, the
id and the task come first; the figures stand at the right edge. When the row is narrow
the figures give way before the task does: first the depth (the guides show it), then
compact units, then fewer figures, down to the time; only then is the task cut (sibling
tasks often differ only at their end: "part 0", "part 1"), and a task too long for that
keeps compact figures. A figure is shown whole or not at all, never cut mid-number.
``agent_header`` is the whole row, for the transcript's border, one keypress away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text

from tui.render import STATUS_MARKS, elapsed, human_seconds, human_tokens, short, status_mark

if TYPE_CHECKING:
    from rlm.tree import AgentNode

TASK_ENOUGH = 24  # cells of task that make an agent recognisable: figures shrink first
REASON_ENOUGH = 14  # cells of a failure's reason kept before the task is cut further
GAP = 2  # cells between the task and the figures


@dataclass(frozen=True)
class Layout:
    """How much of the row to show besides the mark, the id and the task."""

    depth: bool  # " d2" after the id
    figures: str  # "full", "compact", "fewer", "time" or "none"


LAYOUTS = (Layout(True, "full"), Layout(False, "full"), Layout(False, "compact"),
           Layout(False, "fewer"), Layout(False, "time"), Layout(False, "none"))


def figures(node: AgentNode, now: float, level: str) -> Text:
    """Steps, tokens and time (and a call's wait) at one of the levels of ``LAYOUTS``."""
    steps, tokens = node.steps, human_tokens(node.usage.total_tokens)
    seconds = human_seconds(elapsed(node, now))
    parts = {
        "full": [f"{steps} step{'' if steps == 1 else 's'}", f"{tokens} tok", seconds],
        "compact": [f"{steps} st", tokens, seconds],
        "fewer": [f"{steps} st", seconds],
        "time": [seconds],
        "none": [],
    }[level]
    text = Text(" · ".join(parts), style="dim")
    wait = _waiting(node, now, full=level == "full") if level != "none" else ""
    if wait:
        text.append(("  " if parts else "") + wait, style="yellow")
    return text


def _waiting(node: AgentNode, now: float, *, full: bool) -> str:
    """``waiting for the model: 12 s`` (full) or ``waiting 12s`` while a call waits."""
    words = node.waiting_words(now)
    if not words or full or node.waiting_since is None:
        return words
    return f"waiting {max(0.0, now - node.waiting_since):.0f}s"


def agent_label(node: AgentNode, now: float, width: int | None = None) -> Text:
    """The agent's row in at most ``width`` cells (``None``: all of it, unfitted).

    The richest layout that shows the whole task wins, down to the time alone; a task
    longer than that keeps compact figures (or fewer) and at least ``TASK_ENOUGH`` cells.
    The task then takes every cell the figures (and a failure's reason) leave.
    """
    task = " ".join(node.task.split())
    reason = stop_reason(node)
    if width is None:
        return _assemble(node, now, LAYOUTS[0], task, reason, None)
    need_reason = GAP + min(len(reason), REASON_ENOUGH) if reason else 0
    # The whole task with the most figures that leave room for it (at least the time: is
    # it moving?); else compact figures (or fewer) and ``TASK_ENOUGH`` cells of the task.
    tries = [(layout, len(task)) for layout in LAYOUTS[:-1]]
    tries += [(layout, min(len(task), TASK_ENOUGH)) for layout in LAYOUTS[2:]]
    heads: dict[bool, int] = {}  # cells of the row's start and of the figures, measured
    tails: dict[str, int] = {}   # once for each of their forms, not once for each try
    for layout, need in tries:
        if layout.depth not in heads:
            heads[layout.depth] = _head(node, layout).cell_len
        if layout.figures not in tails:
            tails[layout.figures] = figures(node, now, layout.figures).cell_len
        tail = tails[layout.figures]
        free = width - heads[layout.depth] - tail - (GAP if tail else 0)
        if free >= need + need_reason:
            break
    return _assemble(node, now, layout, task, reason, width)


def _head(node: AgentNode, layout: Layout) -> Text:
    head = Text.assemble(status_mark(node.status), " ", (node.agent_id, "bold"))
    if layout.depth:
        head.append(f" d{node.depth}", style="dim")
    head.append(" ")
    return head


def _assemble(node: AgentNode, now: float, layout: Layout, task: str, reason: str,
              width: int | None) -> Text:
    head, tail = _head(node, layout), figures(node, now, layout.figures)
    colour = STATUS_MARKS.get(node.status, ("", "red"))[1]
    if width is None:
        row = Text.assemble(head, task)
        if reason:
            row.append(f"  {reason}", style=colour)
        return Text.assemble(row, "  ", tail)
    free = max(width - head.cell_len - tail.cell_len - (GAP if tail else 0), 0)
    task_room, reason_room = _share(free, len(task), len(reason))
    row = Text.assemble(head, short(task, task_room) if task_room > 0 else "")
    if reason and reason_room > 0:
        row.append("  " + _words(reason, reason_room), style=colour)
    if tail:
        row.append(" " * max(width - row.cell_len - tail.cell_len, GAP))
        row.append_text(tail)
    row.truncate(width)  # only a row with no room for its task at all gets here cut
    return row


def _share(free: int, task: int, reason: int) -> tuple[int, int]:
    """Cells for the task and for the reason (after a gap) out of ``free``: the task keeps
    ``TASK_ENOUGH``, the reason ``REASON_ENOUGH``, and the task gets the rest first."""
    if not reason:
        return min(task, free), 0
    reason_room = min(reason, max(REASON_ENOUGH, free - GAP - task),
                      free - GAP - min(task, TASK_ENOUGH))
    if reason_room < min(reason, REASON_ENOUGH):  # "Provi…" says nothing; the mark does
        return min(task, free), 0
    return min(task, free - GAP - reason_room), reason_room


def _words(text: str, room: int) -> str:
    """``text`` cut to ``room`` cells at a word's end when one is near (an error's "500"
    must not read "5…")."""
    if len(text) <= room:
        return text
    cut = text[:room - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space >= room // 2 else cut) + "…"


def stop_reason(node: AgentNode) -> str:
    """Why an agent failed or which limit stopped it ('' otherwise: the mark says enough)."""
    if node.status == "failed":
        return " ".join((node.error or "unknown error").split())
    if node.status == "limit":
        return f"{node.limit_hit or '?'} limit"
    return ""


def agent_header(node: AgentNode, now: float) -> tuple[str, str]:
    """The whole row as a border title and subtitle: who and what state, then the figures."""
    title = f"{STATUS_MARKS.get(node.status, ('?', ''))[0]} agent {node.agent_id} · depth " \
            f"{node.depth} · {node.status}"
    reason = stop_reason(node)
    if reason:
        title += f": {reason}"
    steps = "1 step" if node.steps == 1 else f"{node.steps} steps"
    subtitle = (f"{steps} · {node.usage.total_tokens:,} tokens · "
                f"{human_seconds(elapsed(node, now))}")
    wait = node.waiting_words(now)
    return title, f"{subtitle} · {wait}" if wait else subtitle
