"""The help screen: every key, by where it works, and what the tree's marks mean.

Keys are grouped under the place they work in (anywhere, the question box, the tree, the
transcript) rather than in a third column, so the screen reads the same at 80 columns.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.render import STATUS_MARKS, STATUS_WORDS
from tui.screens import DIALOGS


def keys_table(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, action in rows:
        table.add_row(key, action)
    return table


def by_place(rows: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str]]]:
    """``{where: [(key, what), ...]}`` in the order the places first appear."""
    places: dict[str, list[tuple[str, str]]] = {}
    for key, action, where in rows:
        places.setdefault(where, []).append((key, action))
    return places


def legend() -> Table:
    table = Table.grid(padding=(0, 2))
    for status, (mark, colour) in STATUS_MARKS.items():
        table.add_row(Text(mark, style=f"bold {colour}"), Text(status, style="bold"),
                      STATUS_WORDS[status])
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and marks; any of escape, q, f1 or ? closes it."""

    CSS_PATH = DIALOGS

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "rlm-tui · help"
            box.border_subtitle = "escape closes"
            for n, (where, rows) in enumerate(by_place(self.rows).items()):
                title = "Keys anywhere" if where == "anywhere" else f"Keys in the {where}"
                yield Static(Text(("\n" if n else "") + title, style="bold underline"))
                yield Static(keys_table(rows))
            yield Static(Text("\nAgent marks in the tree", style="bold underline"))
            yield Static(legend())
            yield Static(Text(
                "\nEach tree line: mark, agent id, depth, task, then steps, tokens and time "
                "(a narrow tree shows fewer; the transcript's border has them all). Each "
                "question of a conversation is a root of its own. The view follows the "
                "active agent until you move the cursor; f follows again. Every "
                "conversation writes a trace; rlm-tui --replay TRACE opens it again.",
                style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
