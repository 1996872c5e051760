"""The help screen: every key, and what the tree's marks mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.render import STATUS_MARKS, STATUS_WORDS


def keys_table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_column(style="dim")
    for key, action, where in rows:
        table.add_row(key, action, where)
    return table


def legend() -> Table:
    table = Table.grid(padding=(0, 2))
    for status, (mark, colour) in STATUS_MARKS.items():
        table.add_row(Text(mark, style=f"bold {colour}"), Text(status, style="bold"),
                      STATUS_WORDS[status])
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and marks; any of escape, q, f1 or ? closes it."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "rlm-tui · help"
            box.border_subtitle = "escape closes"
            yield Static(Text("Keys", style="bold underline"))
            yield Static(keys_table(self.rows))
            yield Static(Text("\nAgent marks in the tree", style="bold underline"))
            yield Static(legend())
            yield Static(Text(
                "\nEach tree line: mark, agent id, depth, task, steps, tokens, time. "
                "The view follows the active agent until you move the cursor; f follows "
                "again. Every run writes a trace; rlm-tui --replay TRACE opens it again.",
                style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
