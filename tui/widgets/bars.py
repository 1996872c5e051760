"""One-line bars: the run totals above the footer, the run settings under the question."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.render import Totals, totals_line


class TotalsBar(Static):
    """Agents running / done / failed, tokens in and out, cost, elapsed time."""

    def show(self, totals: Totals, state: str = "") -> None:
        self.update(totals_line(totals, state))


class SettingsBar(Static):
    """What the next run will use: context, model, depth and step limits."""

    def show(self, context: str | None, model: str | None, max_depth: int | None,
             max_steps: int | None) -> None:
        line = Text()
        line.append("context ", style="dim")
        line.append(context or "none (the question is the context)")
        line.append("  ·  model ", style="dim")
        line.append(model or "auto")
        line.append("  ·  depth ", style="dim")
        line.append(str(max_depth) if max_depth is not None else "default")
        line.append("  ·  steps ", style="dim")
        line.append(str(max_steps) if max_steps is not None else "default")
        self.update(line)
